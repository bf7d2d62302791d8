/**
 * The merged filesystem tree: metadata and references to data, never data.
 *
 * A directory is a `Dir` with its children by name (names are raw bytes as latin1 strings). Anything
 * else is an `Inode`; the names of a hard-link group are several map entries holding the same Inode
 * object, so a change through one name (a later hardlink entry's owner, mode, mtime) is seen through
 * all, and a name that is replaced simply stops pointing at it while the others keep its bytes.
 */
import type { SparseSegment } from '../tar/sparse.js';
import type { DefaultAcl } from './acl.js';

export type InodeType = 'file' | 'symlink' | 'char' | 'block' | 'fifo';

/** What few inodes have (other names, a symlink's target, device numbers, a capability, sparse segments). */
interface InodeExtra {
  linked: boolean;
  linkname: string;
  devmajor: number;
  devminor: number;
  capability: Buffer | undefined;
  sparse: readonly SparseSegment[] | undefined;
}

export class Inode {
  /**
   * The rare fields, made when one is set to something other than its default: an Inode is 96
   * bytes rather than 136, 40 MB less on a million-entry tree (BENCHMARKS.md, "Big trees").
   */
  private extra: InodeExtra | undefined = undefined;
  constructor(
    public type: InodeType,
    public mode: number,
    public uid: number,
    public gid: number,
    public mtime: number,
    /** Bytes of a regular file; 0 otherwise. */
    public size: number,
    linkname: string,
    devmajor: number,
    devminor: number,
    /** Index of the layer that made it; layers.length means `docker create`. */
    public layer: number,
    /** Absolute offset of the data in that layer's file. */
    public dataOffset: number,
  ) {
    if (linkname !== '' || devmajor !== 0 || devminor !== 0) this.extra = { linked: false, linkname, devmajor, devminor, capability: undefined, sparse: undefined };
  }

  private more(): InodeExtra {
    return (this.extra ??= { linked: false, linkname: '', devmajor: 0, devminor: 0, capability: undefined, sparse: undefined });
  }

  /** True once a hardlink entry has given this inode a second name. */
  get linked(): boolean {
    return this.extra?.linked ?? false;
  }
  set linked(value: boolean) {
    if (value || this.extra) this.more().linked = value;
  }
  /** Symlink target (raw bytes). */
  get linkname(): string {
    return this.extra?.linkname ?? '';
  }
  set linkname(value: string) {
    if (value !== '' || this.extra) this.more().linkname = value;
  }
  get devmajor(): number {
    return this.extra?.devmajor ?? 0;
  }
  set devmajor(value: number) {
    if (value !== 0 || this.extra) this.more().devmajor = value;
  }
  get devminor(): number {
    return this.extra?.devminor ?? 0;
  }
  set devminor(value: number) {
    if (value !== 0 || this.extra) this.more().devminor = value;
  }
  get capability(): Buffer | undefined {
    return this.extra?.capability;
  }
  set capability(value: Buffer | undefined) {
    if (value !== undefined || this.extra) this.more().capability = value;
  }
  /** A sparse file's data segments (tar/sparse.ts): `size` bytes, holes read as zeros; undefined when dense. */
  get sparse(): readonly SparseSegment[] | undefined {
    return this.extra?.sparse;
  }
  set sparse(value: readonly SparseSegment[] | undefined) {
    if (value !== undefined || this.extra) this.more().sparse = value;
  }
}

export class Dir {
  readonly children = new Map<string, Node>();
  /** `security.capability` a directory entry carried: the kernel keeps it on a directory, and docker exports it. */
  capability: Buffer | undefined = undefined;
  /** Its `system.posix_acl_default` as the uppermost layer holding it has it (tree/acl.ts): what new inodes in it get. */
  defaultAcl: DefaultAcl | undefined = undefined;
  constructor(
    public mode: number,
    public uid: number,
    public gid: number,
    public mtime: number,
    /** The uppermost layer holding this directory; its metadata comes from there. */
    public layer: number,
    /** Made by docker because a layer needed it without containing it: 0755 0:0, unpack time. */
    public implied: boolean,
  ) {}
}

export type Node = Dir | Inode;

/** A node's metadata as plain data, copied: what `why` shows and apply's changes report. */
export interface NodeState {
  type: 'dir' | InodeType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  /** Symlink target (raw bytes as latin1). */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** The uppermost layer that holds it. */
  layer: number;
  /** A directory docker made because a layer needed it. */
  implied: boolean;
  /** True when the inode has other names (hard links). */
  linked: boolean;
}

export function stateOf(node: Node): NodeState {
  if (node instanceof Dir) {
    return { type: 'dir', mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, size: 0, linkname: '', devmajor: 0, devminor: 0, layer: node.layer, implied: node.implied, linked: false };
  }
  return {
    type: node.type,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    mtime: node.mtime,
    size: node.type === 'file' ? node.size : 0,
    linkname: node.linkname,
    devmajor: node.devmajor,
    devminor: node.devminor,
    layer: node.layer,
    implied: false,
    linked: node.linked,
  };
}

export function isDir(node: Node | undefined): node is Dir {
  return node instanceof Dir;
}

/**
 * A layer as apply reads it: an uncompressed tar at an offset of an open file. The tree owns this
 * interface; src/read's LayerData is one (and a test can build one from a tar in memory).
 */
export interface LayerSource {
  /** Its place, bottom first. */
  index: number;
  fd: number;
  /** Offset of the layer's first byte in fd. */
  base: number;
  /** Uncompressed size. */
  size: number;
  /** Where it came from, for messages. */
  label: string;
}

/** The merged tree of an image, plus what a reader of it needs to know about where data lives. */
export interface MergedTree {
  root: Dir;
  /** Number of image layers applied (an Inode/Dir layer equal to this came from `docker create`). */
  layerCount: number;
}

/** Find a node by its clean path without following symlinks. */
export function lookup(root: Dir, path: string): Node | undefined {
  if (path === '') return root;
  let node: Node = root;
  for (const part of path.split('/')) {
    if (!(node instanceof Dir)) return undefined;
    const next: Node | undefined = node.children.get(part);
    if (next === undefined) return undefined;
    node = next;
  }
  return node;
}
