/**
 * The yargs parser, built from the table in commands.ts, for what the small parser (argv.ts) leaves:
 * usage errors (yargs' messages, with the command's help), `completion`, `--version` after a command,
 * help at a width not precomputed, and any spelling argv.ts does not take on. Loaded only then.
 */
import yargs, { type Argv } from 'yargs';
import { COMMANDS, COMPLETION, COMPLETION_AFTER, type CommandSpec, GLOBAL_OPTIONS, NO_COMMAND, type Options, positionalsOf, TOP_USAGE } from './commands.js';

/** What a parsed command is handed to: its spec and yargs' arguments. */
export type Handle = (spec: CommandSpec, args: Record<string, unknown>) => Promise<void>;

function withOptions<T>(y: Argv<T>, options: Options): Argv<T> {
  for (const [name, def] of options) y = y.option(name, { ...def });
  return y;
}

function builder(spec: CommandSpec) {
  return (y: Argv) => {
    let out = withOptions(y, spec.options);
    for (const { name, required, variadic } of positionalsOf(spec)) {
      out = out.positional(name, { type: 'string', describe: spec.positionals[name], ...(required ? { demandOption: true } : {}), ...(variadic ? { array: true } : {}) });
    }
    for (const [line, what] of spec.examples) out = out.example(line, what);
    return out;
  };
}

export function buildParser(argv: string[], version: string, handle: Handle, width = Math.min(110, process.stdout.columns ?? 100)) {
  let y = withOptions(yargs(argv).scriptName('layerfold').usage(TOP_USAGE), GLOBAL_OPTIONS);
  for (const [name, spec] of Object.entries(COMMANDS)) {
    y = y.command({ command: spec.usage, describe: spec.describe, builder: builder(spec), handler: (args) => handle(spec, args) });
    if (name === COMPLETION_AFTER) y = y.completion('completion', COMPLETION);
  }
  return y.demandCommand(1, NO_COMMAND).strict().version(version).help().alias('h', 'help').wrap(width).exitProcess(false);
}

/** yargs' help for `layerfold COMMAND --help` (`''`: the top level) at a width, in English: what the bundle precomputes. */
export async function helpText(command: string, width: number): Promise<string> {
  let text = '';
  const argv = [...(command ? [command] : []), '--help'];
  await buildParser(argv, '', async () => {}, width)
    .locale('en')
    .parseAsync(argv, {}, (_err, _argv, output) => {
      text = output;
    });
  return text;
}
