/**
 * squashfs data blocks compressed on worker threads, placed in input order.
 *
 * The writer fills batches of whole blocks (up to 1 MiB each) in slots of one shared, page-aligned
 * memory (a shared WebAssembly.Memory: reads from the page cache into it take the fast copy path, see
 * io/aligned.ts, and no batch is copied or transferred between threads). A worker compresses each
 * block of a batch with zlib's synchronous call, keeps whichever of the compressed and the raw bytes is
 * shorter, packs them back to back in the slot's output half and answers with their sizes. The writer
 * takes the answers strictly in batch order, so the image's bytes never depend on which worker was
 * quicker or how many there are; with no worker (small trees, zstd through zstd-napi) the same
 * function runs on this thread.
 *
 * Why not zlib's asynchronous deflate (it already runs on libuv's thread pool): each call sets up a
 * new zlib stream on a pool thread, and that costs ~90 µs of system time per call (malloc arenas per
 * thread, their pages faulted in and trimmed again): 100k files of a few KiB spent 5–15 s of system
 * time there (BENCHMARKS.md); the synchronous call on a worker has none of it.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { zstdBackend, zstdSync } from '../../io/compression.js';

export type BlockCompression = 'gzip' | 'zstd';

/** Input bytes per batch; a block (at most 128 KiB) never straddles two. */
export const BATCH = 1024 * 1024;
const SLOT = 2 * BATCH; // input half, output half (stored bytes are never longer than the input)
/** Flag in a block's size: stored raw (squashfs's SQUASHFS_COMPRESSED_BIT_BLOCK). */
export const UNCOMPRESSED_DATA = 1 << 24;

/**
 * Compress each block of `input` (lengths in order) into `output`, back to back; returns each block's
 * stored size, `UNCOMPRESSED_DATA` set where the raw bytes were kept. Self-contained (its tools are
 * parameters): the workers run it from its source text.
 */
function packBlocks(compress: (raw: Uint8Array) => Uint8Array, input: Uint8Array, lengths: readonly number[], output: Uint8Array, rawFlag: number): number[] {
  const sizes: number[] = [];
  let i = 0;
  let o = 0;
  for (const n of lengths) {
    const raw = input.subarray(i, i + n);
    const packed = compress(raw);
    if (packed.length < n) {
      output.set(packed, o);
      o += packed.length;
      sizes.push(packed.length);
    } else {
      output.set(raw, o);
      o += n;
      sizes.push(n | rawFlag);
    }
    i += n;
  }
  return sizes;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zlib = require('node:zlib');
const packBlocks = ${packBlocks.toString()};
const { memory, slot, kind, level, rawFlag } = workerData;
const compress = kind === 'gzip' ? (raw) => zlib.deflateSync(raw, { level }) : (raw) => zlib.zstdCompressSync(raw);
parentPort.on('message', ({ id, index, lengths }) => {
  try {
    const input = new Uint8Array(memory.buffer, index * slot, slot / 2);
    const output = new Uint8Array(memory.buffer, index * slot + slot / 2, slot / 2);
    parentPort.postMessage({ id, sizes: packBlocks(compress, input, lengths, output, rawFlag) });
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e) });
  }
});
`;

/** One batch being filled or compressed: its slot's two halves. */
export interface Batch {
  readonly index: number;
  readonly input: Buffer;
  readonly output: Buffer;
  /** Input bytes used so far. */
  used: number;
  readonly lengths: number[];
}

/** The memory of `slots` slots: shared WebAssembly memory (page-aligned), else a plain SharedArrayBuffer. */
function sharedMemory(slots: number): { buffer: SharedArrayBuffer } {
  const pages = (slots * SLOT) / (64 * 1024);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }) as unknown as { buffer: SharedArrayBuffer };
  } catch {
    return { buffer: new SharedArrayBuffer(slots * SLOT) }; // an address-space limit: only slower reads
  }
}

/** Worker threads a tree of `dataBytes` file bytes gets by default: none for one batch or less, else the cores (at most 4). */
export function defaultWorkers(dataBytes: number): number {
  return dataBytes <= BATCH ? 0 : Math.min(4, availableParallelism());
}

export class BlockPool {
  private readonly memory: { buffer: SharedArrayBuffer };
  private readonly free: number[] = [];
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly waiting = new Map<number, { worker: number; resolve: (sizes: number[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private readonly compress: (raw: Uint8Array) => Uint8Array;

  /** `workers` threads (0: compress on this thread); zstd without node:zlib's zstd always runs here. */
  constructor(kind: BlockCompression, level: number, workers: number) {
    if (kind === 'zstd' && zstdBackend() !== 'node:zlib') workers = 0; // zstd-napi stays on this thread
    // each worker up to three batches (one answered while the writer still waits on an earlier one), one being filled
    const slots = Math.max(2, 3 * workers + 1);
    this.memory = sharedMemory(slots);
    for (let i = slots - 1; i >= 0; i--) this.free.push(i);
    this.compress = kind === 'gzip' ? (raw) => zlib.deflateSync(raw, { level }) : (raw) => zstdSync.compress(raw as Buffer);
    for (let w = 0; w < workers; w++) this.spawn(w, kind, level);
  }

  private spawn(w: number, kind: BlockCompression, level: number): void {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { memory: this.memory, slot: SLOT, kind, level, rawFlag: UNCOMPRESSED_DATA },
      resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 32 },
    });
    worker.unref();
    worker.on('message', (msg: { id: number; sizes?: number[]; error?: string }) => {
      const job = this.waiting.get(msg.id);
      if (!job) return;
      this.waiting.delete(msg.id);
      this.load[w]!--;
      if (msg.sizes) job.resolve(msg.sizes);
      else job.reject(new Error(`compressing squashfs blocks: ${msg.error ?? 'failed'}`));
    });
    const lost = (e: Error) => {
      for (const [id, job] of this.waiting) {
        if (job.worker !== w) continue;
        this.waiting.delete(id);
        job.reject(e);
      }
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the squashfs compression worker stopped (exit code ${code})`)));
    this.workers.push(worker);
    this.load.push(0);
  }

  /** A slot to fill, or undefined when every slot is in use (settle a batch first). */
  take(): Batch | undefined {
    const index = this.free.pop();
    if (index === undefined) return undefined;
    const base = index * SLOT;
    return { index, input: Buffer.from(this.memory.buffer, base, BATCH), output: Buffer.from(this.memory.buffer, base + BATCH, BATCH), used: 0, lengths: [] };
  }

  /** Compress a filled batch; resolves to each block's stored size (its bytes lie back to back in `batch.output`). */
  pack(batch: Batch): Promise<number[]> {
    if (this.workers.length === 0) {
      try {
        return Promise.resolve(packBlocks(this.compress, batch.input, batch.lengths, batch.output, UNCOMPRESSED_DATA));
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
    const w = this.load.indexOf(Math.min(...this.load));
    this.load[w]!++;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { worker: w, resolve, reject });
      this.workers[w]!.postMessage({ id, index: batch.index, lengths: batch.lengths });
    });
  }

  /** The slot of a batch whose output has been written. */
  release(batch: Batch): void {
    this.free.push(batch.index);
  }

  close(): void {
    for (const w of this.workers.splice(0)) void w.terminate();
  }
}
