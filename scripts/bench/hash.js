#!/usr/bin/env node
/**
 * The verification floor: `node hash.js THREADS FILE…` computes sha256 over every byte of the files,
 * each file split into THREADS equal ranges hashed at once on worker threads (4 MiB positional reads
 * into page-aligned buffers, as layerfold's hash workers read). A real check cannot split one layer
 * across threads (sha256 is sequential), so this is less than any verifying export must spend: a
 * lower bound, not a baseline.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { alignedBuffer } from '../../dist/io/aligned.js';

if (isMainThread) {
  const [threads, ...files] = process.argv.slice(2);
  const n = Math.max(1, Number(threads) || 1);
  for (const file of files) {
    const fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    closeSync(fd);
    const step = Math.ceil(size / n);
    const ranges = Array.from({ length: n }, (_, i) => ({ file, start: i * step, end: Math.min(size, (i + 1) * step) }));
    await Promise.all(
      ranges.map(
        (range) =>
          new Promise((resolve, reject) => {
            const w = new Worker(new URL(import.meta.url), { workerData: range });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
  }
} else {
  const { file, start, end } = workerData;
  const fd = openSync(file, 'r');
  const buf = alignedBuffer(4 << 20); // as layerfold's hash workers read (src/io/aligned.ts says why)
  const hash = createHash('sha256');
  for (let pos = start; pos < end; ) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
    if (got === 0) break;
    hash.update(buf.subarray(0, got));
    pos += got;
  }
  closeSync(fd);
  parentPort.postMessage(hash.digest('hex'));
}
