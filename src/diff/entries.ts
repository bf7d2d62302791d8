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
  /** The entries, packed; their hard-link groups' names are `entries.groups`. */
  entries: EntryList;
  /** False when the side cannot say what xattrs its entries have (a directory without the xattr addon). */
  xattrsKnown: boolean;
  /** Image sides: what `docker create` would add or touch on this image (for --ignore-init). */
  initFootprint?: InitFootprint;
}

/**
 * A side read as it is compared, never held whole: an image's tree walk or a directory's walk,
 * which give each path once, in walk order. `groups` gathers the hard-link names as the entries go
 * by (complete once `entries` is done); `close` lets go of what the side holds open (an image's
 * layer files), also when the comparison stops early.
 */
export interface SideStream {
  input: string;
  kind: SideKind;
  compression: Compression;
  entries: Iterable<DiffEntry>;
  groups: EntryList;
  xattrsKnown: boolean;
  initFootprint?: InitFootprint;
  close(): void;
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

const TYPE_CODES: readonly EntryType[] = ['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket'];
const TYPE_CODE = new Map(TYPE_CODES.map((t, i) => [t, i]));
const STAND_IN = 1;
const XATTRS_UNKNOWN = 2;
/** The type code takes the low 3 bits of its byte, the flags the bits above. */
const TYPE_MASK = 0b111;
const FLAG_SHIFT = 3;
/** digestAt: no digest (not a file) / the empty file's digest / else a 32-byte record. */
const NO_DIGEST = -1;
const EMPTY = -2;

type Narrow = Uint16Array | Uint32Array | Int32Array;

/**
 * A column of numbers in a narrow typed array; the rare value that does not fit (a uid past 2^32, a
 * size past 4 GiB, a fractional or far mtime) is the column's sentinel there and itself in a map.
 */
class NarrowColumn<T extends Narrow> {
  private values: T;
  private readonly wide = new Map<number, number>();

  constructor(
    private readonly make: new (n: number) => T,
    private readonly min: number,
    /** The largest value of the array type: it marks a value kept in `wide`. */
    private readonly sentinel: number,
  ) {
    this.values = new make(0);
  }

  grow(capacity: number): void {
    const next = new this.make(capacity);
    next.set(this.values);
    this.values = next;
  }

  set(i: number, v: number): void {
    if (Number.isInteger(v) && v >= this.min && v < this.sentinel) {
      this.values[i] = v;
      this.wide.delete(i);
    } else {
      this.values[i] = this.sentinel;
      this.wide.set(i, v);
    }
  }

  get(i: number): number {
    const v = this.values[i]!;
    return v === this.sentinel ? this.wide.get(i)! : v;
  }
}

/** Path bytes are addressed by Uint32 offsets (a Buffer holds at most 4 GiB anyway). */
const MAX_PATH_BYTES = 0xffffffff;

/**
 * One side's entries, packed: paths as latin1 bytes in one buffer, each field in a typed column as
 * narrow as its usual values (uid, gid, size in 32 bits, mode in 16, the rare wider value in a map),
 * the rare fields (link targets, device numbers, xattrs, hard-link groups) in maps by index. A
 * DiffEntry object cost ~190 bytes an entry (fields, path string, digest string); the columns were
 * 54 bytes an entry and are 27 (plus the path), so that a list held beside a million-entry tree (a
 * diff of two images) stays well within 500 MB. Entries go in and come out as DiffEntry objects made on
 * demand (`add`, `at`), so readers and the comparison deal in plain entries.
 *
 * Hard-link groups: `groups` holds each group's names by group id (`link`, `join`).
 */
export class EntryList {
  readonly groups: string[][] = [];
  private readonly groupOf = new Map<unknown, number>();
  private n = 0;
  private capacity = 0;
  private pathBytes: Buffer = Buffer.alloc(0);
  private pathEnd = 0;
  private pathStart = new Uint32Array(1);
  /** The type's code, and the flags above it (STAND_IN, XATTRS_UNKNOWN shifted by FLAG_SHIFT). */
  private type = new Uint8Array(0);
  private readonly mode = new NarrowColumn(Uint16Array, 0, 0xffff);
  private readonly uid = new NarrowColumn(Uint32Array, 0, 0xffffffff);
  private readonly gid = new NarrowColumn(Uint32Array, 0, 0xffffffff);
  private readonly size = new NarrowColumn(Uint32Array, 0, 0xffffffff);
  private readonly mtime = new NarrowColumn(Int32Array, -0x80000000, 0x7fffffff);
  /** Hard-link group by index, for the few entries in one. */
  private readonly group = new Map<number, number>();
  private digestAt = new Int32Array(0);
  private digests: Buffer = Buffer.alloc(0);
  private digestCount = 0;
  private readonly links = new Map<number, string>();
  private readonly devices = new Map<number, [number, number]>();
  private readonly xattrs = new Map<number, ReadonlyMap<string, string>>();
  /** Open-addressing table path → index of its last entry (idx + 1; 0 is empty), when asked for. */
  private table: Int32Array | undefined;
  private tableUsed = 0;

