/**
 * An ext4 filesystem image written from the merged tree, without a kernel, a loop device or mke2fs.
 *
 * Layout (one pass to plan, one to write, every block written at its position):
 *   block 0          boot area + superblock (at byte 1024)
 *   blocks 1..G      group descriptors (32 bytes each; no 64bit feature: up to 16 TiB)
 *   then             all block bitmaps, all inode bitmaps, all inode tables (flex_bg lets one region
 *                    hold every group's metadata, so data runs are long and contiguous)
 *   then             data in walk order: each directory's blocks, then each file's data, extent leaf
 *                    blocks right after the data they map. Backup superblocks and descriptors
 *                    (sparse_super: groups 1 and powers of 3, 5, 7) are stepped over.
 *
 * Features: ext_attr, dir_index (no index is written: directories are linear, and the kernel indexes
 * one when it grows past a block), filetype, extents, flex_bg, sparse_super, large_file, huge_file,
 * dir_nlink, extra_isize. No journal, no metadata_csum, no resize_inode (ARCHITECTURE.md says why).
 * Inodes are 256 bytes; `security.capability` is stored in the inode. Inode numbers follow walk order
 * from 12 (11 is lost+found, 2 the root), so the same tree always gives the same bytes.
 */
import { createHash } from 'node:crypto';
import { LayerfoldError, showName } from '../../errors.js';
import type { LayerData } from '../../read/layers.js';
import { Dir, type Inode } from '../../tree/node.js';
import type { MergedTree } from '../../tree/node.js';
import { ImageFile, Stager } from './image-file.js';
import { FILE_TYPE, kindOf, MODE_TYPE, planTree, type FsInode, type TreePlan } from './tree-plan.js';
import { dataBlockRanges } from '../file-data.js';
import { defaultInodes, freeBlocks, formatSize, type FreeSpec } from './sizing.js';

const BS = 4096;
const MAX_BPG = 8 * BS;
const INODE_SIZE = 256;
const EXTRA_ISIZE = 32;
const GD_SIZE = 32;
const MAX_EXTENT = 32768;
const LEAF_MAX = (BS - 12) / 12;
const ROOT_INO = 2;
const LOST_FOUND_INO = 11;
const FIRST_INO = 11;
const LOST_FOUND_BLOCKS = 4;
const FAST_SYMLINK_MAX = 59;
/** EXT4_LINK_MAX: more names than this on one file is refused by the kernel. */
const LINK_MAX = 65000;
const EXTENTS_FL = 0x80000;
/** Data ranges of a sparse file kept as holes at most; more (a few hundred per leaf, four leaves) and it is stored dense. */
const MAX_SPARSE_RANGES = 1024;

/** The superblock's three feature words, each bit by mke2fs's name for it: what the kernel and e2fsck are told the image uses. */
const FEATURES = {
  compat: 0x8 /* ext_attr */ | 0x20 /* dir_index */,
  incompat: 0x2 /* filetype */ | 0x40 /* extents */ | 0x200 /* flex_bg */,
  roCompat: 0x1 /* sparse_super */ | 0x2 /* large_file */ | 0x8 /* huge_file */ | 0x20 /* dir_nlink */ | 0x40 /* extra_isize */,
};

export interface Ext4Options {
  /** Fixed image size in bytes; default: the smallest that holds the tree plus `free`. */
  size?: number;
  free: FreeSpec;
  /** Inode count; default: the used ones with the same headroom, at least one per 16 KiB. */
  inodes?: number;
  /** Superblock times and the time of lost+found (the image's created time). */
  time: number;
  /** Bytes the UUID and hash seed are derived from (the image's identity). */
  seed: string;
}

export interface FsSummary {
  type: 'ext4' | 'squashfs' | 'erofs';
  bytes: number;
  blockSize: number;
  blocks: number;
  freeBlocks: number;
  inodes: number;
  inodesUsed: number;
  /** squashfs: inodes whose mtime lay outside 1970–2106 and was clamped to it. */
  clampedTimes?: number;
}

class NoSpace extends Error {}

interface Geometry {
  blocks: number;
  bpg: number;
  groups: number;
  ipg: number;
  /** Inode table blocks per group. */
  itb: number;
  gdtBlocks: number;
  /** [start, end) of the primary and backup superblock + descriptor copies. */
  reserved: Array<[number, number]>;
  backupGroups: number[];
}

