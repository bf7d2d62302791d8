/**
 * An EROFS image (uncompressed) written from the merged tree, without mkfs.erofs.
 *
 * Layout, 4 KiB blocks: block 0 holds the superblock at byte 1024; the metadata area starts at byte
 * 2048 of block 0 (meta_blkaddr 0, so a nid is the inode's byte offset / 32): every inode in walk
 * order, the root first, each an extended (64-byte) inode — 32-bit owners, its own mtime, a 32-bit
 * link count — followed by its inline xattrs (`security.capability`) and padded to 32 bytes. Then
 * the data blocks. A file, directory or symlink is stored FLAT_INLINE when its last partial block
 * (the tail) fits after its inode and xattrs in one metadata block (the kernel refuses a tail that
 * crosses a block: MetaSlots puts such a record in a partly filled block it fits in whole), its
 * whole blocks contiguous from raw_blkaddr; else FLAT_PLAIN (every block contiguous,
 * the last one partly used). A sparse file whose holes save blocks is CHUNK_BASED: a block map of
 * 4-byte chunk addresses after the inode, a hole's chunk EROFS_NULL_ADDR (read as zeros), the
 * chunk size the one that makes data + map smallest. Directory blocks hold dirents (nid, name
 * offset, type) then names, all names of a directory ("." and ".." included) in byte order across
 * its blocks, as the kernel's binary search expects. Going through the inodes in nid order, the
 * metadata area and the data blocks are each written in one increasing pass (two stagers), and
 * every file is read once. No
 * compression, no shared xattrs.
 */
import { LayerfoldError, showName } from '../../errors.js';
import type { LayerData } from '../../read/layers.js';
import { Dir, type Inode, type MergedTree } from '../../tree/node.js';
import type { FsSummary } from './ext4.js';
import { dataBlockRanges } from '../file-data.js';
import { ImageFile, Stager } from './image-file.js';
import { FILE_TYPE, kindOf, MODE_TYPE, planTree, type FsInode, type TreePlan } from './tree-plan.js';

const BS = 4096;
/** Inodes start after the superblock's 1024 bytes and its padding: nid 0 is byte 2048 of block 0. */
const META_START = 2048;
/** The extended inode (erofs_inode_extended): 32-bit uid/gid, 64-bit size and mtime. */
const INODE_SIZE = 64;
/** An inode's address unit: nid = offset / 32, so every record starts on a 32-byte slot. */
const SLOT = 32;
/** erofs_dirent: nid (8), nameoff (2), file_type (1), reserved (1); the names follow the dirents. */
const DIRENT = 12;
/** A chunk index entry that maps no block: a hole, read as zeros. */
const NULL_ADDR = 0xffffffff;
/** The superblock's feature_incompat bit for chunk-based files (EROFS_FEATURE_INCOMPAT_CHUNKED_FILE). */
const INCOMPAT_CHUNKED_FILE = 0x4;

/** i_format's data layouts (bits 1-3; bit 0 set: the extended inode). */
const FLAT_PLAIN = 0;
const FLAT_INLINE = 2;
const CHUNK_BASED = 4;

export interface ErofsOptions {
  time: number;
  /** 16 bytes of UUID. */
  uuid: Buffer;
}

export interface ErofsResult extends FsSummary {
  type: 'erofs';
}


const CAP_NAME = Buffer.from('capability');
const NO_XATTRS = Buffer.alloc(0);

/** Inline xattr bytes of a capability (ibody header + one entry), or an empty buffer. */
function xattrBody(cap: Buffer | undefined): Buffer {
  if (cap === undefined) return NO_XATTRS;
  const entry = (4 + CAP_NAME.length + cap.length + 3) & ~3;
  const body = Buffer.alloc(12 + entry);
  body.writeUInt8(CAP_NAME.length, 12);
  body.writeUInt8(6, 13); // EROFS_XATTR_INDEX_SECURITY
  body.writeUInt16LE(cap.length, 14);
  CAP_NAME.copy(body, 16);
  cap.copy(body, 16 + CAP_NAME.length);
  return body;
}

