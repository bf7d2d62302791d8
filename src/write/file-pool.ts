/**
 * Regular files of `extract` written on a second thread as well as on the main one (`writers: 2`,
 * extract-dir.ts; the default for a tree with a directory of WIDE_DIR entries or more): the kernel's
 * work per file (create, page-cache copy, journal) is most of an extraction, and a second thread lets
 * it run on the second core while the main thread walks the tree and writes too. In a tree of
 * ordinary directories it bought nothing on a 2-core machine shared with other work (BENCHMARKS.md
 * "extract, round 3"); in one wide directory it takes our per-file work off the kernel's path
 * ("wide-1m extract, round 2").
 *
 * Rules:
 *  - The main thread decides everything: the path (checked by SafeRoot before it is handed over, see
 *    safe-path.ts rule 2 for why a later create keeps the guarantee), the mode given at open, whether
 *    to chown and fchmod, the times. The worker only runs the same synchronous calls extract-dir.ts
 *    makes for such a file: open(O_CREAT|O_EXCL|O_NOFOLLOW), pread/pwrite in 1 MiB chunks, fchown,
 *    fchmod, futimes, close.
 *  - Only files whose first name is all there is to make here are handed over (no capability, not
 *    sparse, as root); hardlinks wait until every file is complete (extract-dir.ts).
 *  - stop() (an error, SIGINT/SIGTERM, before DIR is cleaned up) returns only once the worker makes
 *    nothing more: a shared flag checked before every file and every chunk, and the worker's busy
 *    word, waited on with Atomics.wait. Nothing can be created after the cleanup has run.
 *  - Memory is bounded: a batch holds at most BATCH_FILES files or BATCH_BYTES of data, and at most
 *    IN_FLIGHT batches are queued; past that the main thread writes the file itself.
 * The worker is inline source (eval), as in io/hash-pool.ts, so it runs the same from dist/ and tests.
 */
import { Worker } from 'node:worker_threads';
import { alignedBuffer } from '../io/aligned.js';

export interface PoolFile {
  path: Buffer;
  /** The layer's descriptor (shared by all threads), where the data starts, how long it is. */
  fd: number;
  offset: number;
  size: number;
  /** Mode given to open(2). */
  createMode: number;
  /** Mode set with fchmod after the owner, or -1 for none. */
  chmod: number;
  /** Owner set with fchown, or uid -1 for none. */
  uid: number;
  gid: number;
  /** mtime in seconds (non-negative: a number reaches futimes as it is). */
  mtime: number;
}

/** Why a handed-over file failed: `layer` when its data ended early, else the syscall's message. */
export interface PoolFailure {
  kind: 'layer' | 'io';
  message: string;
  /** The caller's tag of the file (its name), given back so that the error can name it. */
  tag: string;
  /** The caller's layer number of the file. */
  layer: number;
  cause?: unknown;
}

const FIELDS = 8;
const BATCH_FILES = 256;
const BATCH_BYTES = 16 * 1024 * 1024;
/**
 * Batches queued at once: 8 x 256 empty files are ~100 ms of creates in a million-entry ext4
 * directory, so a main thread that loses its core for a time slice on a loaded machine does not
 * leave the worker idle (with 2, wide-1m was no faster than one thread at load 4).
 */
const IN_FLIGHT = 8;

