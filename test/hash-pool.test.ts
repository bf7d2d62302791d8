/**
 * The hash pool: a layer's digest check must settle, whatever happens to the worker doing it — a
 * check that never settles leaves an export waiting for ever before its end-of-archive blocks.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { HashPool } from '../src/io/hash-pool.js';
import { scratchDir } from './support/build.js';

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
      }
    } finally {
      pool.close();
    }
  });
});