interface Entry {
  /** Raw name bytes as latin1. */
  name: string;
  nid: number;
  type: number;
}

/** Where a directory's blocks start: the index of each block's first entry (dirents then names, never split). */
function blockStarts(entries: Entry[]): number[] {
  const starts: number[] = [];
  for (let i = 0; i < entries.length; ) {
    starts.push(i);
    let names = 0;
    let j = i;
    while (j < entries.length && (j - i + 1) * DIRENT + names + entries[j]!.name.length <= BS) names += entries[j++]!.name.length;
    i = j;
  }
  return starts;
}

/** Bytes of a directory: whole blocks, the last one as long as its entries. */
function dirSize(entries: Entry[], starts: number[]): number {
  const last = starts[starts.length - 1]!;
  let bytes = (entries.length - last) * DIRENT;
  for (let k = last; k < entries.length; k++) bytes += entries[k]!.name.length;
  return (starts.length - 1) * BS + bytes;
}

/** One directory block (the last one cut to its entries). */
function dirBlock(entries: Entry[], from: number, to: number, last: boolean): Buffer {
  const block = Buffer.alloc(BS);
  let nameOff = (to - from) * DIRENT;
  for (let k = from; k < to; k++) {
    const e = entries[k]!;
    const at = (k - from) * DIRENT;
    block.writeBigUInt64LE(BigInt(e.nid), at);
    block.writeUInt16LE(nameOff, at + 8);
    block.writeUInt8(e.type, at + 10);
    nameOff += block.write(e.name, nameOff, 'latin1');
  }
  return last ? block.subarray(0, nameOff) : block;
}

/**
 * The chunk size (log2, in blocks) that stores a sparse file smallest — its data blocks plus the
 * 4-byte map — and the chunks that hold data; undefined when no hole saves a block.
 */
function chunking(node: Inode): { bits: number; count: number; used: number[] } | undefined {
  const ranges = dataBlockRanges(node, BS);
  const total = Math.ceil(node.size / BS);
  let best: { bits: number; count: number; used: number[] } | undefined;
  let bestCost = total * BS;
  for (let bits = 0; bits <= 31 && 2 ** bits <= 2 * total; bits++) {
    const per = 2 ** bits;
    const used: number[] = [];
    for (let i = 0; i < ranges.length; i += 2) {
      for (let c = Math.floor(ranges[i]! / per); c < Math.ceil(ranges[i + 1]! / per); c++) if (used[used.length - 1] !== c) used.push(c);
    }
    const count = Math.ceil(total / per);
    let blocks = used.length * per;
    if (used[used.length - 1] === count - 1) blocks -= count * per - total; // the last chunk ends with the file
    const cost = blocks * BS + count * 4;
    if (cost < bestCost) {
      bestCost = cost;
      best = { bits, count, used };
    }
  }
  return best;
}

const OPEN_BLOCKS = 64;

/**
 * Places inode records (inode, xattrs, inline tail or chunk map) in the metadata area: a record of
 * up to a block goes into the first of the last few partly filled blocks it fits in whole (so a tail
 * never crosses a block, and the room a tail could not use is taken by the records after it), else
 * into a new block; a bigger one (a long chunk map) starts a new block and runs on. Nids therefore
 * do not follow inode order; the writer goes through the inodes in nid order.
 */
class MetaSlots {
  private readonly open: Array<{ block: number; used: number }> = [{ block: 0, used: META_START }];
  /** Blocks given out so far. */
  end = 1;

  /** The byte offset of a record of `bytes` (a multiple of SLOT). */
  place(bytes: number): number {
    if (bytes > BS) {
      const at = this.end * BS;
      this.end += Math.ceil(bytes / BS);
      if (bytes % BS !== 0) this.keep({ block: this.end - 1, used: bytes % BS });
      return at;
    }
    for (let i = 0; i < this.open.length; i++) {
      const b = this.open[i]!;
      if (BS - b.used < bytes) continue;
      const at = b.block * BS + b.used;
      b.used += bytes;
      if (b.used + SLOT > BS) this.open.splice(i, 1);
      return at;
    }
    const b = { block: this.end++, used: bytes };
    this.keep(b);
    return b.block * BS;
  }

