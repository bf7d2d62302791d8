/**
 * How file data leaves a layer for an output: reads of a layer's file data (small files through a
 * read window, large ones straight into the output buffer) and the double-buffered stage every
 * writer fills (the export tar's stream, mkfs's image file). One copy of each byte, synchronous
 * reads into the stage, one write per full stage while the next one fills.
 */
import { readSync } from 'node:fs';
import { LayerfoldError } from '../errors.js';
import { alignedBuffer } from '../io/aligned.js';

/** Files up to this size are copied through a per-layer read window. */
export const SMALL_FILE = 64 * 1024;
/** One per layer: 256 KiB (was 1 MiB; 5 layers touched 5 MiB of windows) holds 4+ small files a read. */
const WINDOW = 256 * 1024;
/** A read that starts this close after the previous one is "sequential": worth a window. */
const NEAR = 16 * 1024;
/**
 * The staging buffer (two alternate). 1 MiB: 4 MiB ones cost 8 MiB of RSS more and, on a busy
 * machine, more CPU too (main, alternating runs at load 15-18: 5.6 s against 2.4 s; BENCHMARKS.md):
 * a 1 MiB stage is still in cache when write() copies it out; writes of 1 MiB cost no more per byte.
 */
export const STAGE = 1024 * 1024;

/**
 * Reads of one layer's file data. Output order (sorted per directory) often follows a layer's own
 * order (docker writes layers in that walk order), so many small files sit one after another: those
 * are served from one 256 KiB read instead of a syscall each. Scattered reads go straight through.
 */
export class LayerReads {
  private readonly window = alignedBuffer(WINDOW);
  private start = 0;
  private end = 0;
  private lastEnd = -1;
  constructor(
    readonly fd: number,
    private readonly limit: number,
  ) {}

  /** Copy [pos, pos+len) into target at off (len <= SMALL_FILE). Returns false if the data ends early. */
  copySmall(target: Buffer, off: number, pos: number, len: number): boolean {
    const sequential = pos >= this.lastEnd && pos - this.lastEnd <= NEAR;
    this.lastEnd = pos + len;
    if (pos < this.start || pos + len > this.end) {
      if (!sequential) return readFully(this.fd, target, off, len, pos);
      const want = Math.min(WINDOW, this.limit - pos);
      if (want < len) return false;
      if (!readFully(this.fd, this.window, 0, want, pos)) return false;
      this.start = pos;
      this.end = pos + want;
    }
    this.window.copy(target, off, pos - this.start, pos - this.start + len);
    return true;
  }
}

export function readFully(fd: number, target: Buffer, off: number, len: number, pos: number): boolean {
  let done = 0;
  while (done < len) {
    const n = readSync(fd, target, off + done, len - done, pos + done);
    if (n === 0) return false;
    done += n;
  }
  return true;
}

/**
 * Output gathered in a staging buffer and handed to `send` when full. Two buffers alternate: while
 * one is being written, reads fill the other. Filling is synchronous; only a flush waits. A write's
 * error surfaces at the next flush or drain.
 */
export abstract class Stage {
  protected buf = alignedBuffer(STAGE);
  private spare = alignedBuffer(STAGE);
  protected used = 0;
  private pending: Promise<void> = Promise.resolve();

  /** Write `bytes` (a whole stage, or a buffer the caller keeps unchanged until the next flush). */
  protected abstract send(bytes: Buffer): Promise<void>;

  fits(n: number): boolean {
    return this.used + n <= this.buf.length;
  }

  async flush(): Promise<void> {
    await this.pending;
    if (this.used === 0) return;
    this.hand(this.buf.subarray(0, this.used));
    [this.buf, this.spare] = [this.spare, this.buf];
    this.used = 0;
  }

  /** Write `bytes` directly, after what is staged (flush first). */
  protected async sendDirect(bytes: Buffer): Promise<void> {
    await this.pending;
    this.hand(bytes);
  }

  private hand(bytes: Buffer): void {
    this.pending = this.send(bytes);
    this.pending.catch(() => undefined); // surfaced by the next flush or drain
  }

  /** Wait until everything handed over has been written. */
  async drain(): Promise<void> {
    await this.flush();
    await this.pending;
  }

  /** Copy `size` bytes of a layer's file data at `pos` into the output: small files through the layer's window, large ones directly. */
  async copyFile(reads: LayerReads, pos: number, size: number, what: () => string): Promise<void> {
    if (size <= SMALL_FILE) {
      if (!this.fits(size)) await this.flush();
      if (!reads.copySmall(this.buf, this.used, pos, size)) throw dataEndsEarly(what);
      this.used += size;
      return;
    }
    for (let left = size; left > 0; ) {
      if (this.used === this.buf.length) await this.flush();
      const n = readSync(reads.fd, this.buf, this.used, Math.min(left, this.buf.length - this.used), pos);
      if (n === 0) throw dataEndsEarly(what);
      this.used += n;
      pos += n;
      left -= n;
    }
  }
}

export function dataEndsEarly(what: () => string): LayerfoldError {
  return new LayerfoldError('BAD_LAYER', `${what()}: data ends early`);
}