function isPowerOf(n: number, base: number): boolean {
  while (n % base === 0) n /= base;
  return n === 1;
}

function hasBackup(group: number): boolean {
  return group === 1 || (group > 1 && (isPowerOf(group, 3) || isPowerOf(group, 5) || isPowerOf(group, 7)));
}

function geometry(blocks: number, inodes: number): Geometry {
  let bpg = MAX_BPG;
  const groupsForInodes = Math.ceil(inodes / MAX_BPG);
  if (Math.ceil(blocks / bpg) < groupsForInodes) bpg = Math.max(256, Math.floor(blocks / groupsForInodes / 8) * 8);
  const groups = Math.max(1, Math.ceil(blocks / bpg));
  const ipg = Math.min(MAX_BPG, Math.max(16, Math.ceil(inodes / groups / 16) * 16));
  const gdtBlocks = Math.ceil((groups * GD_SIZE) / BS);
  const backupGroups: number[] = [];
  const reserved: Array<[number, number]> = [[0, 1 + gdtBlocks]];
  for (let g = 1; g < groups; g++) {
    if (!hasBackup(g)) continue;
    backupGroups.push(g);
    reserved.push([g * bpg, g * bpg + 1 + gdtBlocks]);
  }
  return { blocks, bpg, groups, ipg, itb: (ipg * INODE_SIZE) / BS, gdtBlocks, reserved, backupGroups };
}

function metadataBlocks(g: Geometry): number {
  return (1 + g.gdtBlocks) * (1 + g.backupGroups.length) + g.groups * (2 + g.itb);
}

/** Blocks handed out in increasing order, stepping over the reserved ranges. */
class Allocator {
  private next = 0;
  constructor(
    private cursor: number,
    private readonly end: number,
    private readonly reserved: Array<[number, number]>,
  ) {}

  private skip(): void {
    for (;;) {
      while (this.next < this.reserved.length && this.reserved[this.next]![1] <= this.cursor) this.next++;
      const r = this.reserved[this.next];
      if (r === undefined || r[0] > this.cursor) return;
      this.cursor = r[1];
    }
  }

  /** n blocks in one piece. */
  contiguous(n: number): number {
    for (;;) {
      this.skip();
      const r = this.reserved[this.next];
      if (r !== undefined && this.cursor + n > r[0]) {
        this.cursor = r[1];
        continue;
      }
      if (this.cursor + n > this.end) throw new NoSpace();
      const start = this.cursor;
      this.cursor += n;
      return start;
    }
  }

  /** n blocks for file blocks from `logical` on, as extents of at most MAX_EXTENT appended to `out` as (logical, start, length) triples. */
  run(n: number, logical: number, out: number[]): void {
    while (n > 0) {
      this.skip();
      const limit = Math.min(this.reserved[this.next]?.[0] ?? this.end, this.end);
      const len = Math.min(n, limit - this.cursor, MAX_EXTENT);
      if (len <= 0) throw new NoSpace();
      out.push(logical, this.cursor, len);
      this.cursor += len;
      logical += len;
      n -= len;
    }
  }
}

/** A directory entry's length: 8 bytes of header and the name, padded to 4. */
function recLen(nameLen: number): number {
  return (8 + nameLen + 3) & ~3;
}

/** Blocks a linear directory of these names takes ("." and ".." first; entries never span blocks). */
function dirBlockCount(children: Array<{ name: string }>, minimum: number): number {
  let blocks = 1;
  let off = 24;
  for (const c of children) {
    const n = recLen(c.name.length);
    if (off + n > BS) {
      blocks++;
      off = 0;
    }
    off += n;
  }
  return Math.max(blocks, minimum);
}


interface Placement {
  /** Extents as (logical block, first block, length) triples; a hole between two maps no block. */
  runs: number[];
  blocks: number;
  leafStart: number;
  leafCount: number;
}

/**
 * Every inode's placement. Most inodes are one extent from logical block 0 with no leaf block: those
 * are two numbers in typed arrays (a million-entry tree would otherwise hold a million small objects
 * through the whole write); the rest are kept whole.
 */
class Places {
  private readonly first: Float64Array;
  private readonly count: Uint32Array;
  private readonly other = new Map<number, Placement>();

  constructor(size: number) {
    this.first = new Float64Array(size);
    this.count = new Uint32Array(size);
  }

