/**
 * Digests (sha256, sha512) of file ranges on a worker thread, so that checking a layer's digest runs on the other core
 * while the main thread indexes, applies and writes. A worker reads the range itself with positional
 * reads on the same file descriptor (descriptors are shared by all threads of a process).
 * The worker is inline source (eval) so it runs the same from dist/ and under the test runner.
 */
import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { alignedBuffer } from './aligned.js';

/**
 * The one range hash: feeds [offset, offset+size) of fd to every hash in one pass of positional reads
 * into buf, and returns how many bytes the file lacks (0 when it holds the whole range).
 * Self-contained (its tools are parameters) so that the worker runs this very function, from its
 * source text; on this thread it is hashRangeInto.
 */
function feedRange(hashes: readonly Hash[], fd: number, offset: number, size: number, read: typeof readSync, buf: Buffer): number {
  let pos = offset;
  let left = size;
  while (left > 0) {
    const n = read(fd, buf, 0, Math.min(left, buf.length), pos);
    if (n === 0) return left;
    for (const hash of hashes) hash.update(buf.subarray(0, n));
    pos += n;
    left -= n;
  }
  return 0;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readSync } = require('node:fs');
const { createHash } = require('node:crypto');
const feedRange = ${feedRange.toString()};
const buf = (${alignedBuffer.toString()})(1 << 20);
parentPort.on('message', ({ id, fd, offset, size, algorithms }) => {
  try {
    const hashes = algorithms.map((a) => createHash(a));
    if (feedRange(hashes, fd, offset, size, readSync, buf) > 0) throw new Error('the file ends early');
    parentPort.postMessage({ id, hex: hashes.map((h) => h.digest('hex')) });
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e) });
  }
});
`;

/** A range up to this size is hashed on this thread even in a run that has a worker: starting one costs more than hashing a few MiB. */
export const INLINE_LIMIT = 8 * 1024 * 1024;

/**
 * Layer bytes up to which a run hashes every layer on this thread, with no worker at all.
 * A worker is a second isolate: Node's bootstrap in it is 10-13 MiB of peak RSS (Node 20-22) and
 * 0.1-0.2 s more CPU in all, and it buys wall time only while a core is idle beside the main thread.
 * sha256 of layers in the page cache runs at 1.2-2 GB/s here (SHA-NI). Once the header codec ran in
 * WebAssembly (tar/wasm-block.ts), the 277 MB Debian image's export came to ~0.35 s of main-thread
 * CPU: hashing it there too (+0.25 s) keeps it beside crane, and under the 64 MiB its worker went
 * past (69.5); with a core free the worker was ~0.25 s quicker, on a loaded machine slower
 * (BENCHMARKS.md, "Debian beside crane, round 3"). Past 512 MiB (the 1 GiB image) hashing on this
 * thread would be seconds of wall time, and the worker's RSS is small beside the run's own.
 */
export const INLINE_TOTAL = 512 * 1024 * 1024;

/**
 * Where each layer of one run is hashed, `sizes` its bytes to hash (0: nothing): true for a worker,
 * false for this thread. The one place that decides it (read/layers.ts asks, HashPool.hash obeys):
 * a worker only for a run of more than `inlineTotal` bytes on a machine with a second core, and
 * then only for ranges past INLINE_LIMIT.
 */
export function placeHashes(sizes: readonly number[], inlineTotal = INLINE_TOTAL, cores = availableParallelism()): boolean[] {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  const worker = cores > 1 && total > inlineTotal;
  return sizes.map((size) => worker && size > INLINE_LIMIT);
}

let inlineBuffer: Buffer | undefined;

/**
 * The range hash on this thread (diff's entry digests, small layers): feeds the range to `hashes` and
 * returns how many bytes the file lacks (0 when whole), for the caller to name in its own message.
 */
export function hashRangeInto(hashes: readonly Hash[], fd: number, offset: number, size: number): number {
  if (size === 0) return 0;
  inlineBuffer ??= alignedBuffer(1 << 20); // synchronous: one buffer serves every call
  return feedRange(hashes, fd, offset, size, readSync, inlineBuffer);
}

/** Hex digests of a range on this thread, one per algorithm, for ranges too small to be worth a worker. */
export function hashInline(fd: number, offset: number, size: number, algorithms: readonly string[]): string[] {
  const hashes = algorithms.map((a) => createHash(a));
  if (hashRangeInto(hashes, fd, offset, size) > 0) throw new Error('the file ends early');
  return hashes.map((h) => h.digest('hex'));
}

interface Job {
  fd: number;
  offset: number;
  size: number;
  algorithms: readonly string[];
  resolve: (hex: string[]) => void;
  reject: (e: Error) => void;
}

export class HashPool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: Job[] = [];
  /** Jobs posted to a worker, by id, with the worker that has them. */
  private readonly running = new Map<number, { job: Job; worker: Worker }>();
  private nextId = 0;
  /** Workers this pool has started (tests: the inline rule starts none). */
  started = 0;

  constructor(private readonly size = 1) {}

  /**
   * Hex digests of [offset, offset+size) of fd, one per algorithm, in one read, on a worker (which
   * ranges are worth one: placeHashes; hashInline does the others).
   */
  hash(fd: number, offset: number, size: number, algorithms: readonly string[] = ['sha256']): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fd, offset, size, algorithms, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Worker {
    // The worker holds one 1 MiB buffer (reads of 1 MiB cost no more per byte than 4 MiB ones, and 3 MiB
    // less stays resident) and a hash: a small heap is all it needs.
    const worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } });
    worker.unref();
    worker.on('message', (msg: { id: number; hex?: string[]; error?: string }) => {
      const job = this.running.get(msg.id)?.job;
      this.running.delete(msg.id);
      this.idle.push(worker);
      if (job) {
        if (msg.hex !== undefined) job.resolve(msg.hex);
        else job.reject(new Error(msg.error ?? 'hash failed'));
      }
      this.pump();
      if (this.queue.length === 0 && this.idle.includes(worker)) this.retire(worker);
    });
    // A worker that dies takes its job with it, not the queue: the next job gets a new worker.
    const lost = (e: Error) => {
      if (!this.all.includes(worker)) return; // closed, or already counted as lost
      this.all.splice(this.all.indexOf(worker), 1);
      const idle = this.idle.indexOf(worker);
      if (idle !== -1) this.idle.splice(idle, 1);
      for (const [id, { job, worker: holder }] of this.running) {
        if (holder !== worker) continue;
        this.running.delete(id);
        job.reject(e);
      }
      this.pump();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the hash worker stopped (exit code ${code})`)));
    this.all.push(worker);
    this.started++;
    return worker;
  }

  /**
   * A worker with nothing queued is stopped at once: its isolate is ~10 MiB of RSS the rest of the
   * run does not need (a run posts all its checks up front, so a later one is rare; it gets a new worker).
   */
  private retire(worker: Worker): void {
    this.all.splice(this.all.indexOf(worker), 1);
    this.idle.splice(this.idle.indexOf(worker), 1);
    void worker.terminate();
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.all.length < this.size ? this.spawn() : undefined);
      if (!worker) return;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      this.running.set(id, { job, worker });
      worker.postMessage({ id, fd: job.fd, offset: job.offset, size: job.size, algorithms: job.algorithms });
    }
  }

  /** Stop the workers; a check still queued or running fails rather than waiting for ever. */
  close(): void {
    for (const w of this.all.splice(0)) void w.terminate();
    this.idle.length = 0;
    const closed = new Error('the hash pool was closed before the check ended');
    for (const job of [...this.queue.splice(0), ...[...this.running.values()].map((r) => r.job)]) job.reject(closed);
    this.running.clear();
  }
}
