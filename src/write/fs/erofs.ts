/**
 * An EROFS image (uncompressed) written from the merged tree, without mkfs.erofs.
 *
 * Layout, 4 KiB blocks: block 0 holds the superblock at byte 1024; the metadata area starts at byte
 * 2048 of block 0 (meta_blkaddr 0, so a nid is the inode's byte offset / 32): every inode in walk
 * order, the root first, each an extended (64-byte) inode — 32-bit owners, its own mtime, a 32-bit
 * link count — followed by its inline xattrs (`security.capability`) and padded to 32 bytes. Then
 * the data blocks: each file, directory and symlink stored FLAT_PLAIN (contiguous blocks from
 * raw_blkaddr; the last one partly used). Directory blocks hold dirents (nid, name offset, type)
 * then names, all names of a directory ("." and ".." included) in byte order across its blocks, as
 * the kernel's binary search expects. No tail packing, no compression, no shared xattrs.
 */
import { LayerfoldError, showName } from '../../errors.js';
import type { LayerData } from '../../read/layers.js';
import { Dir, type MergedTree } from '../../tree/node.js';
import type { FsSummary } from './ext4.js';
import { ImageFile, Stager } from './image-file.js';
import { FILE_TYPE, kindOf, MODE_TYPE, planTree } from './tree-plan.js';

const BS = 4096;
const META_START = 2048;
const INODE_SIZE = 64;
const SLOT = 32;
const DIRENT = 12;

export interface ErofsOptions {
  time: number;
  /** 16 bytes of UUID. */
  uuid: Buffer;
}

export interface ErofsResult extends FsSummary {
  type: 'erofs';
}


const CAP_NAME = Buffer.from('capability');

/** Inline xattr bytes of a capability (ibody header + one entry), or an empty buffer. */
function xattrBody(cap: Buffer | undefined): Buffer {
  if (cap === undefined) return Buffer.alloc(0);
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
  name: Buffer;
  nid: number;
  type: number;
}

/** A directory's entries packed into blocks: per block, dirents then names. */
function packDir(entries: Entry[]): Buffer[] {
  const blocks: Buffer[] = [];
  for (let i = 0; i < entries.length; ) {
    let j = i;
    let names = 0;
    while (j < entries.length && (j - i + 1) * DIRENT + names + entries[j]!.name.length <= BS) names += entries[j++]!.name.length;
    const block = Buffer.alloc(BS);
    let nameOff = (j - i) * DIRENT;
    for (let k = i; k < j; k++) {
      const e = entries[k]!;
      const at = (k - i) * DIRENT;
      block.writeBigUInt64LE(BigInt(e.nid), at);
      block.writeUInt16LE(nameOff, at + 8);
      block.writeUInt8(e.type, at + 10);
      e.name.copy(block, nameOff);
      nameOff += e.name.length;
    }
    blocks.push(j === entries.length ? block.subarray(0, nameOff) : block);
    i = j;
  }
  return blocks;
}

