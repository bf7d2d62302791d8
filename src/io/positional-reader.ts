/**
 * Positional reads from a file descriptor through a small window, so that walking the headers of a
 * tar that is dense with small files costs one read per window rather than one per header, while
 * large file data is skipped without being read at all.
 */
import { readSync } from 'node:fs';
import { alignedBuffer } from './aligned.js';

const WINDOW = 256 * 1024;

export class PositionalReader {
  private window: Buffer;
  private windowStart = 0;
  private windowEnd = 0; // exclusive

  constructor(
    readonly fd: number,
    /** Bytes past this absolute offset do not belong to the stream (the end of a layer member). */
    readonly limit: number,
    /** The window of a reader that is done, to reuse (readers one after another share one). */
    previous?: PositionalReader,
  ) {
    this.window = previous?.window ?? alignedBuffer(WINDOW);
  }

  /**
   * The bytes [pos, pos+len) as a buffer that stays valid only until the next call.
   * Returns fewer bytes than asked when the stream ends.
   */
  read(pos: number, len: number): Buffer {
    const end = Math.min(pos + len, this.limit);
    if (end <= pos) return this.window.subarray(0, 0);
    if (pos >= this.windowStart && end <= this.windowEnd) {
      return this.window.subarray(pos - this.windowStart, end - this.windowStart);
    }
    const want = end - pos;
    if (want > this.window.length) this.window = alignedBuffer(want);
    const fill = Math.min(this.window.length, this.limit - pos);
    let got = 0;
    while (got < fill) {
      const n = readSync(this.fd, this.window, got, fill - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    this.windowStart = pos;
    this.windowEnd = pos + got;
    return this.window.subarray(0, Math.min(got, want));
  }

  /** A copy of [pos, pos+len), for data that must outlive the window (PAX records, long names). */
  readCopy(pos: number, len: number): Buffer {
    return Buffer.from(this.read(pos, len));
  }
}
