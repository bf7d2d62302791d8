/**
 * A squashfs 4.0 image written from the merged tree, without mksquashfs.
 *
 * Layout: superblock (96 bytes) | file data | inode table | directory table | id table | xattr table,
 * the file padded to 4 KiB. File data comes first, in walk order: each file in 128 KiB blocks
 * compressed one by one (gzip = zlib streams, or zstd), a block stored raw when compression does not
 * shrink it; no fragments (a file's tail is a short block of its own). Inodes and directory listings
 * are metadata streams cut into 8 KiB blocks, each compressed and preceded by its 16-bit size; they
 * are written children first (post-order), so that a listing knows where each child's inode lies and
 * a directory's inode where its listing lies. A hard-link group is one inode (the extended type, with
 * its link count) that several entries name. `security.capability` goes into the xattr table, owners
 * into the id table. Inode numbers are walk order from 1 (the root), so the same tree gives the
 * same bytes.
 */
import { readFileBytes } from '../file-data.js';
import { deflateSync } from 'node:zlib';
import { zstdSync } from '../../io/compression.js';
import { LayerfoldError, showName } from '../../errors.js';
import { alignedBuffer } from '../../io/aligned.js';
import type { LayerData } from '../../read/layers.js';
import { Dir, type Inode, type MergedTree } from '../../tree/node.js';
import { LayerReads, readFully, SMALL_FILE } from '../stage.js';
import type { FsSummary } from './ext4.js';
import { ImageFile, Stager } from './image-file.js';
import { planTree, type FsInode, type TreePlan } from './tree-plan.js';
import { BATCH, BlockPool, defaultWorkers, UNCOMPRESSED_DATA, type Batch } from './squashfs-blocks.js';

const BLOCK = 128 * 1024;
const BLOCK_LOG = 17;
const META = 8192;
const SUPER = 96;
const INVALID = 0xffffffffffffffffn;
const NO_XATTR = 0xffffffff;
const NO_FRAGMENT = 0xffffffff;

export type SquashCompression = 'gzip' | 'zstd';

export interface SquashfsOptions {
  compression: SquashCompression;
  /** Superblock time (the image's created time). */
  time: number;
  /** Worker threads compressing data blocks (0: this thread); default by the tree's size. The bytes are the same for any count. */
  workers?: number;
}

type Compress = (input: Buffer) => Buffer;

/** gzip at zlib's default level 6, zstd at its default 3: mksquashfs's 9 and 15 cost 2–5× the time for a few % of size. */
const GZIP_LEVEL = 6;

/** Metadata blocks' compression (data blocks go through the pool, squashfs-blocks.ts). */
function compressorFor(kind: SquashCompression): Compress {
  if (kind === 'gzip') return (input) => deflateSync(input, { level: GZIP_LEVEL });
  // zstd's default level (3), through whichever backend this Node has (io/compression.ts)
  return (input) => zstdSync.compress(input);
}

/** A metadata stream: 8 KiB blocks compressed as they fill; positions as (block start, offset). */
class MetaStream {
  private block = Buffer.alloc(META);
  private used = 0;
  private readonly chunks: Buffer[] = [];
  /** Bytes of finished (compressed) blocks, headers included. */
  length = 0;
  /** Start of each finished block, relative to the stream. */
  readonly blockStarts: number[] = [];
  constructor(private readonly compress: Compress) {}

  /** Where the next byte goes: (start of its block relative to the stream) << 16 | offset. */
  ref(): { block: number; offset: number } {
    return { block: this.length, offset: this.used };
  }

  write(bytes: Buffer): void {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, META - this.used);
      bytes.copy(this.block, this.used, off, off + n);
      this.used += n;
      off += n;
      if (this.used === META) this.seal();
    }
  }

  private seal(): void {
    const raw = this.block.subarray(0, this.used);
    const packed = this.compress(raw);
    const stored = packed.length < raw.length ? packed : Buffer.from(raw);
    const header = Buffer.alloc(2);
    header.writeUInt16LE(stored.length | (stored === packed ? 0 : 0x8000));
    this.blockStarts.push(this.length);
    this.chunks.push(header, stored);
    this.length += 2 + stored.length;
    this.used = 0;
  }

  /** Seal the last block; the stream's bytes. */
  finish(): Buffer {
    if (this.used > 0) this.seal();
    return Buffer.concat(this.chunks);
  }
}