  set(ino: number, p: Placement): void {
    if (p.runs.length === 3 && p.runs[0] === 0 && p.leafCount === 0) {
      this.first[ino] = p.runs[1]!;
      this.count[ino] = p.runs[2]!;
    } else this.other.set(ino, p);
  }

  get(ino: number): Placement | undefined {
    const n = this.count[ino]!;
    if (n === 0) return this.other.get(ino);
    return { runs: [0, this.first[ino]!, n], blocks: n, leafStart: 0, leafCount: 0 };
  }
}

interface Layout {
  g: Geometry;
  inodes: number;
  blockBitmaps: number[];
  inodeBitmaps: number[];
  inodeTables: number[];
  places: Places;
  /** Used blocks per group and the bitmaps themselves. */
  bitmaps: Uint8Array[];
  usedPerGroup: number[];
}

/** The tree numbered for ext4, with lost+found (inode 11) unless the image has its own. */
function ext4Plan(tree: MergedTree, time: number): { plan: TreePlan; lostFound: boolean } {
  const lostFound = !tree.root.children.has('lost+found');
  const plan = planTree(tree, ROOT_INO, lostFound ? FIRST_INO + 1 : FIRST_INO);
  if (lostFound) {
    plan.inodes[LOST_FOUND_INO] = { ino: LOST_FOUND_INO, node: new Dir(0o700, 0, 0, time, -1, false), parent: ROOT_INO, nlink: 2, children: [], path: 'lost+found/' };
    const root = plan.inodes[ROOT_INO]!;
    root.nlink++;
    const at = root.children!.findIndex((c) => c.name > 'lost+found');
    root.children!.splice(at < 0 ? root.children!.length : at, 0, { name: 'lost+found', ino: LOST_FOUND_INO });
  }
  return { plan, lostFound };
}

/**
 * The file blocks an inode maps, as [start, end) pairs: a sparse file's whole-block holes are left
 * out (no extent, no block, read as zeros). A sparse map so fragmented that its extents would pass
 * what one index level holds is stored dense instead (its holes written as zeros).
 */
function rangesOf(rec: FsInode): number[] {
  const node = rec.node;
  let blocks = 0;
  if (node instanceof Dir) blocks = dirBlockCount(rec.children!, rec.ino === LOST_FOUND_INO ? LOST_FOUND_BLOCKS : 1);
  else if (node.type === 'file') {
    const ranges = dataBlockRanges(node, BS);
    if (ranges.length / 2 <= MAX_SPARSE_RANGES) return ranges;
    blocks = Math.ceil(node.size / BS);
  } else if (node.type === 'symlink') {
    if (node.linkname.length > BS - 1) throw new LayerfoldError('UNSUPPORTED', `${showName(rec.path)}: a symlink target of ${node.linkname.length} bytes; ext4 holds at most ${BS - 1}`);
    blocks = node.linkname.length > FAST_SYMLINK_MAX ? 1 : 0;
  }
  return blocks > 0 ? [0, blocks] : [];
}

function countBlocks(ranges: number[]): number {
  let n = 0;
  for (let i = 0; i < ranges.length; i += 2) n += ranges[i + 1]! - ranges[i]!;
  return n;
}

function leafBlocksFor(extents: number): number {
  return extents > 4 ? Math.ceil(extents / LEAF_MAX) : 0;
}

