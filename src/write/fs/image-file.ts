/**
 * The output of `mkfs`: a file of a known size written by position. A regular target is made as a
 * sparse temporary file beside it (`ftruncate` to the full size, so blocks never written read as
 * zeros and take no disk) and renamed into place at the end; an error or a signal removes it. A target
 * that exists and is not a regular file (a block device, /dev/null) is written in place.
 */
import { ftruncateSync, write } from 'node:fs';
import type { Inode } from '../../tree/node.js';
import { readFileBytes } from '../file-data.js';
import { OutputFile, writeError } from '../../io/output-file.js';
import { dataEndsEarly, LayerReads, Stage, STAGE } from '../stage.js';
import type { LayerData } from '../../read/layers.js';

const ioError = writeError;

export class ImageFile {
  private readonly out: OutputFile;

  constructor(
    readonly target: string,
    size: number,
  ) {
    this.out = new OutputFile(target, { inPlaceIfSpecial: true });
    try {
      if (this.out.temp !== undefined && size > 0) ftruncateSync(this.out.fd, size);
    } catch (e) {
      this.out.abort();
      throw ioError(target, e);
    }
  }

  async writeAt(bytes: Buffer, position: number): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const n = await new Promise<number>((resolve, reject) =>
        write(this.out.fd, bytes, off, bytes.length - off, position + off, (err, written) => (err ? reject(ioError(this.target, err)) : resolve(written))),
      );
      off += n;
    }
  }

  /** Set the final length (a writer that learns its size at the end). */
  setLength(size: number): void {
    if (this.out.temp === undefined) return; // a device keeps its size
    try {
      ftruncateSync(this.out.fd, size);
    } catch (e) {
      throw ioError(this.target, e);
    }
  }

  finish(): void {
    this.out.finish();
  }

  abort(): void {
    this.out.abort();
  }
}

/**
 * Runs of output at increasing positions, gathered in a staging buffer and written whole; two
 * buffers alternate so that the reads filling one overlap the write of the other. A jump to a
 * position that does not continue the run flushes first.
 */
export class Stager extends Stage {
  private start = 0;
  private readonly reads: LayerReads[];

  constructor(
    private readonly out: ImageFile,
    private readonly layers: LayerData[],
  ) {
    super();
    this.reads = layers.map((l) => new LayerReads(l.fd, l.base + l.size));
  }

  protected send(bytes: Buffer): Promise<void> {
    const at = this.start;
    this.start += bytes.length;
    return this.out.writeAt(bytes, at);
  }

  /** Where the next byte goes. */
  position(): number {
    return this.start + this.used;
  }

  /** Continue output at `position`. */
  async seek(position: number): Promise<void> {
    if (this.start + this.used === position) return;
    await this.flush();
    this.start = position;
  }

  /** Room for n bytes (n <= the stage size) at the current position; returns the buffer and offset to fill. */
  async room(n: number): Promise<{ buf: Buffer; off: number }> {
    if (this.used + n > this.buf.length) await this.flush();
    const off = this.used;
    this.used += n;
    return { buf: this.buf, off };
  }

  async put(bytes: Buffer): Promise<void> {
    const { buf, off } = await this.room(bytes.length);
    bytes.copy(buf, off);
  }

  async zeros(n: number): Promise<void> {
    while (n > 0) {
      const step = Math.min(n, STAGE);
      const { buf, off } = await this.room(step);
      buf.fill(0, off, off + step);
      n -= step;
    }
  }

  /** Bytes [from, from + size) of a regular file to the current position: a sparse file's holes as zeros, never read. */
  async copyInode(node: Inode, from: number, size: number, what: () => string): Promise<void> {
    if (node.sparse === undefined) return this.copyFile(this.reads[node.layer]!, node.dataOffset + from, size, what);
    const { fd } = this.layers[node.layer]!;
    for (let done = 0; done < size; ) {
      if (this.used === this.buf.length) await this.flush();
      const n = Math.min(size - done, this.buf.length - this.used);
      if (!readFileBytes(fd, node, from + done, this.buf, this.used, n)) throw dataEndsEarly(what);
      this.used += n;
      done += n;
    }
  }
}
