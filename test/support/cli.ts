/** Run the CLI in process with captured streams. */
import { PassThrough, Readable } from 'node:stream';
import { run } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export async function cli(argv: string[], options: { stdin?: Buffer; stdoutIsTTY?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const stdout = new PassThrough() as PassThrough & { isTTY?: boolean };
  const stderr = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (options.stdoutIsTTY) stdout.isTTY = true;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const stdin = Readable.from(options.stdin ? [options.stdin] : []);
  const code = await run(argv, { stdin, stdout, stderr, env: options.env ?? {} });
  await new Promise((r) => setImmediate(r));
  return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() };
}