const BASIC_TYPE: Record<string, number> = { dir: 1, file: 2, symlink: 3, block: 4, char: 5, fifo: 6 };
const EXTENDED = 7;

/** Where a file's data went. */
interface FileData {
  start: number;
  sizes: number[];
  /** The fragment block holding the file's tail, and where in it (uncompressed). */
  fragment: number;
  fragmentOffset: number;
}

/** Everything writeData placed: each file's blocks, and each fragment block (its `sizes` one entry). */
interface DataLayout {
  data: Map<number, FileData>;
  fragments: FileData[];
  end: number;
}

interface InodeRef {
  block: number;
  offset: number;
  type: number;
}

function squashTime(rec: FsInode, tables: Tables): number {
  // The root has no entry in an export: without one of its own it takes the image's time.
  const t = rec.ino === 1 && rec.node.mtime === 0 ? tables.time : Math.floor(rec.node.mtime);
  // squashfs stores unsigned 32-bit seconds: a time outside 1970–2106 is clamped (and counted)
  if (t < 0 || t > 0xffffffff) tables.clampedTimes++;
  return Math.min(Math.max(t, 0), 0xffffffff);
}

/** Where each block of a batch belongs. */
interface Pending {
  batch: Batch;
  owners: FileData[];
  sizes: Promise<number[]>;
}

/**
 * Write file data: each file's blocks from position 96 on, in walk order. Blocks are read into batches
 * that the pool compresses (on worker threads) while later ones are read; batches are written strictly
 * in order, so positions and the per-file size lists come out the same whatever the timing.
 */
async function writeData(plan: TreePlan, layers: LayerData[], out: ImageFile, pool: BlockPool): Promise<DataLayout> {
  const stage = new Stager(out, layers);
  await stage.seek(SUPER);
  let pos = SUPER;
  const data = new Map<number, FileData>();
  const reads = layers.map((l) => new LayerReads(l.fd, l.base + l.size));
  const queue: Pending[] = [];
  const settle = async () => {
    const head = queue.shift()!;
    const sizes = await head.sizes;
    let at = 0;
    sizes.forEach((size, i) => {
      const entry = head.owners[i]!;
      if (entry.sizes.length === 0) entry.start = pos + at;
      entry.sizes.push(size);
      at += size & ~UNCOMPRESSED_DATA;
    });
    await stage.put(head.batch.output.subarray(0, at));
    pos += at;
    pool.release(head.batch);
  };
  let batch: Batch | undefined;
  let owners: FileData[] = [];
  const submit = () => {
    if (!batch || batch.lengths.length === 0) return;
    const sizes = pool.pack(batch);
    sizes.catch(() => undefined); // awaited in order by settle
    queue.push({ batch, owners, sizes });
    batch = undefined;
    owners = [];
  };
  /** Room for an n-byte block at the end of the current batch. */
  const room = async (n: number): Promise<Batch> => {
    if (batch && batch.used + n > BATCH) submit();
    while (!batch) {
      batch = pool.take();
      if (!batch) await settle();
    }
    return batch;
  };
  const add = (b: Batch, n: number, owner: FileData) => {
    b.used += n;
    b.lengths.push(n);
    owners.push(owner);
  };
  // the fragment block being filled: files' tails (and whole files under a block) back to back
  const fragment = alignedBuffer(BLOCK);
  let fragmentUsed = 0;
  const fragments: FileData[] = [];
  const sealFragment = async () => {
    if (fragmentUsed === 0) return;
    const b = await room(fragmentUsed);
    fragment.copy(b.input, b.used, 0, fragmentUsed);
    const owner: FileData = { start: 0, sizes: [], fragment: NO_FRAGMENT, fragmentOffset: 0 };
    add(b, fragmentUsed, owner);
    fragments.push(owner);
    fragmentUsed = 0;
  };
  for (let ino = 1; ino < plan.nextIno; ino++) {
    const rec = plan.inodes[ino]!;
    const node = rec.node;
    if (node instanceof Dir || node.type !== 'file' || node.size === 0) continue;
    const layer = layers[node.layer]!;
    const entry: FileData = { start: 0, sizes: [], fragment: NO_FRAGMENT, fragmentOffset: 0 };
    data.set(ino, entry);
    const read = (done: number, buf: Buffer, off: number, n: number) => {
      const ok = node.sparse !== undefined ? readFileBytes(layer.fd, node, done, buf, off, n) : n <= SMALL_FILE ? reads[node.layer]!.copySmall(buf, off, node.dataOffset + done, n) : readFully(layer.fd, buf, off, n, node.dataOffset + done);
      if (!ok) throw new LayerfoldError('BAD_LAYER', `layer ${layer.index} (${layer.label}) entry ${showName(rec.path)}: data ends early`);
    };
    const whole = node.size - (node.size % BLOCK);
    for (let done = 0; done < whole; done += BLOCK) {
      const b = await room(BLOCK);
      read(done, b.input, b.used, BLOCK);
      add(b, BLOCK, entry);
    }
    const tail = node.size - whole;
    if (tail === 0) continue;
    if (fragmentUsed + tail > BLOCK) await sealFragment();
    read(whole, fragment, fragmentUsed, tail);
    entry.fragment = fragments.length;
    entry.fragmentOffset = fragmentUsed;
    fragmentUsed += tail;
  }
  await sealFragment();
  submit();
  while (queue.length > 0) await settle();
  await stage.drain();
  return { data, fragments, end: pos };
}

