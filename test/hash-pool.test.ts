/**
 * The hash pool: a layer's digest check must settle, whatever happens to the worker doing it — a
 * check that never settles leaves an export waiting for ever before its end-of-archive blocks.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { hashInline, HashPool, INLINE_LIMIT, INLINE_TOTAL, placeHashes } from '../src/io/hash-pool.js';
import { TempSpace } from '../src/io/temp.js';
import { findImage, openSource } from '../src/read/open-image.js';
import { prepareLayers } from '../src/read/layers.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';

const BIG = 24 << 20; // past the 8 MiB hashed inline: this goes to the worker

function bigFile(): { fd: number; hex: string } {
  const data = Buffer.alloc(BIG);
  for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
  const path = join(scratchDir(), 'big');
  writeFileSync(path, data);
  return { fd: openSync(path, 'r'), hex: createHash('sha256').update(data).digest('hex') };
}

const workersOf = (pool: HashPool) => (pool as unknown as { all: Worker[] }).all;
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
});

describe('HashPool', () => {
  it('hashes a range on its worker', async () => {
    const { fd, hex } = bigFile();
    fds.push(fd);
    const pool = new HashPool();
    try {
      expect(await pool.hash(fd, 0, BIG)).toEqual([hex]);
    } finally {
      pool.close();
    }
  });

  it('a worker that dies fails its own check, and the next check gets a new worker', async () => {
    const { fd, hex } = bigFile();
    fds.push(fd);
    const pool = new HashPool();
    try {
      const first = pool.hash(fd, 0, BIG);
      const second = pool.hash(fd, 0, BIG); // queued behind the first
      await workersOf(pool)[0]!.terminate();
      await expect(first).rejects.toThrow(/hash worker stopped/);
      expect(await second).toEqual([hex]);
    } finally {
      pool.close();
    }
  });

  it('closing the pool fails the checks still running or queued', async () => {
    const { fd } = bigFile();
    fds.push(fd);
    const pool = new HashPool();
    const running = pool.hash(fd, 0, BIG);
    const queued = pool.hash(fd, 0, BIG);
    pool.close();
    await expect(running).rejects.toThrow(/closed before the check ended/);
    await expect(queued).rejects.toThrow(/closed before the check ended/);
  });
});

describe('HashPool algorithms', () => {
  it('sha256 and sha512 of one range in one read, on the worker and inline', async () => {
    const { fd } = bigFile();
    fds.push(fd);
    const pool = new HashPool();
    try {
      for (const size of [BIG, 4096]) {
        const bytes = Buffer.alloc(size);
        readSync(fd, bytes, 0, size, 0);
        const want = ['sha256', 'sha512'].map((a) => createHash(a).update(bytes).digest('hex'));
        expect(await pool.hash(fd, 0, size, ['sha256', 'sha512'])).toEqual(want);
        expect(await pool.hash(fd, 0, size, ['sha512'])).toEqual([want[1]]);
        expect(hashInline(fd, 0, size, ['sha256', 'sha512'])).toEqual(want);
      }
    } finally {
      pool.close();
    }
  });
});

describe('which thread hashes a run\'s layers', () => {
  it('a worker only for more than INLINE_TOTAL bytes, only with a second core, and only for ranges past INLINE_LIMIT', () => {
    expect(placeHashes([INLINE_TOTAL], INLINE_TOTAL, 2)).toEqual([false]);
    expect(placeHashes([INLINE_TOTAL - INLINE_LIMIT, INLINE_LIMIT, 1, 0], INLINE_TOTAL, 2)).toEqual([true, false, false, false]);
    expect(placeHashes([8 * INLINE_TOTAL], INLINE_TOTAL, 1)).toEqual([false]);
    expect(placeHashes([INLINE_TOTAL + 1], Infinity, 2)).toEqual([false]); // no pool
  });

  // One 12 MiB layer: past the 8 MiB a single range is hashed inline, under INLINE_TOTAL for the run.
  async function image(tamper: boolean): Promise<string> {
    const content = Buffer.alloc(12 << 20, 0x61);
    content.write('MARK', 6 << 20);
    const archive = await imageArchive([await layerTar([e('big', { content })])]);
    if (tamper) archive[archive.indexOf('MARK')] = 0x4e; // the config still names the honest layer
    return writeTemp(archive);
  }

  async function check(path: string, pool: HashPool, inlineTotal?: number): Promise<void> {
    const temp = TempSpace.create();
    const source = await openSource(path, temp);
    try {
      const layers = await prepareLayers(await findImage(source), temp, { hashPool: pool, ...(inlineTotal !== undefined ? { inlineTotal } : {}) });
      await Promise.all(layers.map((l) => l.verified));
    } finally {
      source.close();
      temp.dispose();
    }
  }

  it('a small image is hashed on this thread, with no worker, and a tampered layer is still refused', async () => {
    const pool = new HashPool();
    try {
      await check(await image(false), pool);
      await expect(check(await image(true), pool)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/^layer 0 .*the layer is sha256:/) });
      expect(pool.started).toBe(0);
    } finally {
      pool.close();
    }
  });

  it('past the threshold the worker hashes, refuses the same tampered layer, and is stopped once idle', async () => {
    const pool = new HashPool();
    try {
      await expect(check(await image(true), pool, 0)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
      await check(await image(false), pool, 0);
      expect(pool.started).toBe(2); // each run's worker was stopped when its queue ran dry
      expect(workersOf(pool)).toEqual([]);
    } finally {
      pool.close();
    }
  });
});