  private keep(b: { block: number; used: number }): void {
    if (b.used + SLOT > BS) return;
    this.open.push(b);
    if (this.open.length > OPEN_BLOCKS) this.open.shift();
  }
}

/** Where each inode's bytes go. */
interface ErofsPlace {
  layout: number;
  /** i_size. */
  size: number;
  /** First data block (0 when none). */
  start: number;
  /** Whole blocks in the data area (a chunked file: the blocks of its used chunks). */
  blocks: number;
  /** Bytes stored inline after the inode (FLAT_INLINE), 0 otherwise. */
  tail: number;
  chunks?: { bits: number; count: number; used: number[] };
}

export async function writeErofs(tree: MergedTree, layers: LayerData[], target: string, options: ErofsOptions, beforeFinish: () => Promise<void>): Promise<ErofsResult> {
  const plan = planTree(tree, 1, 2);
  const count = plan.nextIno - 1;
  const nid = new Float64Array(plan.nextIno);
  const xattrs = new Array<Buffer>(plan.nextIno);
  const places = new Array<ErofsPlace>(plan.nextIno);
  const slots = new MetaSlots();
  let dataBlocks = 0;
  let chunked = false;
  for (let ino = 1; ino < plan.nextIno; ino++) {
    const rec = plan.inodes[ino]!;
    const node = rec.node;
    xattrs[ino] = xattrBody(node.capability);
    const base = INODE_SIZE + xattrs[ino]!.length;
    let size = 0;
    if (node instanceof Dir) {
      const entries = dirEntries(rec, plan, nid);
      size = dirSize(entries, blockStarts(entries));
    } else if (node.type === 'file') size = node.size;
    else if (node.type === 'symlink') {
      if (node.linkname.length >= BS) throw new LayerfoldError('UNSUPPORTED', `${showName(rec.path)}: a symlink target of ${node.linkname.length} bytes; erofs holds under ${BS}`);
      size = node.linkname.length;
    }
    const chunks = !(node instanceof Dir) && node.type === 'file' && node.sparse !== undefined ? chunking(node) : undefined;
    const place: ErofsPlace = { layout: FLAT_PLAIN, size, start: 0, blocks: Math.ceil(size / BS), tail: 0 };
    let extra = 0;
    if (chunks !== undefined) {
      chunked = true;
      place.layout = CHUNK_BASED;
      place.chunks = chunks;
      const per = 2 ** chunks.bits;
      place.blocks = chunks.used.length * per - (chunks.used[chunks.used.length - 1] === chunks.count - 1 ? chunks.count * per - place.blocks : 0);
      extra = chunks.count * 4;
    } else if (size % BS !== 0 && base + (size % BS) <= BS) {
      place.layout = FLAT_INLINE;
      place.tail = size % BS;
      place.blocks = Math.floor(size / BS);
      extra = place.tail;
    }
    nid[ino] = slots.place(Math.ceil((base + extra) / SLOT) * SLOT) / SLOT;
    places[ino] = place;
  }
  if (nid[1]! > 0xffff) throw new LayerfoldError('UNSUPPORTED', 'erofs: the root inode lies beyond nid 65535');
  // inodes in nid order, their data blocks in the same order: both areas are written in one increasing pass
  const order = byNid(nid, count, slots.end);
  for (const ino of order) {
    const place = places[ino]!;
    if (place.blocks === 0) continue;
    place.start = dataBlocks;
    dataBlocks += place.blocks;
  }
  const dataStart = slots.end;
  const blocks = dataStart + dataBlocks;
  if (blocks > 0xffffffff) throw new LayerfoldError('UNSUPPORTED', 'erofs: more than 2^32 blocks');
  const out = new ImageFile(target, blocks * BS);
  try {
    const metaStage = new Stager(out, layers);
    const dataStage = new Stager(out, layers);
    await metaStage.seek(META_START);
    await dataStage.seek(dataStart * BS);
    for (const ino of order) {
      const rec = plan.inodes[ino]!;
      const place = places[ino]!;
      await metaStage.zeros(nid[ino]! * SLOT - metaStage.position());
      const { buf, off } = await metaStage.room(INODE_SIZE);
      putInode(buf, off, rec, place, xattrs[ino]!, place.blocks > 0 ? dataStart + place.start : 0, options.time);
      await metaStage.put(xattrs[ino]!);
      // directory entries name nids, known only now (block boundaries depend on the names alone)
      await writeBytes(rec, place, layers, metaStage, dataStage, dataStart, rec.node instanceof Dir ? dirEntries(rec, plan, nid) : undefined);
    }
    await metaStage.zeros(dataStart * BS - metaStage.position());
    await metaStage.drain();
    await dataStage.drain();
    const sb = Buffer.alloc(128);
    sb.writeUInt32LE(0xe0f5e1e2, 0);
    sb.writeUInt8(12, 12); // log2(block size)
    sb.writeUInt16LE(nid[1]!, 14);
    sb.writeBigUInt64LE(BigInt(count), 16);
    sb.writeBigInt64LE(BigInt(options.time), 24);
    sb.writeUInt32LE(blocks, 36);
    sb.writeUInt32LE(0, 40); // meta_blkaddr
    sb.writeUInt32LE(0, 44); // xattr_blkaddr: no shared xattrs
    options.uuid.copy(sb, 48, 0, 16);
    sb.writeUInt32LE(chunked ? INCOMPAT_CHUNKED_FILE : 0, 80);
    await out.writeAt(sb, 1024);
    await beforeFinish();
    out.finish();
    return { type: 'erofs', bytes: blocks * BS, blockSize: BS, blocks, freeBlocks: 0, inodes: count, inodesUsed: count };
  } catch (e) {
    out.abort();
    throw e;
  }
}

