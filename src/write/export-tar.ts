/**
 * Write the merged tree as the tar `docker export` writes: walk order from tree/walk.ts, header bytes
 * from tar/header.ts, file data copied once from the layer it lives in, two zero blocks at the end.
 */
import { readSync } from 'node:fs';
import { LayerfoldError, showName } from '../errors.js';
import type { LayerData } from '../read/layers.js';
import { BLOCK, encodeExportHeader, encodeUstarInto, END_OF_ARCHIVE, paddingFor, type ExportHeader } from '../tar/header.js';
import { Dir, type Inode, type MergedTree } from '../tree/node.js';
import { walkTree, type WalkEntry } from '../tree/walk.js';
import type { ByteSink } from './sink.js';
import { alignedBuffer } from '../io/aligned.js';
import { sparseRuns, type SparseSegment } from '../tar/sparse.js';

/**
 * The staging buffer (two alternate). 1 MiB: 4 MiB ones cost 8 MiB of RSS more and, on a busy
 * machine, more CPU too (main, alternating runs at load 15-18: 5.6 s against 2.4 s; BENCHMARKS.md):
 * a 1 MiB stage is still in cache when write() copies it out; writes of 1 MiB cost no more per byte.
 */
const STAGE = 1024 * 1024;

/** The zeros of every sparse file's holes: one buffer, handed to the sink as often as a hole needs. */
let holeZeros: Buffer | undefined;

const TYPEFLAG: Record<Inode['type'], ExportHeader['typeflag']> = { file: '0', symlink: '2', char: '3', block: '4', fifo: '6' };

export function exportHeaderOf(entry: WalkEntry): ExportHeader {
  const node = entry.node;
  if (node instanceof Dir) {
    const dir: ExportHeader = { name: entry.name, typeflag: '5', mode: node.mode, uid: node.uid, gid: node.gid, size: 0, mtime: node.mtime, linkname: '', devmajor: 0, devminor: 0 };
    if (node.capability) dir.capability = node.capability;
    return dir;
  }
  const header: ExportHeader = {
    name: entry.name,
    typeflag: entry.linkTo !== undefined ? '1' : TYPEFLAG[node.type],
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    size: entry.linkTo === undefined && node.type === 'file' ? node.size : 0,
    mtime: node.mtime,
    linkname: entry.linkTo ?? node.linkname,
    devmajor: node.devmajor,
    devminor: node.devminor,
  };
  if (node.capability) header.capability = node.capability;
  return header;
}

export interface WriteProgress {
  entries: number;
  bytes: number;
}

/** Files up to this size are copied through a per-layer read window. */
export const SMALL_FILE = 64 * 1024;
/** One per layer: 256 KiB (was 1 MiB; 5 layers touched 5 MiB of windows) holds 4+ small files a read. */
const WINDOW = 256 * 1024;
/** A read that starts this close after the previous one is "sequential": worth a window. */
const NEAR = 16 * 1024;

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
    private readonly fd: number,
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
 * Accumulates output in a staging buffer and hands it to the sink when full. Two buffers alternate:
 * while the sink writes one, reads fill the other. Filling is synchronous; only a flush waits.
 */
class Stager {
  private buf = alignedBuffer(STAGE);
  private spare = alignedBuffer(STAGE);
  private used = 0;
  private pending: Promise<void> = Promise.resolve();
  written = 0;
  constructor(private readonly sink: ByteSink) {}

  fits(n: number): boolean {
    return this.used + n <= this.buf.length;
  }

  async flush(): Promise<void> {
    await this.pending;
    if (this.used === 0) return;
    const full = this.buf.subarray(0, this.used);
    this.written += this.used;
    this.pending = this.sink.write(full);
    this.pending.catch(() => undefined); // surfaced by the next flush or drain
    [this.buf, this.spare] = [this.spare, this.buf];
    this.used = 0;
  }

  /** Wait until everything handed over has been written. */
  async drain(): Promise<void> {
    await this.flush();
    await this.pending;
  }

  /** Append bytes that fit (check with fits() first). */
  put(bytes: Buffer): void {
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
  }

  /** Encode a plain USTAR header in place (room for a block checked by the caller); false if it needs PAX. */
  putUstar(header: ExportHeader): boolean {
    const n = encodeUstarInto(header, this.buf, this.used);
    this.used += n;
    return n > 0;
  }

  zeros(n: number): void {
    this.buf.fill(0, this.used, this.used + n);
    this.used += n;
  }

  async append(bytes: Buffer): Promise<void> {
    if (!this.fits(bytes.length)) await this.flush();
    this.put(bytes);
  }

