/**
 * A regular file's bytes as the image holds them, for the writers that read a file by range (cat,
 * mkfs): a dense file's come straight from its layer; a sparse file's (tar/sparse.ts) are its data
 * segments from the layer and zeros between them — a hole is never read, and nothing is held but the
 * caller's buffer.
 */
import type { Inode } from '../tree/node.js';
import { readFully } from './stage.js';

/** Bytes [from, from + len) of `inode` into buf at off; false when the layer's data ends early. */
export function readFileBytes(fd: number, inode: Inode, from: number, buf: Buffer, off: number, len: number): boolean {
  if (inode.sparse === undefined) return readFully(fd, buf, off, len, inode.dataOffset + from);
  const end = from + len;
  let pos = from;
  for (const s of inode.sparse) {
    if (s.offset + s.length <= pos) continue;
    if (s.offset >= end) break;
    if (s.offset > pos) {
      buf.fill(0, off + (pos - from), off + (s.offset - from));
      pos = s.offset;
    }
    const take = Math.min(end, s.offset + s.length) - pos;
    if (!readFully(fd, buf, off + (pos - from), take, s.at + (pos - s.offset))) return false;
    pos += take;
  }
  if (pos < end) buf.fill(0, off + (pos - from), off + len);
  return true;
}

/**
 * The blocks of `inode` that hold data, as [start, end) pairs of block numbers in the file: a dense
 * file's are all of them; a sparse file's are the blocks its data segments touch (merged), so a hole
 * that covers whole blocks is left out — the filesystem writers map no block there and it reads as
 * zeros. Zero-length segments (bsdtar writes them at the ends) touch nothing.
 */
export function dataBlockRanges(inode: Inode, blockSize: number): number[] {
  const total = Math.ceil(inode.size / blockSize);
  if (inode.sparse === undefined) return total > 0 ? [0, total] : [];
  const out: number[] = [];
  for (const s of inode.sparse) {
    if (s.length === 0) continue;
    const start = Math.floor(s.offset / blockSize);
    const end = Math.min(total, Math.ceil((s.offset + s.length) / blockSize));
    if (end <= start) continue;
    if (out.length > 0 && start <= out[out.length - 1]!) out[out.length - 1] = Math.max(out[out.length - 1]!, end);
    else out.push(start, end);
  }
  return out;
}
