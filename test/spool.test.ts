/**
 * The one spool (src/io/spool.ts) every command copies a stream through: a compressed input is
 * decompressed on the way and never written past --max-size, so a gzip bomb cannot fill the disk.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { spoolTo } from '../src/io/spool.js';
import { isLayerfoldError } from '../src/errors.js';
import { scratchDir } from './support/build.js';

/** `bytes` in chunks of 64 KiB, as a file stream would give them. */
const streamOf = (bytes: Buffer) => Readable.from((function* () { for (let at = 0; at < bytes.length; at += 65536) yield bytes.subarray(at, at + 65536); })());

describe('spoolTo', () => {
  it('a gzip bomb past --max-size is refused, with no more than the limit written to the spool file', async () => {
    const limit = 1_000_003; // no chunk boundary falls on it
    const bomb = gzipSync(Buffer.alloc(64 << 20)); // 64 MiB of zeros in about 64 KB
    const path = join(scratchDir(), 'spool');
    const error = await spoolTo(streamOf(bomb), path, { label: 'bomb.gz', noun: 'input', maxSize: limit }).catch((e: unknown) => e);
    expect(isLayerfoldError(error) && error.code).toBe('LIMIT');
    expect((error as Error).message).toBe(`bomb.gz: the input unpacks to more than ${limit} bytes (--max-size)`);
    expect(statSync(path).size).toBeLessThanOrEqual(limit);
  });

  it('an input of exactly the limit is copied whole, decompressed', async () => {
    const data = Buffer.from('x'.repeat(300_000));
    const path = join(scratchDir(), 'spool');
    expect(await spoolTo(streamOf(gzipSync(data)), path, { label: 'ok.gz', maxSize: data.length })).toBe('gzip');
    expect(readFileSync(path).equals(data)).toBe(true);
  });
});