/** The worker's loop: one batch a message, every file as extract-dir.ts writes it; stops when asked. */
function workerMain(
  port: { on(e: 'message', f: (m: Batch) => void): void; postMessage(m: unknown): void },
  fs: typeof import('node:fs'),
  buf: Buffer,
): void {
  const FILE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  port.on('message', (batch: Batch) => {
    const control = new Int32Array(batch.control);
    Atomics.store(control, 1, 1);
    let failed: { index: number; kind: string; message: string; code?: string } | undefined;
    let index = 0;
    try {
      for (; index < batch.count; index++) {
        if (Atomics.load(control, 0) !== 0) break;
        const n = batch.nums;
        const at = index * 8;
        const path = Buffer.from(batch.paths.buffer, batch.paths.byteOffset + (index === 0 ? 0 : batch.ends[index - 1]!), batch.ends[index]! - (index === 0 ? 0 : batch.ends[index - 1]!));
        const fd = fs.openSync(path, FILE_FLAGS, n[at + 3]!);
        try {
          const layerFd = n[at]!;
          const from = n[at + 1]!;
          const size = n[at + 2]!;
          let written = 0;
          while (written < size) {
            if (Atomics.load(control, 0) !== 0) break;
            const got = fs.readSync(layerFd, buf, 0, Math.min(buf.length, size - written), from + written);
            if (got === 0) {
              failed = { index, kind: 'layer', message: 'data ends early' };
              break;
            }
            let off = 0;
            while (off < got) off += fs.writeSync(fd, buf, off, got - off, written + off);
            written += got;
          }
          if (failed) break;
          if (n[at + 5]! >= 0) fs.fchownSync(fd, n[at + 5]!, n[at + 6]!);
          if (n[at + 4]! >= 0) fs.fchmodSync(fd, n[at + 4]!);
          fs.futimesSync(fd, n[at + 7]!, n[at + 7]!);
        } finally {
          fs.closeSync(fd);
        }
      }
    } catch (e) {
      const err = e as { message?: string; code?: string };
      failed = { index, kind: 'io', message: String(err.message ?? e), ...(err.code ? { code: err.code } : {}) };
    }
    if (failed) Atomics.store(control, 3, 1);
    Atomics.add(control, 2, 1);
    Atomics.notify(control, 2);
    Atomics.store(control, 1, 0);
    Atomics.notify(control, 1);
    port.postMessage({ id: batch.id, failed });
  });
}

