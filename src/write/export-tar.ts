/**
 * Write the merged tree as the tar `docker export` writes: walk order from tree/walk.ts, header bytes
 * from tar/header.ts, file data copied once from the layer it lives in, two zero blocks at the end.
 */
import { readSync } from 'node:fs';
import { LayerfoldError, showName } from '../errors.js';
import type { LayerData } from '../read/layers.js';
import { encodeExportHeader, END_OF_ARCHIVE, paddingFor, type ExportHeader } from '../tar/header.js';
import { Dir, type Inode, type MergedTree } from '../tree/node.js';
import { walkTree, type WalkEntry } from '../tree/walk.js';
import type { ByteSink } from './sink.js';

const STAGE = 4 * 1024 * 1024;

const TYPEFLAG: Record<Inode['type'], ExportHeader['typeflag']> = { file: '0', symlink: '2', char: '3', block: '4', fifo: '6' };

export function exportHeaderOf(entry: WalkEntry): ExportHeader {
  const node = entry.node;
  if (node instanceof Dir) {
    return { name: entry.name, typeflag: '5', mode: node.mode, uid: node.uid, gid: node.gid, size: 0, mtime: node.mtime, linkname: '', devmajor: 0, devminor: 0 };
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

/**
 * Accumulates output in a staging buffer and hands it to the sink when full. Two buffers alternate:
 * while the sink writes one, reads fill the other.
 */
class Stager {
  private buf = Buffer.allocUnsafe(STAGE);
  private spare = Buffer.allocUnsafe(STAGE);
  private used = 0;
  private pending: Promise<void> = Promise.resolve();
  written = 0;
  constructor(private readonly sink: ByteSink) {}

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

  async append(bytes: Buffer): Promise<void> {
    if (this.used + bytes.length > this.buf.length) await this.flush();
    if (bytes.length > this.buf.length) {
      await this.drain();
      await this.sink.write(bytes);
      this.written += bytes.length;
      return;
    }
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
  }

  async zeros(n: number): Promise<void> {
    if (n === 0) return;
    if (this.used + n > this.buf.length) await this.flush();
    this.buf.fill(0, this.used, this.used + n);
    this.used += n;
  }

  /** Copy [pos, pos+size) of fd straight into the staging buffer. */
  async copyFrom(fd: number, pos: number, size: number, what: string): Promise<void> {
    let left = size;
    while (left > 0) {
      if (this.used === this.buf.length) await this.flush();
      const n = readSync(fd, this.buf, this.used, Math.min(left, this.buf.length - this.used), pos);
      if (n === 0) throw new LayerfoldError('BAD_LAYER', `${what}: data ends early`);
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
  const stage = new Stager(sink);
  let entries = 0;
  for (const entry of walkTree(tree)) {
    const header = exportHeaderOf(entry);
    await stage.append(encodeExportHeader(header));
    if (header.typeflag === '0' && header.size > 0) {
      const inode = entry.node as Inode;
      const layer = layers[inode.layer]!;
      await stage.copyFrom(layer.fd, inode.dataOffset, header.size, `layer ${layer.index} (${layer.label}) entry ${showName(entry.name)}`);
      await stage.zeros(paddingFor(header.size));
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