class Tables {
  readonly inodes: MetaStream;
  readonly dirs: MetaStream;
  readonly kv: MetaStream;
  private readonly ids = new Map<number, number>();
  private readonly xattrIds = new Map<string, number>();
  readonly xattrEntries: Array<{ ref: bigint; size: number }> = [];
  clampedTimes = 0;
  constructor(
    compress: Compress,
    readonly time: number,
  ) {
    this.inodes = new MetaStream(compress);
    this.dirs = new MetaStream(compress);
    this.kv = new MetaStream(compress);
  }

  id(value: number): number {
    let i = this.ids.get(value);
    if (i === undefined) {
      i = this.ids.size;
      if (i >= 65536) throw new LayerfoldError('UNSUPPORTED', 'more than 65536 distinct owners: squashfs holds no more');
      this.ids.set(value, i);
    }
    return i;
  }

  idList(): number[] {
    return [...this.ids.keys()];
  }

  /** The xattr index of a `security.capability` value (each distinct value stored once). */
  capability(value: Buffer): number {
    const key = value.toString('hex');
    let i = this.xattrIds.get(key);
    if (i === undefined) {
      i = this.xattrEntries.length;
      const at = this.kv.ref();
      const name = Buffer.from('capability');
      const pair = Buffer.alloc(4 + name.length + 4 + value.length);
      pair.writeUInt16LE(2, 0); // security.
      pair.writeUInt16LE(name.length, 2);
      name.copy(pair, 4);
      pair.writeUInt32LE(value.length, 4 + name.length);
      value.copy(pair, 8 + name.length);
      this.kv.write(pair);
      this.xattrEntries.push({ ref: (BigInt(at.block) << 16n) | BigInt(at.offset), size: pair.length });
      this.xattrIds.set(key, i);
    }
    return i;
  }
}

function header(type: number, rec: FsInode, tables: Tables): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16LE(type, 0);
  h.writeUInt16LE(rec.node.mode & 0o7777, 2);
  h.writeUInt16LE(tables.id(rec.node.uid), 4);
  h.writeUInt16LE(tables.id(rec.node.gid), 6);
  h.writeUInt32LE(squashTime(rec, tables), 8);
  h.writeUInt32LE(rec.ino, 12);
  return h;
}