  get length(): number {
    return this.n;
  }

  private grow(): void {
    // half as much again, not twice: the slack of a column is a quarter on average, not half
    const capacity = Math.max(1024, Math.ceil(this.capacity * 1.5));
    const wider = <T extends Float64Array | Int32Array | Uint32Array | Uint8Array>(old: T, make: new (n: number) => T, extra = 0): T => {
      const next = new make(capacity + extra);
      next.set(old);
      return next;
    };
    this.pathStart = wider(this.pathStart, Uint32Array, 1);
    this.type = wider(this.type, Uint8Array);
    for (const column of [this.mode, this.uid, this.gid, this.size, this.mtime]) column.grow(capacity);
    this.digestAt = wider(this.digestAt, Int32Array);
    this.capacity = capacity;
  }

  private reserve(buf: Buffer, used: number, more: number): Buffer {
    if (used + more <= buf.length) return buf;
    if (used + more > MAX_PATH_BYTES) throw new LayerfoldError('LIMIT', `the entries' names (or digests) pass ${MAX_PATH_BYTES} bytes`);
    const next = Buffer.allocUnsafe(Math.max(1 << 16, Math.min(MAX_PATH_BYTES, Math.ceil((used + more) * 1.5))));
    buf.copy(next, 0, 0, used);
    return next;
  }

  add(entry: DiffEntry): void {
    if (this.n === this.capacity) this.grow();
    const i = this.n++;
    const bytes = Buffer.byteLength(entry.path, 'latin1');
    this.pathBytes = this.reserve(this.pathBytes, this.pathEnd, bytes);
    this.pathEnd += this.pathBytes.write(entry.path, this.pathEnd, 'latin1');
    this.pathStart[i + 1] = this.pathEnd;
    this.type[i] = TYPE_CODE.get(entry.type)! | (((entry.standInMtime ? STAND_IN : 0) | (entry.xattrsUnknown ? XATTRS_UNKNOWN : 0)) << FLAG_SHIFT);
    this.mode.set(i, entry.mode);
    this.uid.set(i, entry.uid);
    this.gid.set(i, entry.gid);
    this.size.set(i, entry.size);
    this.mtime.set(i, entry.mtime);
    if (entry.group >= 0) this.group.set(i, entry.group);
    this.digestAt[i] = this.storeDigest(entry.digest);
    if (entry.link !== '') this.links.set(i, entry.link);
    if (entry.devmajor !== 0 || entry.devminor !== 0) this.devices.set(i, [entry.devmajor, entry.devminor]);
    if (entry.xattrs.size > 0) this.xattrs.set(i, entry.xattrs);
    if (this.table) this.index(i);
  }

  private storeDigest(digest: string): number {
    if (digest === '') return NO_DIGEST;
    if (digest === EMPTY_DIGEST) return EMPTY;
    this.digests = this.reserve(this.digests, this.digestCount * 32, 32);
    this.digests.write(digest, this.digestCount * 32, 32, 'hex');
    return this.digestCount++;
  }

  /** Entry `i`, as a new object. */
  at(i: number): DiffEntry {
    const d = this.digestAt[i]!;
    const device = this.devices.get(i);
    const entry: DiffEntry = {
      path: this.path(i),
      type: this.typeOf(i),
      mode: this.mode.get(i),
      uid: this.uid.get(i),
      gid: this.gid.get(i),
      size: this.size.get(i),
      digest: d === NO_DIGEST ? '' : d === EMPTY ? EMPTY_DIGEST : this.digests.toString('hex', d * 32, d * 32 + 32),
      link: this.links.get(i) ?? '',
      devmajor: device?.[0] ?? 0,
      devminor: device?.[1] ?? 0,
      mtime: this.mtime.get(i),
      xattrs: this.xattrs.get(i) ?? NO_XATTRS,
      group: this.groupOfEntry(i),
      standInMtime: (this.flagsOf(i) & STAND_IN) !== 0,
    };
    if (this.flagsOf(i) & XATTRS_UNKNOWN) entry.xattrsUnknown = true;
    return entry;
  }

  path(i: number): string {
    return this.pathBytes.toString('latin1', this.pathStart[i]!, this.pathStart[i + 1]!);
  }

