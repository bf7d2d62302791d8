/**
 * src/write/sink.ts alone: where output bytes go. The rules (README "Honest errors", ARCHITECTURE.md
 * `src/write/sink.ts`): nothing partial is ever left under the target's name; a device or fifo target
 * is written in place, never renamed over; a write error is one IO line naming the target, as the
 * kernel reports it (/dev/full answers ENOSPC); compressed output is what gzip/zstd themselves decode.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isLayerfoldError } from '../src/errors.js';
import { CompressingSink, FileSink, StreamSink } from '../src/write/sink.js';
import { scratchDir } from './support/build.js';

const bytes = Buffer.from('layerfold sink test\n'.repeat(1000));

async function failure(run: () => Promise<unknown>): Promise<string> {
  const e = await run().then(() => undefined, (x: unknown) => x);
  return isLayerfoldError(e) ? `${e.code}: ${e.message}` : `not a LayerfoldError: ${String(e)}`;
}

describe('FileSink', () => {
  it('writes beside the target and renames at the end: the target appears only whole', async () => {
    const dir = scratchDir();
    const target = join(dir, 'out.tar');
    const sink = new FileSink(target);
    await sink.write(bytes);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(dir)).toEqual([expect.stringMatching(/^\.out\.tar\.layerfold-\d+\.tmp$/)]);
    await sink.finish();
    expect(readFileSync(target).equals(bytes)).toBe(true);
    expect(readdirSync(dir)).toEqual(['out.tar']);
  });

  it('abort leaves nothing, not even the temporary file', async () => {
    const dir = scratchDir();
    const sink = new FileSink(join(dir, 'out.tar'));
    await sink.write(bytes);
    sink.abort();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a device target is written in place (renaming over /dev/null would replace the device)', async () => {
    const sink = new FileSink('/dev/null');
    await sink.write(bytes);
    await sink.finish();
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('a full device is one IO line naming the target: the kernel\'s ENOSPC from /dev/full', async () => {
    const sink = new FileSink('/dev/full');
    expect(await failure(() => sink.write(bytes))).toBe('IO: /dev/full: cannot write: no space left on device');
    sink.abort();
  });

  it('a target in a missing directory is one IO line, and nothing is made', async () => {
    const dir = scratchDir();
    expect(await failure(async () => new FileSink(join(dir, 'no', 'out.tar')))).toMatch(/^IO: .*\/no\/out\.tar: cannot write: ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('StreamSink', () => {
  it('a stream that fails fails the write under way and every later one with that error, named', async () => {
    const broken = new Writable({ write: (_c, _e, done) => done(Object.assign(new Error('EPIPE: broken pipe'), { code: 'EPIPE' })) });
    broken.on('error', () => undefined);
    const sink = new StreamSink(broken, 'stdout');
    expect(await failure(() => sink.write(bytes))).toBe('IO: stdout: cannot write: EPIPE: broken pipe');
    expect(await failure(() => sink.write(bytes))).toBe('IO: stdout: cannot write: EPIPE: broken pipe');
  });
});

describe('CompressingSink', () => {
  it.each([['gzip', ['gzip', '-dc']], ['zstd', ['zstd', '-dc']]] as const)('%s output is what the %s tool decodes to the bytes written', async (kind, [tool, ...args]) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return; // the tool is not installed here
    }
    const target = join(scratchDir(), `out.${kind}`);
    const sink = new CompressingSink(kind, new FileSink(target), target);
    await sink.write(bytes);
    await sink.finish();
    expect(execFileSync(tool, [...args, target]).equals(bytes)).toBe(true);
  });

  it('when the sink behind it fails, the writes waiting on the compressor fail with that error (not a hang)', async () => {
    const sink = new CompressingSink('gzip', new FileSink('/dev/full'), '/dev/full');
    const random = Buffer.alloc(4 << 20);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    const result = await failure(async () => {
      for (let i = 0; i < 8; i++) await sink.write(random);
      await sink.finish();
    });
    sink.abort();
    expect(result).toBe('IO: /dev/full: cannot write: no space left on device');
  });
});

