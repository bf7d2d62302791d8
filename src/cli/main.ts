/**
 * The command line: argument parsing plus one library call per command. `run(argv, io)` takes its
 * streams as parameters so the CLI is tested in-process. Exit codes: 0 done, 1 `diff` found
 * differences, 2 bad input or any other error (one line on stderr; the stack only with --debug).
 */
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { LayerfoldError, printable } from '../errors.js';
import { runAllCleanups, takeCleanupFailures } from '../io/cleanup.js';
import { parseArgv } from './argv.js';
import type { CommandSpec } from './commands.js';
import { DASH_MARKER } from './shared.js';

/**
 * An error is one line on stderr whatever the archive put in it: control characters (a newline in a
 * tag, a terminal escape in a member name) are shown escaped, and a line past 2000 characters loses
 * its middle, not its end: a long DIR in front must not hide what is wrong (the reason comes last).
 */
export function oneLine(message: string): string {
  const escaped = printable(message);
  return escaped.length > 2000 ? `${escaped.slice(0, 1000)}…${escaped.slice(-999)}` : escaped;
}

export interface CliIO {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export interface CommandContext {
  io: CliIO;
  /** Set by a command to its exit status when it is not 0. */
  exitCode: number;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Set by main(): the installed command's runs get the TurboFan switch; run() called by a program does not. */
let leanStart = false;

/** A command's module, loaded when it runs, given its arguments. */
async function runCommand(spec: CommandSpec, args: Record<string, unknown>, ctx: CommandContext): Promise<void> {
  if (leanStart) {
    // TurboFan off until the work is big enough to repay its compiles (tiering.ts): ~10 MiB less
    // peak RSS on small images. Here, not in main(): `--help` and usage errors load none of it.
    leanStart = false;
    (await import('./tiering.js')).startLean();
  }
  await (await spec.load()).run(args as never, ctx);
}

/**
 * The help text the bundle holds for this command at the width yargs would use, if it holds it
 * (imported only for --help: ~100 KB of text no other run needs to read).
 */
async function precomputedHelp(command: string): Promise<string | undefined> {
  const { HELP } = await import('./help-text.js');
  return HELP?.[`${command} ${Math.min(110, process.stdout.columns ?? 100)}`];
}

/** A usage error found by yargs (unknown option, missing argument): raised before any handler runs. */
class UsageFailure extends Error {}

/** The help of the command that failed to parse, as yargs would have shown it. */
async function usageOf(parser: { getHelp(): Promise<string> } | undefined): Promise<string> {
  if (!parser) return '';
  try {
    return await parser.getHelp();
  } catch {
    return '';
  }
}

/**
 * Cleanups that failed during the run: a warning line each under --debug, else unsaid — the error
 * line (or the output) is what the user needs, and the removal is tried again at exit.
 */
function reportCleanupFailures(io: CliIO, debug: boolean): void {
  for (const failure of takeCleanupFailures()) if (debug) io.stderr.write(`layerfold: warning: cleanup: ${oneLine(failure)}\n`);
}

/** Run the CLI; resolves to the exit code. */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    return await runCli(argv, io, debug);
  } finally {
    reportCleanupFailures(io, debug);
  }
}

async function runCli(argv: string[], io: CliIO, debug: boolean): Promise<number> {
  const ctx: CommandContext = { io, exitCode: 0 };
  let output = '';
  argv = argv.map((a) => (a === '-' ? DASH_MARKER : a));
  let parser: { getHelp(): Promise<string> } | undefined;
  try {
    // Ordinary invocations are parsed from the table without yargs; anything else goes to yargs.
    const fast = parseArgv(argv);
    const help = fast?.help ? await precomputedHelp(fast.command) : undefined;
    if (help !== undefined) {
      io.stdout.write(`${help}\n`);
      return 0;
    }
    if (fast?.spec && !fast.help) {
      await runCommand(fast.spec, fast.args, ctx);
      return ctx.exitCode;
    }
    const { buildParser } = await import('./yargs-cli.js');
    // A usage failure must throw: a fail handler that returns lets yargs go on and run the command's
    // handler (`bundle IMG DIR --bogus` wrote the whole bundle, then exited 2 with the output left).
    const yargsParser = buildParser(argv, version(), (spec, args) => runCommand(spec, args, ctx)).fail((msg, err) => {
      throw err ?? new UsageFailure(msg);
    });
    parser = yargsParser;
    await yargsParser.parseAsync(argv, {}, (_err, _argv, text) => {
      output = text;
    });
    if (output) io.stdout.write(`${output}\n`);
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof UsageFailure) {
      const help = await usageOf(parser);
      io.stderr.write(`${help ? `${help}\n\n` : ''}layerfold: ${e.message}\n`);
      return 2;
    }
    runAllCleanups();
    if (e instanceof LayerfoldError) {
      io.stderr.write(`layerfold: ${oneLine(e.message)}\n`);
      if (debug && e.stack) io.stderr.write(`${e.stack}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    io.stderr.write(`layerfold: ${oneLine(err?.message ?? String(e))}\n`);
    if (debug && err?.stack) io.stderr.write(`${err.stack}\n`);
    return 2;
  }
}

/** Entry point of bin/layerfold.js: real streams, signals cleaned up. */
export async function main(): Promise<void> {
  // CLI only: the library, and run() in a program of its own, leave V8's flags to that program.
  leanStart = true;
  const onSignal = (signal: NodeJS.Signals) => {
    runAllCleanups();
    process.stderr.write(`layerfold: interrupted by ${signal}; partial output removed\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Whatever way the process ends, no temporary file or directory outlives it.
  process.once('exit', runAllCleanups);
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') {
      runAllCleanups();
      process.exit(2);
    }
  });
  const code = await run(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
  process.exitCode = code;
}