function u32s(...values: number[]): Buffer {
  return u32List(values);
}

/** A list as u32s: a file's block sizes or the id table can be longer than a call's arguments may be. */
function u32List(values: readonly number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
  return b;
}

function writeLeafInode(rec: FsInode, tables: Tables, data: Map<number, FileData>): InodeRef {
  const node = rec.node as Inode;
  const at = tables.inodes.ref();
  const xattr = node.capability ? tables.capability(node.capability) : NO_XATTR;
  const basic = BASIC_TYPE[node.type]!;
  const extended = xattr !== NO_XATTR;
  let body: Buffer;
  let type = basic;
  if (node.type === 'file') {
    const d = data.get(rec.ino) ?? { start: 0, sizes: [], fragment: NO_FRAGMENT, fragmentOffset: 0 };
    if (!extended && rec.nlink === 1 && d.start + node.size < 2 ** 32 && node.size < 2 ** 32) {
      body = Buffer.concat([u32s(d.start, d.fragment, d.fragmentOffset, node.size), u32List(d.sizes)]);
    } else {
      type = basic + EXTENDED;
      const b = Buffer.alloc(40);
      b.writeBigUInt64LE(BigInt(d.start), 0);
      b.writeBigUInt64LE(BigInt(node.size), 8);
      b.writeBigUInt64LE(0n, 16);
      b.writeUInt32LE(rec.nlink, 24);
      b.writeUInt32LE(d.fragment, 28);
      b.writeUInt32LE(d.fragmentOffset, 32);
      b.writeUInt32LE(xattr, 36);
      body = Buffer.concat([b, u32List(d.sizes)]);
    }
  } else if (node.type === 'symlink') {
    const target = Buffer.from(node.linkname, 'latin1');
    body = Buffer.concat([u32s(rec.nlink, target.length), target, ...(extended ? [u32s(xattr)] : [])]);
    if (extended) type += EXTENDED;
  } else if (node.type === 'char' || node.type === 'block') {
    const dev = (node.devminor & 0xff) | (node.devmajor << 8) | ((node.devminor & ~0xff) << 12);
    body = u32s(rec.nlink, dev, ...(extended ? [xattr] : []));
    if (extended) type += EXTENDED;
  } else {
    body = u32s(rec.nlink, ...(extended ? [xattr] : []));
    if (extended) type += EXTENDED;
  }
  tables.inodes.write(Buffer.concat([header(type, rec, tables), body]));
  return { ...at, type: basic };
}

/** A directory's listing: runs of at most 256 entries whose inodes share a metadata block and lie within ±32767 of the run's number. */
function writeListing(rec: FsInode, refs: Map<number, InodeRef>, tables: Tables): number {
  const children = rec.children!;
  let size = 0;
  for (let i = 0; i < children.length; ) {
    const first = refs.get(children[i]!.ino)!;
    const base = children[i]!.ino;
    let j = i;
    while (j < children.length && j - i < 256) {
      const r = refs.get(children[j]!.ino)!;
      if (r.block !== first.block || Math.abs(children[j]!.ino - base) > 32767) break;
      j++;
    }
    const parts: Buffer[] = [u32s(j - i - 1, first.block, base)];
    for (let k = i; k < j; k++) {
      const c = children[k]!;
      const r = refs.get(c.ino)!;
      const name = Buffer.from(c.name, 'latin1');
      const e = Buffer.alloc(8);
      e.writeUInt16LE(r.offset, 0);
      e.writeInt16LE(c.ino - base, 2);
      e.writeUInt16LE(r.type, 4);
      e.writeUInt16LE(name.length - 1, 6);
      parts.push(e, name);
    }
    const run = Buffer.concat(parts);
    tables.dirs.write(run);
    size += run.length;
    i = j;
  }
  return size;
}