/** Place every block; NoSpace when the geometry is too small. */
function layOut(plan: TreePlan, g: Geometry, inodes: number): Layout {
  const alloc = new Allocator(0, g.blocks, g.reserved);
  const blockBitmaps: number[] = [];
  const inodeBitmaps: number[] = [];
  const inodeTables: number[] = [];
  for (let i = 0; i < g.groups; i++) blockBitmaps.push(alloc.contiguous(1));
  for (let i = 0; i < g.groups; i++) inodeBitmaps.push(alloc.contiguous(1));
  for (let i = 0; i < g.groups; i++) inodeTables.push(alloc.contiguous(g.itb));
  const bitmaps: Uint8Array[] = [];
  const usedPerGroup: number[] = [];
  for (let i = 0; i < g.groups; i++) {
    bitmaps.push(new Uint8Array(BS));
    usedPerGroup.push(0);
  }
  const mark = (start: number, len: number) => {
    for (let b = start; b < start + len; ) {
      const group = Math.floor(b / g.bpg);
      const end = Math.min(start + len, (group + 1) * g.bpg);
      setBits(bitmaps[group]!, b - group * g.bpg, end - group * g.bpg);
      usedPerGroup[group]! += end - b;
      b = end;
    }
  };
  for (const [s, e] of g.reserved) mark(s, e - s);
  for (let i = 0; i < g.groups; i++) {
    mark(blockBitmaps[i]!, 1);
    mark(inodeBitmaps[i]!, 1);
    mark(inodeTables[i]!, g.itb);
  }
  const places = new Places(plan.nextIno);
  for (let ino = 1; ino < plan.nextIno; ino++) {
    const rec = plan.inodes[ino];
    if (rec === undefined) continue;
    const ranges = rangesOf(rec);
    if (ranges.length === 0) continue;
    const runs: number[] = [];
    for (let i = 0; i < ranges.length; i += 2) alloc.run(ranges[i + 1]! - ranges[i]!, ranges[i]!, runs);
    const blocks = countBlocks(ranges);
    const leafCount = leafBlocksFor(runs.length / 3);
    if (leafCount > 4) throw new LayerfoldError('UNSUPPORTED', `${showName(rec.path)}: ${runs.length / 3} extents; this writer maps at most ${4 * LEAF_MAX} (about 170 GiB) per file`);
    const p: Placement = { runs, blocks, leafStart: leafCount > 0 ? alloc.contiguous(leafCount) : 0, leafCount };
    places.set(ino, p);
    for (let i = 0; i < runs.length; i += 3) mark(runs[i + 1]!, runs[i + 2]!);
    if (leafCount > 0) mark(p.leafStart, leafCount);
  }
  // Bits past the last block of the last group (and of the bitmap block) are set, as e2fsck expects.
  const lastGroupBlocks = g.blocks - (g.groups - 1) * g.bpg;
  setBits(bitmaps[g.groups - 1]!, lastGroupBlocks, BS * 8);
  for (let i = 0; i < g.groups - 1; i++) setBits(bitmaps[i]!, g.bpg, BS * 8);
  return { g, inodes, blockBitmaps, inodeBitmaps, inodeTables, places, bitmaps, usedPerGroup };
}

function setBits(map: Uint8Array, from: number, to: number): void {
  let i = from;
  while (i < to && (i & 7) !== 0) map[i >> 3]! |= 1 << (i & 7), i++;
  if (i + 8 <= to) {
    map.fill(0xff, i >> 3, (to >> 3));
    i = to & ~7;
  }
  while (i < to) map[i >> 3]! |= 1 << (i & 7), i++;
}

/** Choose the size: fixed, or the smallest geometry holding the data plus the headroom. */
function chooseLayout(plan: TreePlan, options: Ext4Options): Layout {
  const used = plan.nextIno - 1;
  let data = 0;
  for (const rec of plan.inodes) {
    if (rec === undefined) continue;
    const ranges = rangesOf(rec);
    const b = countBlocks(ranges);
    data += b + leafBlocksFor(ranges.length / 2 + Math.ceil(b / MAX_EXTENT) + 1);
    if (!(rec.node instanceof Dir) && rec.nlink > LINK_MAX) throw new LayerfoldError('UNSUPPORTED', `${showName(rec.path)}: ${rec.nlink} names; ext4 holds at most ${LINK_MAX} links to a file`);
  }
  if (options.inodes !== undefined && options.inodes < used) {
    throw new LayerfoldError('USAGE', `--inodes ${options.inodes}: the tree needs ${used} (with the 11 ext4 reserves)`);
  }
  if (options.size !== undefined) {
    const blocks = Math.floor(options.size / BS);
    const inodes = options.inodes ?? defaultInodes(used, data, Math.max(0, blocks - data), blocks * BS);
    try {
      return layOut(plan, geometry(blocks, inodes), inodes);
    } catch (e) {
      if (!(e instanceof NoSpace)) throw e;
      const need = chooseLayout(plan, { ...options, size: undefined, free: { bytes: 0 } }).g.blocks * BS;
      throw new LayerfoldError('LIMIT', `--size ${formatSize(options.size)} is too small: the tree needs at least ${formatSize(need)} as ext4`);
    }
  }
  const free = freeBlocks(data, options.free, BS);
  let blocks = data + free;
  let inodes = 0;
  for (let i = 0; i < 64; i++) {
    inodes = options.inodes ?? defaultInodes(used, data, free, blocks * BS);
    const want = data + free + metadataBlocks(geometry(blocks, inodes));
    if (want <= blocks) break;
    blocks = want;
  }
  for (;;) {
    let g = geometry(blocks, inodes);
    // A last group too small to hold its own backup superblock is not worth having.
    const tail = blocks - (g.groups - 1) * g.bpg;
    if (g.groups > 1 && hasBackup(g.groups - 1) && tail < 2 + g.gdtBlocks) g = geometry((blocks = (g.groups - 1) * g.bpg + 2 + g.gdtBlocks), inodes);
    try {
      return layOut(plan, g, inodes);
    } catch (e) {
      if (!(e instanceof NoSpace)) throw e;
      blocks += Math.ceil(blocks / 100) + 16;
    }
  }
}

