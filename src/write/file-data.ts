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