function writeDirInode(rec: FsInode, listing: { block: number; offset: number }, size: number, parent: number, tables: Tables): InodeRef {
  const node = rec.node as Dir;
  const at = tables.inodes.ref();
  const xattr = node.capability ? tables.capability(node.capability) : NO_XATTR;
  if (xattr === NO_XATTR && size + 3 < 65536) {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(listing.block, 0);
    b.writeUInt32LE(rec.nlink, 4);
    b.writeUInt16LE(size + 3, 8);
    b.writeUInt16LE(listing.offset, 10);
    b.writeUInt32LE(parent, 12);
    tables.inodes.write(Buffer.concat([header(1, rec, tables), b]));
  } else {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(rec.nlink, 0);
    b.writeUInt32LE(size + 3, 4);
    b.writeUInt32LE(listing.block, 8);
    b.writeUInt32LE(parent, 12);
    b.writeUInt16LE(0, 16); // no index
    b.writeUInt16LE(listing.offset, 18);
    b.writeUInt32LE(xattr, 20);
    tables.inodes.write(Buffer.concat([header(8, rec, tables), b]));
  }
  return { ...at, type: 1 };
}

/** Inodes and listings children first, without recursion (trees can be deep). */
function writeMetadata(plan: TreePlan, tables: Tables, data: Map<number, FileData>): InodeRef {
  const refs = new Map<number, InodeRef>();
  const root = plan.inodes[plan.rootIno]!;
  const stack: Array<{ rec: FsInode; next: number }> = [{ rec: root, next: 0 }];
  let rootRef: InodeRef | undefined;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const children = top.rec.children!;
    if (top.next < children.length) {
      const child = plan.inodes[children[top.next++]!.ino]!;
      if (refs.has(child.ino)) continue; // a second name of a hard-linked inode
      if (child.node instanceof Dir) stack.push({ rec: child, next: 0 });
      else refs.set(child.ino, writeLeafInode(child, tables, data));
      continue;
    }
    stack.pop();
    const listing = tables.dirs.ref();
    const size = writeListing(top.rec, refs, tables);
    const parent = top.rec === root ? plan.nextIno : top.rec.parent;
    const ref = writeDirInode(top.rec, listing, size, parent, tables);
    refs.set(top.rec.ino, ref);
    if (top.rec === root) rootRef = ref;
  }
  return rootRef!;
}

/** A lookup table: its entries in metadata blocks at `start`, then the list of their positions. */
function lookupTable(entries: Buffer, start: number, compress: Compress): { blocks: Buffer; list: Buffer; listAt: number } {
  const stream = new MetaStream(compress);
  stream.write(entries);
  const blocks = stream.finish();
  const list = Buffer.alloc(stream.blockStarts.length * 8);
  stream.blockStarts.forEach((s, i) => list.writeBigUInt64LE(BigInt(start + s), i * 8));
  return { blocks, list, listAt: start + blocks.length };
}

export interface SquashfsResult extends FsSummary {
  type: 'squashfs';
  /** Inodes whose mtime lay outside 1970–2106 and was clamped to it. */
  clampedTimes: number;
}