export async function writeErofs(tree: MergedTree, layers: LayerData[], target: string, options: ErofsOptions, beforeFinish: () => Promise<void>): Promise<ErofsResult> {
  const plan = planTree(tree, 1, 2);
  const count = plan.nextIno - 1;
  // nids: each inode's offset / 32 from the start of block 0, the root first
  const nid = new Array<number>(plan.nextIno);
  const xattrs = new Array<Buffer>(plan.nextIno);
  let meta = META_START;
  for (let ino = 1; ino < plan.nextIno; ino++) {
    const rec = plan.inodes[ino]!;
    xattrs[ino] = xattrBody(rec.node.capability);
    nid[ino] = meta / SLOT;
    meta += Math.ceil((INODE_SIZE + xattrs[ino]!.length) / SLOT) * SLOT;
  }
  if (nid[1]! > 0xffff) throw new LayerfoldError('UNSUPPORTED', 'erofs: the root inode lies beyond nid 65535');
  // data blocks, in inode order after the metadata
  let block = Math.ceil(meta / BS);
  const start = new Array<number>(plan.nextIno).fill(0);
  const size = new Array<number>(plan.nextIno).fill(0);
  const dirData = new Map<number, Buffer[]>();
  for (let ino = 1; ino < plan.nextIno; ino++) {
    const rec = plan.inodes[ino]!;
    const node = rec.node;
    if (node instanceof Dir) {
      const entries: Entry[] = [
        { name: Buffer.from('.'), nid: nid[ino]!, type: 2 },
        { name: Buffer.from('..'), nid: nid[rec.parent]!, type: 2 },
        ...rec.children!.map((c) => ({ name: Buffer.from(c.name, 'latin1'), nid: nid[c.ino]!, type: FILE_TYPE[kindOf(plan.inodes[c.ino]!.node)]! })),
      ].sort((a, b) => Buffer.compare(a.name, b.name));
      const blocks = packDir(entries);
      dirData.set(ino, blocks);
      size[ino] = (blocks.length - 1) * BS + blocks[blocks.length - 1]!.length;
    } else if (node.type === 'file') {
      size[ino] = node.size;
    } else if (node.type === 'symlink') {
      if (node.linkname.length >= BS) throw new LayerfoldError('UNSUPPORTED', `${showName(rec.path)}: a symlink target of ${node.linkname.length} bytes; erofs holds under ${BS}`);
      size[ino] = node.linkname.length;
    }
    if (size[ino]! > 0) {
      start[ino] = block;
      block += Math.ceil(size[ino]! / BS);
    }
  }
  if (block > 0xffffffff) throw new LayerfoldError('UNSUPPORTED', 'erofs: more than 2^32 blocks');
  const blocks = block;
  const out = new ImageFile(target, blocks * BS);
  try {
    const stage = new Stager(out, layers);
    for (let ino = 1; ino < plan.nextIno; ino++) {
      if (size[ino] === 0) continue;
      const rec = plan.inodes[ino]!;
      const node = rec.node;
      await stage.seek(start[ino]! * BS);
      if (node instanceof Dir) {
        for (const b of dirData.get(ino)!) await stage.put(b);
      } else if (node.type === 'symlink') {
        await stage.put(Buffer.from(node.linkname, 'latin1'));
      } else {
        const layer = layers[node.layer]!;
        let done = 0;
        while (done < node.size) {
          const n = Math.min(node.size - done, 1024 * 1024);
          await stage.copyInode(node, done, n, () => `layer ${layer.index} (${layer.label}) entry ${showName(rec.path)}`);
          done += n;
        }
      }
      await stage.zeros((BS - (size[ino]! % BS)) % BS);
    }
    await stage.drain();
    const metaBytes = Buffer.alloc(meta - META_START);
    for (let ino = 1; ino < plan.nextIno; ino++) {
      const rec = plan.inodes[ino]!;
      const node = rec.node;
      const at = nid[ino]! * SLOT - META_START;
      const x = xattrs[ino]!;
      metaBytes.writeUInt16LE(0x0001, at); // extended inode, FLAT_PLAIN
      metaBytes.writeUInt16LE(x.length === 0 ? 0 : (x.length - 12) / 4 + 1, at + 2);
      metaBytes.writeUInt16LE(MODE_TYPE[kindOf(node)]! | (node.mode & 0o7777), at + 4);
      metaBytes.writeBigUInt64LE(BigInt(size[ino]!), at + 8);
      if (node instanceof Dir || node.type === 'file' || node.type === 'symlink') metaBytes.writeUInt32LE(size[ino]! > 0 ? start[ino]! : 0, at + 16);
      else if (node.type === 'char' || node.type === 'block') metaBytes.writeUInt32LE(((node.devminor & 0xff) | (node.devmajor << 8) | ((node.devminor & ~0xff) << 12)) >>> 0, at + 16);
      metaBytes.writeUInt32LE(ino, at + 20);
      metaBytes.writeUInt32LE(node.uid, at + 24);
      metaBytes.writeUInt32LE(node.gid, at + 28);
      // The root has no entry in an export: without one of its own it takes the image's time.
      const mtime = ino === 1 && node.mtime === 0 ? options.time : Math.floor(node.mtime);
      metaBytes.writeBigInt64LE(BigInt(mtime), at + 32);
      metaBytes.writeUInt32LE(rec.nlink, at + 44);
      x.copy(metaBytes, at + INODE_SIZE);
    }
    await out.writeAt(metaBytes, META_START);
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
    await out.writeAt(sb, 1024);
    await beforeFinish();
    out.finish();
    return { type: 'erofs', bytes: blocks * BS, blockSize: BS, blocks, freeBlocks: 0, inodes: count, inodesUsed: count };
  } catch (e) {
    out.abort();
    throw e;
  }
}