interface Batch {
  id: number;
  count: number;
  paths: Uint8Array;
  ends: Uint32Array;
  nums: Float64Array;
  control: SharedArrayBuffer;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
(${workerMain.toString()})(parentPort, fs, (${alignedBuffer.toString()})(1 << 20));
`;

interface Open {
  /** Files of the batch being filled. */
  files: PoolFile[];
  tags: string[];
  layers: number[];
  bytes: number;
}

/** How many pools were started in this process (tests check that theirs ran). */
export let poolsStarted = 0;

/** Pools running, so that a cleanup can stop those writing under the directory it removes. */
const running = new Set<FilePool>();

/** Stop every pool writing into `root` or below it (synchronous: see FilePool.stop). */
export function stopPoolsUnder(root: string): void {
  for (const pool of running) if (pool.root === root || pool.root.startsWith(root.endsWith('/') ? root : `${root}/`)) pool.stop();
}

export class FilePool {
  private readonly worker: Worker;
  /** [0] stop flag, [1] the worker is inside a batch, [2] batches done, [3] a batch failed: read without a turn of the event loop. */
  private readonly control = new SharedArrayBuffer(16);
  private readonly words = new Int32Array(this.control);
  /** Names of the files of each batch sent, until its answer is read (an error names its file). */
  private readonly sent = new Map<number, { tags: string[]; layers: number[] }>();
  private open: Open = { files: [], tags: [], layers: [], bytes: 0 };
  private nextId = 0;
  private failure: PoolFailure | undefined;
  private waiters: Array<() => void> = [];
  private stopped = false;
  /** The worker itself died: nothing more will be answered. */
  private lost = false;

  /** `root`: the directory the files go into (resolved), for stopPoolsUnder. */
  constructor(readonly root: string) {
    running.add(this);
    poolsStarted++;
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; failed?: { index: number; kind: 'layer' | 'io'; message: string; code?: string } }) => {
      const names = this.sent.get(m.id);
      this.sent.delete(m.id);
      if (m.failed && !this.failure) {
        const tag = names?.tags[m.failed.index] ?? '';
        const cause = Object.assign(new Error(m.failed.message), m.failed.code ? { code: m.failed.code } : {});
        this.failure = { kind: m.failed.kind, message: m.failed.message, tag, layer: names?.layers[m.failed.index] ?? -1, cause };
      }
      this.wake();
    });
    this.worker.on('exit', () => {
      Atomics.store(this.words, 1, 0);
      this.lost = true;
      this.wake();
    });
    this.worker.on('error', (e: Error) => {
      this.failure ??= { kind: 'io', message: e.message, tag: '', layer: -1, cause: e };
      Atomics.store(this.words, 3, 1);
      this.lost = true;
      this.wake();
    });
  }

  /** Batches sent and not yet done, read from the shared words (no turn of the event loop needed). */
  private inFlight(): number {
    return this.nextId - Atomics.load(this.words, 2);
  }

  /** Set as soon as a handed-over file failed (its message comes with a later turn: drain()). */
  get failing(): boolean {
    return Atomics.load(this.words, 3) !== 0;
  }

  /** The first failure of a handed-over file, once its message is read. */
  get failed(): PoolFailure | undefined {
    return this.failure;
  }

  /**
   * Hand a file over, or return false when the worker has enough queued (the caller writes it
   * itself: both threads write while the worker is busy). `tag` names it in an error.
   */
  offer(file: PoolFile, tag: string, layer: number, parent: string): boolean {
    const open = this.open;
    if (this.stopped || this.failing) return false;
    const busy = this.inFlight();
    if (busy >= IN_FLIGHT && (open.files.length >= BATCH_FILES || open.bytes >= BATCH_BYTES)) return false;
    this.lastParent = parent;
    open.files.push(file);
    open.tags.push(tag);
    open.layers.push(layer);
    open.bytes += file.size;
    // an idle worker gets what there is at once; a busy one a full batch
    if (busy === 0 || (busy < IN_FLIGHT && (open.files.length >= BATCH_FILES || open.bytes >= BATCH_BYTES))) this.flush();
    return true;
  }

  /** The directory of the last file handed over: the worker is likely creating there now. */
  lastParent: string | undefined;

  /**
   * Block until a batch in flight is done (at most ~100 ms a wait, for signals): when the file at hand
   * goes into the directory the worker is filling, two threads creating in it only contend for its
   * lock (rwsem spinning showed as system time: BENCHMARKS.md "extract, round 3").
   */
  waitForRoom(): void {
    const done = Atomics.load(this.words, 2);
    if (this.nextId - done >= IN_FLIGHT && !this.failing && !this.stopped && !this.lost) Atomics.wait(this.words, 2, done, 100);
  }

  /** Send the open batch. */
  private flush(): void {
    if (this.open.files.length === 0 || this.stopped) return;
    const { files, tags, layers } = this.open;
    this.open = { files: [], tags: [], layers: [], bytes: 0 };
    const ends = new Uint32Array(files.length);
    const nums = new Float64Array(files.length * FIELDS);
    let length = 0;
    files.forEach((f, i) => {
      length += f.path.length;
      ends[i] = length;
      const at = i * FIELDS;
      nums[at] = f.fd;
      nums[at + 1] = f.offset;
      nums[at + 2] = f.size;
      nums[at + 3] = f.createMode;
      nums[at + 4] = f.chmod;
      nums[at + 5] = f.uid;
      nums[at + 6] = f.gid;
      nums[at + 7] = f.mtime;
    });
    const paths = new Uint8Array(length);
    let at = 0;
    for (const f of files) {
      paths.set(f.path, at);
      at += f.path.length;
    }
    const id = this.nextId++;
    this.sent.set(id, { tags, layers });
    const batch: Batch = { id, count: files.length, paths, ends, nums, control: this.control };
    this.worker.postMessage(batch, [paths.buffer, ends.buffer, nums.buffer]);
  }

  /** Every handed-over file written, or the first failure read, or the pool stopped. */
  async drain(): Promise<void> {
    if (!this.failing) this.flush();
    while ((this.sent.size > 0 || this.failing) && !this.failure && !this.lost && !this.stopped) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Whether every file handed over was written (after drain). */
  get complete(): boolean {
    return !this.failing && !this.lost && !this.stopped && this.sent.size === 0 && this.open.files.length === 0;
  }

  /**
   * Make sure the worker creates nothing more, synchronously (a cleanup handler cannot wait for a
   * promise): raise the stop flag, then wait while the worker is inside a batch. The flag is raised
   * before the busy word is read, and the worker sets that word before it reads the flag, so either
   * the worker sees the flag before its next file or this sees it busy and waits.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    running.delete(this);
    Atomics.store(this.words, 0, 1);
    // a worker that died inside a batch never clears its word: give up on it after a minute (one
    // chunk's write takes far less; the dead thread makes nothing more anyway)
    for (let i = 0; i < 60 && Atomics.load(this.words, 1) !== 0; i++) Atomics.wait(this.words, 1, 1, 1000);
    void this.worker.terminate();
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