export async function writeSquashfs(tree: MergedTree, layers: LayerData[], target: string, options: SquashfsOptions, beforeFinish: () => Promise<void>): Promise<SquashfsResult> {
  const plan = planTree(tree, 1, 2);
  const compress = compressorFor(options.compression);
  const out = new ImageFile(target, 0);
  const pool = new BlockPool(options.compression, GZIP_LEVEL, options.workers ?? defaultWorkers(dataBytes(plan)));
  try {
    const { data, fragments, end } = await writeData(plan, layers, out, pool);
    pool.close();
    const tables = new Tables(compress, options.time);
    const rootRef = writeMetadata(plan, tables, data);
    const inodeStart = end;
    const inodeBytes = tables.inodes.finish();
    const dirStart = inodeStart + inodeBytes.length;
    const dirBytes = tables.dirs.finish();
    // the fragment table: (start, stored size) of each fragment block, as a lookup table
    const entries = Buffer.alloc(fragments.length * 16);
    fragments.forEach((f, i) => {
      entries.writeBigUInt64LE(BigInt(f.start), i * 16);
      entries.writeUInt32LE(f.sizes[0]!, i * 16 + 8);
    });
    const frag = lookupTable(entries, dirStart + dirBytes.length, compress);
    const idStart = frag.listAt + frag.list.length;
    const idList = tables.idList();
    const id = lookupTable(u32List(idList), idStart, compress);
    const tail: Buffer[] = [inodeBytes, dirBytes, frag.blocks, frag.list, id.blocks, id.list];
    let pos = id.listAt + id.list.length;
    let xattrAt = INVALID;
    if (tables.xattrEntries.length > 0) {
      // key/value blocks, then the lookup table's blocks, then its header with their positions
      const kvStart = pos;
      const kv = tables.kv.finish();
      const entries = Buffer.alloc(tables.xattrEntries.length * 16);
      tables.xattrEntries.forEach((x, i) => {
        entries.writeBigUInt64LE(x.ref, i * 16);
        entries.writeUInt32LE(1, i * 16 + 8);
        entries.writeUInt32LE(x.size, i * 16 + 12);
      });
      const ids = lookupTable(entries, kvStart + kv.length, compress);
      const head = Buffer.alloc(16);
      head.writeBigUInt64LE(BigInt(kvStart), 0);
      head.writeUInt32LE(tables.xattrEntries.length, 8);
      tail.push(kv, ids.blocks, head, ids.list);
      xattrAt = BigInt(ids.listAt);
      pos = ids.listAt + head.length + ids.list.length;
    }
    const sb = Buffer.alloc(SUPER);
    sb.writeUInt32LE(0x73717368, 0);
    sb.writeUInt32LE(plan.nextIno - 1, 4);
    sb.writeUInt32LE(options.time >>> 0, 8);
    sb.writeUInt32LE(BLOCK, 12);
    sb.writeUInt32LE(fragments.length, 16);
    sb.writeUInt16LE(options.compression === 'gzip' ? 1 : 6, 20);
    sb.writeUInt16LE(BLOCK_LOG, 22);
    sb.writeUInt16LE((fragments.length === 0 ? 0x0010 : 0x0020) | (tables.xattrEntries.length === 0 ? 0x0200 : 0), 24); // no fragments, or tails too in fragments; no xattrs
    sb.writeUInt16LE(idList.length, 26);
    sb.writeUInt16LE(4, 28);
    sb.writeUInt16LE(0, 30);
    sb.writeBigUInt64LE((BigInt(rootRef.block) << 16n) | BigInt(rootRef.offset), 32);
    sb.writeBigUInt64LE(BigInt(pos), 40);
    sb.writeBigUInt64LE(BigInt(id.listAt), 48);
    sb.writeBigUInt64LE(xattrAt, 56);
    sb.writeBigUInt64LE(BigInt(inodeStart), 64);
    sb.writeBigUInt64LE(BigInt(dirStart), 72);
    sb.writeBigUInt64LE(fragments.length === 0 ? INVALID : BigInt(frag.listAt), 80); // fragment table
    sb.writeBigUInt64LE(INVALID, 88); // export table
    await out.writeAt(Buffer.concat(tail), end);
    await out.writeAt(sb, 0);
    const padded = Math.ceil(pos / 4096) * 4096;
    out.setLength(padded);
    await beforeFinish();
    out.finish();
    return { type: 'squashfs', bytes: padded, blockSize: BLOCK, blocks: Math.ceil(pos / BLOCK), freeBlocks: 0, inodes: plan.nextIno - 1, inodesUsed: plan.nextIno - 1, clampedTimes: tables.clampedTimes };
  } catch (e) {
    out.abort();
    throw e;
  } finally {
    pool.close();
  }
}

/** File bytes in the tree (each inode once). */
function dataBytes(plan: TreePlan): number {
  let sum = 0;
  for (let ino = 1; ino < plan.nextIno; ino++) {
    const node = plan.inodes[ino]!.node;
    if (!(node instanceof Dir) && node.type === 'file') sum += node.size;
  }
  return sum;
}