/** A directory's entries, "." and ".." among them, in byte order of their names (latin1 strings compare as their bytes). */
function dirEntries(rec: FsInode, plan: TreePlan, nid: Float64Array): Entry[] {
  const entries: Entry[] = [
    { name: '.', nid: nid[rec.ino]!, type: 2 },
    { name: '..', nid: nid[rec.parent]!, type: 2 },
  ];
  for (const c of rec.children!) entries.push({ name: c.name, nid: nid[c.ino]!, type: FILE_TYPE[kindOf(plan.inodes[c.ino]!.node)]! });
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Inode numbers 1..count in increasing nid: counted into their metadata blocks, then sorted within each. */
function byNid(nid: Float64Array, count: number, metaBlocks: number): Uint32Array {
  const perBlock = BS / SLOT;
  const first = new Uint32Array(metaBlocks + 1);
  for (let ino = 1; ino <= count; ino++) first[Math.floor(nid[ino]! / perBlock) + 1]!++;
  for (let b = 1; b <= metaBlocks; b++) first[b]! += first[b - 1]!;
  const order = new Uint32Array(count);
  const fill = first.slice(0, metaBlocks);
  for (let ino = 1; ino <= count; ino++) order[fill[Math.floor(nid[ino]! / perBlock)]!++] = ino;
  for (let b = 0; b < metaBlocks; b++) {
    // a block holds at most 128 records: insertion sort
    for (let i = first[b]! + 1; i < first[b + 1]!; i++) {
      const ino = order[i]!;
      let j = i - 1;
      while (j >= first[b]! && nid[order[j]!]! > nid[ino]!) order[j + 1] = order[j--]!;
      order[j + 1] = ino;
    }
  }
  return order;
}

function putInode(buf: Buffer, at: number, rec: FsInode, place: ErofsPlace, x: Buffer, firstBlock: number, time: number): void {
  const node = rec.node;
  buf.fill(0, at, at + INODE_SIZE);
  buf.writeUInt16LE(1 | (place.layout << 1), at); // extended inode
  buf.writeUInt16LE(x.length === 0 ? 0 : (x.length - 12) / 4 + 1, at + 2);
  buf.writeUInt16LE(MODE_TYPE[kindOf(node)]! | (node.mode & 0o7777), at + 4);
  buf.writeBigUInt64LE(BigInt(place.size), at + 8);
  if (place.layout === CHUNK_BASED) buf.writeUInt16LE(place.chunks!.bits, at + 16); // chunk format: block map, no indexes
  else if (node instanceof Dir || node.type === 'file' || node.type === 'symlink') buf.writeUInt32LE(firstBlock, at + 16);
  else if (node.type === 'char' || node.type === 'block') buf.writeUInt32LE(((node.devminor & 0xff) | (node.devmajor << 8) | ((node.devminor & ~0xff) << 12)) >>> 0, at + 16);
  buf.writeUInt32LE(rec.ino, at + 20);
  buf.writeUInt32LE(node.uid, at + 24);
  buf.writeUInt32LE(node.gid, at + 28);
  // The root has no entry in an export: without one of its own it takes the image's time.
  const mtime = rec.ino === 1 && node.mtime === 0 ? time : Math.floor(node.mtime);
  buf.writeBigInt64LE(BigInt(mtime), at + 32);
  buf.writeUInt32LE(rec.nlink, at + 44);
}

/** An inode's bytes: whole blocks to the data area, the tail (or the chunk map) after the inode. */
async function writeBytes(rec: FsInode, place: ErofsPlace, layers: LayerData[], metaStage: Stager, dataStage: Stager, dataStart: number, dir: Entry[] | undefined): Promise<void> {
  const node = rec.node;
  if (place.blocks > 0) await dataStage.seek((dataStart + place.start) * BS);
  if (dir !== undefined) {
    const starts = blockStarts(dir);
    for (let b = 0; b < starts.length; b++) {
      const last = b === starts.length - 1;
      const block = dirBlock(dir, starts[b]!, last ? dir.length : starts[b + 1]!, last);
      if (last && place.tail > 0) await metaStage.put(block);
      else await dataStage.put(block);
    }
    if (place.tail === 0) await dataStage.zeros((BS - (place.size % BS)) % BS);
    return;
  }
  if (node instanceof Dir || place.size === 0) return;
  if (node.type === 'symlink') {
    const bytes = Buffer.from(node.linkname, 'latin1');
    if (place.tail > 0) return metaStage.put(bytes);
    await dataStage.put(bytes);
    return dataStage.zeros(BS - bytes.length);
  }
  const layer = layers[node.layer]!;
  const what = () => `layer ${layer.index} (${layer.label}) entry ${showName(rec.path)}`;
  const copy = async (stage: Stager, from: number, n: number) => {
    for (let done = 0; done < n; done += 1024 * 1024) await stage.copyInode(node, from + done, Math.min(n - done, 1024 * 1024), what);
  };
  if (place.chunks !== undefined) {
    const { bits, count, used } = place.chunks;
    const chunkBytes = BS * 2 ** bits;
    const map = Buffer.alloc(count * 4);
    for (let c = 0; c < count; c++) map.writeUInt32LE(NULL_ADDR, c * 4);
    let block = dataStart + place.start;
    for (const c of used) {
      map.writeUInt32LE(block, c * 4);
      const n = Math.min(chunkBytes, node.size - c * chunkBytes);
      await copy(dataStage, c * chunkBytes, n);
      await dataStage.zeros((BS - (n % BS)) % BS);
      block += Math.ceil(n / BS);
    }
    return metaStage.put(map);
  }
  const whole = place.tail > 0 ? place.blocks * BS : place.size;
  await copy(dataStage, 0, whole);
  await dataStage.zeros((BS - (whole % BS)) % BS);
  if (place.tail > 0) await copy(metaStage, whole, place.tail);
}