  typeOf(i: number): EntryType {
    return TYPE_CODES[this.type[i]! & TYPE_MASK]!;
  }

  private flagsOf(i: number): number {
    return this.type[i]! >> FLAG_SHIFT;
  }

  groupOfEntry(i: number): number {
    return this.group.get(i) ?? -1;
  }

  /** How many entries a directory side could not read the xattrs of. */
  xattrsUnknownCount(): number {
    let count = 0;
    for (let i = 0; i < this.n; i++) if (this.flagsOf(i) & XATTRS_UNKNOWN) count++;
    return count;
  }

  /**
   * Walk order of entry i of this list against entry j of `other` (walkCompare on the bytes, no
   * strings made).
   */
  compare(i: number, other: EntryList, j: number): number {
    const x = this.pathBytes;
    const y = other.pathBytes;
    let p = this.pathStart[i]!;
    const pEnd = this.pathStart[i + 1]!;
    let q = other.pathStart[j]!;
    const qEnd = other.pathStart[j + 1]!;
    for (; p < pEnd && q < qEnd; p++, q++) {
      const c = x[p]!;
      const d = y[q]!;
      if (c !== d) return (c === 47 ? -1 : c) - (d === 47 ? -1 : d);
    }
    return pEnd - p - (qEnd - q);
  }

  /** True when the paths are strictly in walk order (so each is there once). */
  inWalkOrder(): boolean {
    for (let i = 1; i < this.n; i++) if (this.compare(i - 1, this, i) >= 0) return false;
    return true;
  }

  private hashOf(i: number): number {
    let h = 0x811c9dc5;
    for (let p = this.pathStart[i]!, end = this.pathStart[i + 1]!; p < end; p++) h = Math.imul(h ^ this.pathBytes[p]!, 0x01000193);
    return h >>> 0;
  }

  private samePath(i: number, path: string): boolean {
    const start = this.pathStart[i]!;
    if (this.pathStart[i + 1]! - start !== path.length) return false;
    for (let k = 0; k < path.length; k++) if (this.pathBytes[start + k] !== path.charCodeAt(k)) return false;
    return true;
  }

  /** Keep a path index from now on (and for the entries already in), for `find`. */
  indexPaths(): void {
    if (this.table) return;
    this.table = new Int32Array(1024);
    this.tableUsed = 0;
    for (let i = 0; i < this.n; i++) this.index(i);
  }

  private index(i: number): void {
    let table = this.table!;
    if ((this.tableUsed + 1) * 2 > table.length) {
      const old = table;
      table = this.table = new Int32Array(old.length * 2);
      this.tableUsed = 0;
      for (const slot of old) if (slot !== 0) this.place(slot - 1, this.hashOf(slot - 1));
    }
    this.place(i, this.hashOf(i));
  }

  private place(i: number, hash: number): void {
    const table = this.table!;
    const mask = table.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const slot = table[s]!;
      if (slot === 0) {
        table[s] = i + 1;
        this.tableUsed++;
        return;
      }
      if (this.compare(slot - 1, this, i) === 0) {
        table[s] = i + 1; // a later entry of the same path replaces it
        return;
      }
    }
  }

  /** Index of the last entry named `path`, or -1 (after indexPaths). */
  find(path: string): number {
    const table = this.table!;
    const mask = table.length - 1;
    let h = 0x811c9dc5;
    for (let k = 0; k < path.length; k++) h = Math.imul(h ^ path.charCodeAt(k), 0x01000193);
    for (let s = (h >>> 0) & mask; ; s = (s + 1) & mask) {
      const slot = table[s]!;
      if (slot === 0) return -1;
      if (this.samePath(slot - 1, path)) return slot - 1;
    }
  }

  /** Put `entry` in the hard-link group of entry `target`, making one when it has none yet. */
  join(entry: DiffEntry, target: number): void {
    let id = this.groupOfEntry(target);
    if (id === -1) {
      id = this.newGroup(undefined);
      this.groups[id]!.push(this.path(target));
      this.group.set(target, id);
    }
    this.groups[id]!.push(entry.path);
    entry.group = id;
  }

  private newGroup(key: unknown): number {
    const id = this.groups.length;
    this.groups.push([]);
    if (key !== undefined) this.groupOf.set(key, id);
    return id;
  }

  /** Put `entry` (not added yet) in the hard-link group identified by `key` (an inode). */
  link(entry: DiffEntry, key: unknown): void {
    const id = this.groupOf.get(key) ?? this.newGroup(key);
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

export function entryError(path: string, message: string): LayerfoldError {
  return new LayerfoldError('BAD_ENTRY', `entry ${showName(path)}: ${message}`);
}
