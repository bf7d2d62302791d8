/**
 * What `diff` compares: every side (a rootfs tar, a directory, an image flattened on the fly) becomes
 * the same list of entries, keyed by clean path, with the fields a root filesystem has — type, mode,
 * owner, size, a sha256 of the content, link target, device numbers, mtime, xattrs — and the hard-link
 * group each name belongs to. Content is hashed while it is read, in fixed-size chunks: file contents
 * are never held in memory, so memory grows with the number of entries only.
 *
 * Rules every side follows:
 * - paths are raw bytes held as latin1 strings, cleaned (no `./`, no leading or trailing `/`); the
 *   root itself is not an entry (`docker export` has none);
 * - mode is the permission bits plus setuid/setgid/sticky (`& 0o7777`): Docker 20.10 writes the type
 *   bits into the mode field too, and the type is a field of its own;
 * - a hard-link group is the set of names sharing one inode; which name a tar stores first is not
 *   compared, only the set.
 */
import { createHash, type Hash } from 'node:crypto';
import { LayerfoldError, showName } from '../errors.js';
import type { Compression } from '../io/compression.js';
import { hashRangeInto } from '../io/hash-pool.js';
import { sparseRuns, type SparseSegment } from '../tar/sparse.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface DiffEntry {
  /** Clean path, raw bytes as latin1, no trailing '/'. */
  path: string;
  type: EntryType;
  /** Permission bits plus setuid, setgid, sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of a regular file; 0 otherwise. */
  size: number;
  /** sha256 (hex) of a regular file's content; '' otherwise. */
  digest: string;
  /** Symlink target (raw bytes as latin1); '' otherwise. */
  link: string;
  devmajor: number;
  devminor: number;
  mtime: number;
  /** Extended attributes, key → raw value (latin1); empty when none (then one shared empty map: replace it, never set into it). */
  xattrs: ReadonlyMap<string, string>;
  /** A directory side could not read this entry's xattrs (its path is not UTF-8): not compared. */
  xattrsUnknown?: boolean;
  /** Hard-link group id (an index into SideEntries.groups), or -1 for a name with no other name. */
  group: number;
  /** The mtime is a stand-in no archive records (an implied directory of an image side). */
  standInMtime: boolean;
}

export type SideKind = 'rootfs-tar' | 'directory' | 'image';

/** The entries of one side, in that side's own order. */
export interface SideEntries {
  /** What the user named. */
  input: string;
  kind: SideKind;
  /** Compression of the input file (rootfs tars and image archives). */
  compression: Compression;
  entries: DiffEntry[];
  /** Names of each hard-link group, by group id. */
  groups: string[][];
  /** False when the side cannot say what xattrs its entries have (a directory without the xattr addon). */
  xattrsKnown: boolean;
  /** Image sides: what `docker create` would add or touch on this image (for --ignore-init). */
  initFootprint?: InitFootprint;
}

/** Paths `docker create` makes (or replaces) and directories whose mtime it changes. */
export interface InitFootprint {
  created: Set<string>;
  touched: Set<string>;
}

export const EMPTY_DIGEST = createHash('sha256').digest('hex');

const HASH_CHUNK = 1 << 20;

/** sha256 of [offset, offset+size) of fd (its full bytes when sparse), by io/hash-pool's range hash. */
export function hashRange(fd: number, offset: number, size: number, what: string, sparse?: readonly SparseSegment[]): string {
  if (size === 0) return EMPTY_DIGEST;
  const hash = createHash('sha256');
  if (!sparse) hashData(hash, fd, offset, size, what);
  else {
    // a sparse file hashes as its full bytes, the holes from one zero buffer, never read  [sparse-gnu-*]
    for (const run of sparseRuns(size, sparse)) {
      if (run.at !== null) hashData(hash, fd, run.at, run.length, what);
      else hashZeros(hash, run.length);
    }
  }
  return hash.digest('hex');
}

function hashData(hash: Hash, fd: number, offset: number, size: number, what: string): void {
  const missing = hashRangeInto([hash], fd, offset, size);
  if (missing > 0) throw new LayerfoldError('BAD_ARCHIVE', `${what}: data ends early (${missing} of ${size} bytes missing)`);
}

let zeroChunk: Buffer | undefined;

function hashZeros(hash: Hash, n: number): void {
  zeroChunk ??= Buffer.alloc(HASH_CHUNK);
  for (; n > 0; n -= HASH_CHUNK) hash.update(n >= HASH_CHUNK ? zeroChunk : zeroChunk.subarray(0, n));
}

/** Builds a SideEntries: keeps the order, and the names of each hard-link group. */
export class EntryList {
  readonly entries: DiffEntry[] = [];
  readonly groups: string[][] = [];
  private readonly groupOf = new Map<unknown, number>();

  add(entry: DiffEntry): void {
    this.entries.push(entry);
  }

  /** Put `entry` in the hard-link group of `target`, making one when `target` has none yet. */
  join(entry: DiffEntry, target: DiffEntry): void {
    if (target.group === -1) this.link(target, target);
    this.groups[target.group]!.push(entry.path);
    entry.group = target.group;
  }

  /** Put `entry` in the hard-link group identified by `key` (an inode). */
  link(entry: DiffEntry, key: unknown): void {
    let id = this.groupOf.get(key);
    if (id === undefined) {
      id = this.groups.length;
      this.groups.push([]);
      this.groupOf.set(key, id);
    }
    this.groups[id]!.push(entry.path);
    entry.group = id;
  }
}

/** Most entries have no xattrs: they share this one empty map (a Map each cost ~100 bytes an entry). */
export const NO_XATTRS: ReadonlyMap<string, string> = new Map();

/** A new entry with every field empty. */
export function blankEntry(path: string, type: EntryType): DiffEntry {
  return { path, type, mode: 0, uid: 0, gid: 0, size: 0, digest: '', link: '', devmajor: 0, devminor: 0, mtime: 0, xattrs: NO_XATTRS, group: -1, standInMtime: false };
}

/**
 * `docker export` order (each directory's names byte-wise, a directory before its children): byte
 * order with '/' below every byte a name holds. Compared in place: the comparator used to make two
 * strings per call (2 million paths, ~80 million strings).
 */
export function walkCompare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return (x === 47 ? -1 : x) - (y === 47 ? -1 : y);
  }
  return a.length - b.length;
}

function inWalkOrder(paths: string[]): boolean {
  for (let i = 1; i < paths.length; i++) if (walkCompare(paths[i - 1]!, paths[i]!) >= 0) return false;
  return true;
}

/**
 * The paths of two sides, each once, in walk order. Each side's list is usually in that order already
 * (an image or a directory always is): then they are merged, without a sort.
 */
export function mergeWalkOrder(a: string[], b: string[]): string[] {
  const x = inWalkOrder(a) ? a : [...new Set(a)].sort(walkCompare);
  const y = inWalkOrder(b) ? b : [...new Set(b)].sort(walkCompare);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    const c = i >= x.length ? 1 : j >= y.length ? -1 : walkCompare(x[i]!, y[j]!);
    if (c <= 0) out.push(x[i]!);
    else out.push(y[j]!);
    if (c <= 0) i++;
    if (c >= 0) j++;
  }
  return out;
}

export function entryError(path: string, message: string): LayerfoldError {
  return new LayerfoldError('BAD_ENTRY', `entry ${showName(path)}: ${message}`);
}
