/**
 * The one spool (src/io/spool.ts) every command copies a stream through: a compressed input is
 * decompressed on the way and never written past --max-size, so a gzip bomb cannot fill the disk.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { spoolTo } from '../src/io/spool.js';
import { isLayerfoldError } from '../src/errors.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';
import { withSlowOpens } from './support/slow-open.js';

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

describe('a spool or layer that fails early has closed its file when the command answers', () => {
  // opens under the --tmpdir held back (support/slow-open.ts): the pipeline of a bad input settles
  // before its file is open; the command must still answer only once that file is closed, so the
  // temp dir it removes next has nothing being made in it
  const corruptGzip = (tar: Buffer) => {
    const z = gzipSync(tar);
    z.fill(0xff, 10, 30); // the deflate data from its first byte: the decoder fails at once
    return z;
  };

  it('stdin that says gzip but is corrupt: one line, exit 2, nothing open or left', async () => {
    const tmp = scratchDir();
    const stdin = corruptGzip(await layerTar([e('etc/'), e('etc/hostname', { content: 'x\n' })]));
    const { result: r, atReturn, opened } = await withSlowOpens(tmp, 300, () => cli(['export', '-', '--tmpdir', tmp, '-o', join(scratchDir(), 'out.tar')], { stdin }));
    expectOneLine(r, /^layerfold: stdin: could not read the gzip-compressed archive: /);
    expect(atReturn).toMatchObject({ opening: 0, open: 0 });
    expect(opened).toBe(1); // the held-back open did run: the test tested something
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a gzip layer of an archive that is corrupt: one line, exit 2, nothing open or left', async () => {
    const tmp = scratchDir();
    const good = await layerTar([e('etc/'), e('etc/hostname', { content: 'x\n' })]);
    const archive = await imageArchive([good], { layout: 'oci', compression: 'gzip' });
    const z = gzipSync(good);
    const at = archive.indexOf(z);
    expect(at).toBeGreaterThan(0);
    corruptGzip(good).copy(archive, at); // same length: the outer tar stays well formed
    const image = writeTemp(archive);
    const { result: r, atReturn, opened } = await withSlowOpens(tmp, 300, () => cli(['export', image, '--tmpdir', tmp, '-o', join(scratchDir(), 'out.tar')]));
    expectOneLine(r, /layer 0/);
    expect(atReturn).toMatchObject({ opening: 0, open: 0 });
    expect(opened).toBe(1); // the held-back open did run: the test tested something
    expect(readdirSync(tmp)).toEqual([]);
  });
});