  /** A sparse file's data: its segments copied from the layer, its holes zeros (docker writes them). */
  async copySparse(reads: LayerReads, fd: number, size: number, segments: readonly SparseSegment[], what: () => string): Promise<void> {
    for (const run of sparseRuns(size, segments)) {
      if (run.at === null) await this.holes(run.length);
      else await this.copyFile(reads, fd, run.at, run.length, what);
    }
  }

  /** n zeros: in the stage when they fit, else the shared zero buffer written again and again, never filled anew. */
  private async holes(n: number): Promise<void> {
    if (this.fits(n)) {
      this.zeros(n);
      return;
    }
    await this.flush();
    holeZeros ??= Buffer.alloc(STAGE);
    for (; n > holeZeros.length; n -= holeZeros.length) {
      await this.pending;
      this.pending = this.sink.write(holeZeros);
      this.pending.catch(() => undefined); // surfaced by the next flush or drain
      this.written += holeZeros.length;
    }
    this.zeros(n); // the stage is empty after the flush, and n <= STAGE
  }

  /** Copy a file's data into the output: small files through the layer's window, large ones directly. */
  async copyFile(reads: LayerReads, fd: number, pos: number, size: number, what: () => string): Promise<void> {
    if (size <= SMALL_FILE) {
      if (!this.fits(size)) await this.flush();
      if (!reads.copySmall(this.buf, this.used, pos, size)) throw new LayerfoldError('BAD_LAYER', `${what()}: data ends early`);
      this.used += size;
      return;
    }
    let left = size;
    while (left > 0) {
      if (this.used === this.buf.length) await this.flush();
      const n = readSync(fd, this.buf, this.used, Math.min(left, this.buf.length - this.used), pos);
      if (n === 0) throw new LayerfoldError('BAD_LAYER', `${what()}: data ends early`);
      this.used += n;
      pos += n;
      left -= n;
    }
  }
}

export async function writeExportTar(
  tree: MergedTree,
  layers: LayerData[],
  sink: ByteSink,
  onProgress?: (p: WriteProgress) => void,
  /** Awaited before the end-of-archive blocks: a check that fails here leaves a visibly truncated tar. */
  beforeEnd?: () => Promise<void>,
): Promise<WriteProgress> {
  return writeTarItems(walkTree(tree), layers, sink, onProgress, beforeEnd);
}

/** An entry that carries no data and no node: a whiteout or an opaque marker of a layer tar. */
export interface MarkerItem {
  marker: ExportHeader;
}

export type TarItem = WalkEntry | MarkerItem;

/**
 * The export tar's writer over any sequence of tree entries and markers: `export` gives it the whole
 * walk; `squash` the entries of the layer it writes (the same header bytes and data copy).
 */
export async function writeTarItems(
  items: Iterable<TarItem>,
  layers: LayerData[],
  sink: ByteSink,
  onProgress?: (p: WriteProgress) => void,
  beforeEnd?: () => Promise<void>,
): Promise<WriteProgress> {
  const stage = new Stager(sink);
  const reads = layers.map((l) => new LayerReads(l.fd, l.base + l.size));
  let entries = 0;
  for (const entry of items) {
    if ('marker' in entry) {
      const bytes = encodeExportHeader(entry.marker);
      if (!stage.fits(bytes.length)) await stage.flush();
      stage.put(bytes);
      entries++;
      continue;
    }
    const header = exportHeaderOf(entry);
    if (!stage.fits(BLOCK)) await stage.flush();
    if (!stage.putUstar(header)) {
      const bytes = encodeExportHeader(header);
      if (!stage.fits(bytes.length)) await stage.flush();
      stage.put(bytes);
    }
    if (header.typeflag === '0' && header.size > 0) {
      const inode = entry.node as Inode;
      const layer = layers[inode.layer]!;
      const what = (): string => `layer ${layer.index} (${layer.label}) entry ${showName(entry.name)}`;
      if (inode.sparse) await stage.copySparse(reads[inode.layer]!, layer.fd, header.size, inode.sparse, what);
      else await stage.copyFile(reads[inode.layer]!, layer.fd, inode.dataOffset, header.size, what);
      const pad = paddingFor(header.size);
      if (!stage.fits(pad)) await stage.flush();
      stage.zeros(pad);
    }
    entries++;
    if (onProgress && (entries & 1023) === 0) onProgress({ entries, bytes: stage.written });
  }
  await stage.drain();
  if (beforeEnd) await beforeEnd();
  await stage.append(END_OF_ARCHIVE);
  await stage.drain();
  return { entries, bytes: stage.written };
}