function putTime(buf: Buffer, off: number, extraOff: number, t: number): void {
  const secs = Math.floor(t);
  const lo = ((secs % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const signedLo = lo >= 2 ** 31 ? lo - 2 ** 32 : lo;
  buf.writeUInt32LE(lo, off);
  buf.writeUInt32LE(((secs - signedLo) / 2 ** 32) & 3, extraOff);
}

/** ext4_xattr_hash_entry: the name's bytes, then the value's 32-bit words. */
function xattrHash(name: Buffer, value: Buffer): number {
  let hash = 0;
  for (const c of name) hash = ((hash << 5) ^ (hash >>> 27) ^ c) >>> 0;
  const padded = Buffer.alloc((value.length + 3) & ~3);
  value.copy(padded);
  for (let i = 0; i < padded.length; i += 4) hash = ((hash << 16) ^ (hash >>> 16) ^ padded.readUInt32LE(i)) >>> 0;
  return hash;
}

const CAP_NAME = Buffer.from('capability');
const XATTR_START = 128 + EXTRA_ISIZE;

/** `security.capability` in the inode body: magic, one entry, end marker, the value at the end. */
function putCapability(buf: Buffer, base: number, value: Buffer, path: string): void {
  const first = base + XATTR_START + 4;
  const valueAt = base + INODE_SIZE - ((value.length + 3) & ~3);
  if (valueAt < first + 16 + 12 + 4) throw new LayerfoldError('UNSUPPORTED', `${showName(path)}: a security.capability of ${value.length} bytes does not fit in the inode`);
  buf.writeUInt32LE(0xea020000, base + XATTR_START);
  buf.writeUInt8(CAP_NAME.length, first);
  buf.writeUInt8(6, first + 1); // EXT4_XATTR_INDEX_SECURITY
  buf.writeUInt16LE(valueAt - first, first + 2);
  buf.writeUInt32LE(0, first + 4);
  buf.writeUInt32LE(value.length, first + 8);
  buf.writeUInt32LE(xattrHash(CAP_NAME, value), first + 12);
  CAP_NAME.copy(buf, first + 16);
  value.copy(buf, valueAt);
}

function putExtentHeader(buf: Buffer, off: number, entries: number, max: number, depth: number): void {
  buf.writeUInt16LE(0xf30a, off);
  buf.writeUInt16LE(entries, off + 2);
  buf.writeUInt16LE(max, off + 4);
  buf.writeUInt16LE(depth, off + 6);
  buf.writeUInt32LE(0, off + 8);
}

/** Extents [from, to) of `runs` (triple indexes), written at off. */
function putExtents(buf: Buffer, off: number, runs: number[], from: number, to: number): void {
  for (let i = from; i < to; i += 3) {
    buf.writeUInt32LE(runs[i]!, off);
    buf.writeUInt16LE(runs[i + 2]!, off + 4);
    buf.writeUInt16LE(Math.floor(runs[i + 1]! / 2 ** 32), off + 6);
    buf.writeUInt32LE(runs[i + 1]! % 2 ** 32, off + 8);
    off += 12;
  }
}

/** Leaf blocks of a file with more than four extents. */
function leafBlocks(p: Placement): Buffer {
  const out = Buffer.alloc(p.leafCount * BS);
  for (let leaf = 0; leaf < p.leafCount; leaf++) {
    const from = leaf * LEAF_MAX * 3;
    const to = Math.min(p.runs.length, from + LEAF_MAX * 3);
    putExtentHeader(out, leaf * BS, (to - from) / 3, LEAF_MAX, 0);
    putExtents(out, leaf * BS + 12, p.runs, from, to);
  }
  return out;
}

function putInode(buf: Buffer, base: number, rec: FsInode, p: Placement | undefined, time: number): void {
  const node = rec.node;
  const kind = kindOf(node);
  buf.writeUInt16LE(MODE_TYPE[kind]! | (node.mode & 0o7777), base);
  buf.writeUInt16LE(node.uid & 0xffff, base + 2);
  buf.writeUInt16LE(node.gid & 0xffff, base + 24);
  buf.writeUInt16LE(Math.floor(node.uid / 65536) & 0xffff, base + 120);
  buf.writeUInt16LE(Math.floor(node.gid / 65536) & 0xffff, base + 122);
  // The root has no entry in an export: without one of its own it takes the image's time.
  const mtime = rec.ino === ROOT_INO && node.mtime === 0 ? time : node.mtime;
  for (const [off, extra] of [[8, 140], [12, 132], [16, 136], [144, 148]] as const) putTime(buf, base + off, base + extra, mtime);
  const nlink = node instanceof Dir && rec.nlink >= LINK_MAX ? 1 : rec.nlink;
  buf.writeUInt16LE(nlink, base + 26);
  let size = 0;
  if (node instanceof Dir) size = (p?.blocks ?? 0) * BS;
  else if (node.type === 'file') size = node.size;
  else if (node.type === 'symlink') size = node.linkname.length;
  buf.writeUInt32LE(size % 2 ** 32, base + 4);
  buf.writeUInt32LE(Math.floor(size / 2 ** 32), base + 108);
  const sectors = ((p?.blocks ?? 0) + (p?.leafCount ?? 0)) * (BS / 512);
  buf.writeUInt32LE(sectors % 2 ** 32, base + 28);
  buf.writeUInt16LE(Math.floor(sectors / 2 ** 32), base + 116);
  buf.writeUInt16LE(EXTRA_ISIZE, base + 128);
  const iblock = base + 40;
  if (kind === 'char' || kind === 'block') {
    const n = node as Inode;
    if (n.devmajor < 256 && n.devminor < 256) buf.writeUInt32LE((n.devmajor << 8) | n.devminor, iblock);
    else buf.writeUInt32LE(((n.devminor & 0xff) | (n.devmajor << 8) | ((n.devminor & ~0xff) << 12)) >>> 0, iblock + 4);
  } else if (kind === 'symlink' && p === undefined) {
    Buffer.from((node as Inode).linkname, 'latin1').copy(buf, iblock);
  } else if (kind !== 'fifo') {
    buf.writeUInt32LE(EXTENTS_FL, base + 32);
    const runs = p?.runs ?? [];
    if (p !== undefined && p.leafCount > 0) {
      putExtentHeader(buf, iblock, p.leafCount, 4, 1);
      for (let leaf = 0; leaf < p.leafCount; leaf++) {
        const at = iblock + 12 + leaf * 12;
        buf.writeUInt32LE(runs[leaf * LEAF_MAX * 3]!, at); // the leaf's first logical block
        buf.writeUInt32LE((p.leafStart + leaf) % 2 ** 32, at + 4);
        buf.writeUInt16LE(Math.floor((p.leafStart + leaf) / 2 ** 32), at + 8);
      }
    } else {
      putExtentHeader(buf, iblock, runs.length / 3, 4, 0);
      putExtents(buf, iblock + 12, runs, 0, runs.length);
    }
  }
  if (node.capability) putCapability(buf, base, node.capability, rec.path);
}

/** A directory's blocks: ".", "..", the children, each block's last entry reaching its end. */
function dirBlocks(rec: FsInode, plan: TreePlan, blocks: number): Buffer {
  const out = Buffer.alloc(blocks * BS);
  let off = 0;
  let last = -1;
  const put = (ino: number, name: string, type: number) => {
    const n = recLen(name.length);
    if ((off % BS) + n > BS) {
      out.writeUInt16LE(BS - (last % BS), last + 4);
      off = Math.ceil(off / BS) * BS;
    }
    out.writeUInt32LE(ino, off);
    out.writeUInt16LE(n, off + 4);
    out.writeUInt8(name.length, off + 6);
    out.writeUInt8(type, off + 7);
    out.write(name, off + 8, 'latin1');
    last = off;
    off += n;
  };
  put(rec.ino, '.', 2);
  put(rec.parent, '..', 2);
  for (const c of rec.children!) put(c.ino, c.name, FILE_TYPE[kindOf(plan.inodes[c.ino]!.node)]!);
  out.writeUInt16LE(BS - (last % BS), last + 4);
  // Blocks kept beyond the entries (lost+found's) hold one empty entry each.
  for (let b = Math.floor(last / BS) + 1; b < blocks; b++) out.writeUInt16LE(BS, b * BS + 4);
  return out;
}

function superblock(layout: Layout, plan: TreePlan, options: Ext4Options, group: number, freeBlockCount: number): Buffer {
  const { g } = layout;
  const sb = Buffer.alloc(1024);
  const seed = createHash('sha256').update('layerfold ext4\0').update(options.seed).digest();
  const inodes = g.ipg * g.groups;
  sb.writeUInt32LE(inodes, 0);
  sb.writeUInt32LE(g.blocks % 2 ** 32, 4);
  sb.writeUInt32LE(0, 8);
  sb.writeUInt32LE(freeBlockCount, 12);
  sb.writeUInt32LE(inodes - (plan.nextIno - 1), 16);
  sb.writeUInt32LE(0, 20); // first data block
  sb.writeUInt32LE(2, 24); // log2(block size) - 10
  sb.writeUInt32LE(2, 28);
  sb.writeUInt32LE(g.bpg, 32);
  sb.writeUInt32LE(g.bpg, 36);
  sb.writeUInt32LE(g.ipg, 40);
  sb.writeUInt32LE(0, 44); // never mounted
  sb.writeUInt32LE(options.time >>> 0, 48);
  sb.writeUInt16LE(0, 52);
  sb.writeInt16LE(-1, 54); // no mount-count check
  sb.writeUInt16LE(0xef53, 56);
  sb.writeUInt16LE(1, 58); // clean
  sb.writeUInt16LE(1, 60); // errors: continue
  sb.writeUInt32LE(options.time >>> 0, 64); // last check
  sb.writeUInt32LE(0, 68);
  sb.writeUInt32LE(0, 72); // Linux
  sb.writeUInt32LE(1, 76); // dynamic revision
  sb.writeUInt32LE(FIRST_INO, 84);
  sb.writeUInt16LE(INODE_SIZE, 88);
  sb.writeUInt16LE(group, 90);
  sb.writeUInt32LE(FEATURES.compat, 92);
  sb.writeUInt32LE(FEATURES.incompat, 96);
  sb.writeUInt32LE(FEATURES.roCompat, 100);
  seed.copy(sb, 104, 0, 16);
  sb[104 + 6] = (sb[104 + 6]! & 0x0f) | 0x40; // a version-4-shaped UUID
  sb[104 + 8] = (sb[104 + 8]! & 0x3f) | 0x80;
  seed.copy(sb, 236, 16, 32); // dir_index hash seed
  sb.writeUInt8(1, 252); // half_md4
  sb.writeUInt32LE(0x000c, 256); // default mount options: user_xattr, acl (as mke2fs)
  sb.writeUInt32LE(options.time >>> 0, 264); // mkfs time
  sb.writeUInt16LE(EXTRA_ISIZE, 348);
  sb.writeUInt16LE(EXTRA_ISIZE, 350);
  sb.writeUInt32LE(0x2, 352); // unsigned directory hash, whatever the writer's char
  sb.writeUInt8(Math.max(4, Math.ceil(Math.log2(g.groups))), 372); // one flex group holds all metadata
  return sb;
}

function groupDescriptors(layout: Layout, plan: TreePlan): Buffer {
  const { g } = layout;
  const out = Buffer.alloc(g.gdtBlocks * BS);
  const lastIno = plan.nextIno - 1;
  const dirs = new Array<number>(g.groups).fill(0);
  for (const rec of plan.inodes) if (rec !== undefined && rec.node instanceof Dir) dirs[Math.floor((rec.ino - 1) / g.ipg)]!++;
  for (let i = 0; i < g.groups; i++) {
    const groupBlocks = Math.min(g.bpg, g.blocks - i * g.bpg);
    const usedInodes = Math.min(g.ipg, Math.max(0, lastIno - i * g.ipg));
    const at = i * GD_SIZE;
    out.writeUInt32LE(layout.blockBitmaps[i]!, at);
    out.writeUInt32LE(layout.inodeBitmaps[i]!, at + 4);
    out.writeUInt32LE(layout.inodeTables[i]!, at + 8);
    out.writeUInt16LE(groupBlocks - layout.usedPerGroup[i]!, at + 12);
    out.writeUInt16LE(g.ipg - usedInodes, at + 14);
    out.writeUInt16LE(dirs[i]!, at + 16);
  }
  return out;
}

function inodeBitmap(layout: Layout, plan: TreePlan, group: number): Buffer {
  const map = Buffer.alloc(BS);
  const used = Math.min(layout.g.ipg, Math.max(0, plan.nextIno - 1 - group * layout.g.ipg));
  setBits(map, 0, used);
  setBits(map, layout.g.ipg, BS * 8);
  return map;
}

export interface Ext4Result extends FsSummary {
  type: 'ext4';
}

/** Write `tree` as an ext4 image to `target`; `beforeFinish` is awaited before it is renamed into place. */
export async function writeExt4(tree: MergedTree, layers: LayerData[], target: string, options: Ext4Options, beforeFinish: () => Promise<void>): Promise<Ext4Result> {
  const { plan } = ext4Plan(tree, options.time);
  const layout = chooseLayout(plan, options);
  const { g } = layout;
  const out = new ImageFile(target, g.blocks * BS);
  try {
    const stage = new Stager(out, layers);
    for (let ino = 1; ino < plan.nextIno; ino++) {
      const p = layout.places.get(ino);
      if (p === undefined) continue;
      await writeData(stage, plan.inodes[ino]!, plan, p, layers);
    }
    await stage.drain();
    for (let i = 0; i < g.groups; i++) {
      const table = Buffer.alloc(g.ipg * INODE_SIZE);
      const first = i * g.ipg + 1;
      for (let ino = first; ino < Math.min(first + g.ipg, plan.nextIno); ino++) {
        const rec = plan.inodes[ino];
        if (rec !== undefined) putInode(table, (ino - first) * INODE_SIZE, rec, layout.places.get(ino), options.time);
      }
      await out.writeAt(table, layout.inodeTables[i]! * BS);
      await out.writeAt(Buffer.from(layout.bitmaps[i]!.buffer), layout.blockBitmaps[i]! * BS);
      await out.writeAt(inodeBitmap(layout, plan, i), layout.inodeBitmaps[i]! * BS);
    }
    const used = layout.usedPerGroup.reduce((a, b) => a + b, 0);
    const free = g.blocks - used;
    const gdt = groupDescriptors(layout, plan);
    for (const group of [0, ...g.backupGroups]) {
      const start = group * g.bpg * BS;
      await out.writeAt(superblock(layout, plan, options, group, free), start + (group === 0 ? 1024 : 0));
      await out.writeAt(gdt, start + BS);
    }
    await beforeFinish();
    out.finish();
    return { type: 'ext4', bytes: g.blocks * BS, blockSize: BS, blocks: g.blocks, freeBlocks: free, inodes: g.ipg * g.groups, inodesUsed: plan.nextIno - 1 };
  } catch (e) {
    out.abort();
    throw e;
  }
}

async function writeData(stage: Stager, rec: FsInode, plan: TreePlan, p: Placement, layers: LayerData[]): Promise<void> {
  const node = rec.node;
  if (node instanceof Dir) {
    await writeRuns(stage, p.runs, dirBlocks(rec, plan, p.blocks));
  } else if (node.type === 'symlink') {
    const block = Buffer.alloc(BS);
    block.write(node.linkname, 0, 'latin1');
    await writeRuns(stage, p.runs, block);
  } else {
    const layer = layers[node.layer]!;
    const what = () => `layer ${layer.index} (${layer.label}) entry ${showName(rec.path)}`;
    for (let i = 0; i < p.runs.length; i += 3) {
      const pos = p.runs[i]! * BS; // in the file
      await stage.seek(p.runs[i + 1]! * BS);
      const bytes = Math.min(node.size - pos, p.runs[i + 2]! * BS);
      await stage.copyInode(node, pos, bytes, what);
      await stage.zeros(p.runs[i + 2]! * BS - bytes);
    }
  }
  if (p.leafCount > 0) {
    await stage.seek(p.leafStart * BS);
    await stage.put(leafBlocks(p));
  }
}

async function writeRuns(stage: Stager, runs: number[], bytes: Buffer): Promise<void> {
  let off = 0;
  for (let i = 0; i < runs.length; i += 3) {
    await stage.seek(runs[i + 1]! * BS);
    const len = runs[i + 2]! * BS;
    for (let done = 0; done < len; done += 1024 * 1024) await stage.put(bytes.subarray(off + done, off + Math.min(len, done + 1024 * 1024)));
    off += len;
  }
}
