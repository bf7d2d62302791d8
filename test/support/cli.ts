/** Run the CLI in process with captured streams. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { expect } from 'vitest';
import { exportRootfs } from '../../src/index.js';
import { scratchDir } from './build.js';
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

/** A refusal must be exactly one line on stderr and exit 2. */
export function expectOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

/** The bytes `exportRootfs` writes for an image (no --docker-init). */
export async function exportOf(image: string): Promise<Buffer> {
  const out = join(scratchDir(), 'rootfs.tar');
  await exportRootfs(image, { output: out });
  return readFileSync(out);
}
