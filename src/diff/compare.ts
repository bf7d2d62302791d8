/**
 * Compare the entries of two sides: which paths are only in A, only in B, and which fields differ
 * for the paths in both. Rules:
 *
 * - A path stored twice in a tar counts once, with its last entry (what extracting it leaves) and
 *   the position of its first.
 * - A field is compared only when it means something for both entries' types: size and content
 *   digest for regular files, link target for symlinks, device numbers for devices, hard-link group
 *   for non-directories; type, mode, uid, gid, mtime and xattrs always. Hard-link groups are compared
 *   as the sets of names sharing an inode, never by which name a tar stores first.
 * - xattrs are compared only when both sides can tell them (not against a directory).
 * - mtime is not compared on an image side's implied directories (a stand-in time, see image-side.ts).
 * - `ignoreInit` ignores what `docker create` adds: the init-layer paths whatever is on either side,
 *   `etc/` and `dev/` made by it (0755 0:0 on one side, missing or not a directory on the other), the
 *   mtime of `etc/` and `dev/` (it keeps their mode and owner and touches their mtime, FINDINGS.md §1),
 *   and, where a side is an image, everything its create step would make or touch (WorkingDir too).
 * - `order` also compares the order of the paths both sides hold.
 */
import type { Compression } from '../io/compression.js';
import { INIT_PARENT_NAMES, INIT_PATH_NAMES } from '../tree/docker-create.js';
import { xattrAddonProblem } from '../io/xattr.js';
import { walkCompare, type DiffEntry, type EntryList, type EntryType, type InitFootprint, type SideEntries, type SideKind, type SideStream } from './entries.js';

export const FIELDS = ['type', 'mode', 'uid', 'gid', 'size', 'digest', 'link', 'device', 'mtime', 'xattrs', 'hardlinks'] as const;
export type FieldName = (typeof FIELDS)[number];

/** A field's value as shown: mode as octal text, digest as `sha256:…`, names as UTF-8. */
export type FieldValue = string | number | string[] | Record<string, string>;

/** The paths `docker create` adds (moby daemon/initlayer), as in src/tree/docker-create.ts. */
/** docker create's paths and their parents (kept with their mode and owner, mtime touched; made 0755 0:0 when missing). */
export const INIT_PATHS = INIT_PATH_NAMES;
const INIT_PARENTS = INIT_PARENT_NAMES;

export interface CompareOptions {
  /** Fields not compared. */
  ignore?: Iterable<FieldName>;
  ignoreInit?: boolean;
  order?: boolean;
}

export interface SideSummary {
  input: string;
  kind: SideKind;
  compression: Compression;
  entries: number;
}

export interface EntryInfo {
  path: string;
  type: EntryType;
}

export interface FieldDifference {
  field: FieldName;
  a: FieldValue;
  b: FieldValue;
}

export interface EntryDifference {
  path: string;
  /** Type in A (the type in B is in `fields` when it differs). */
  type: EntryType;
  fields: FieldDifference[];
}

export interface OrderDifference {
  /** Position among the paths both sides hold (0-based). */
  index: number;
  a: string;
  b: string;
}

export interface DiffResult {
  a: SideSummary;
  b: SideSummary;
  equal: boolean;
  onlyInA: EntryInfo[];
  onlyInB: EntryInfo[];
  differ: EntryDifference[];
  /** Paths on both sides with no compared field differing. */
  same: number;
  /** Paths left out by --ignore-init. */
  ignored: number;
  /** With `order`: the first place the order differs, or null; without: undefined. */
  order?: OrderDifference | null;
  /** How many differing entries differ in each field. */
  fieldCounts: Partial<Record<FieldName, number>>;
  notes: string[];
}

/** Raw bytes (latin1) as UTF-8 text for people and JSON. */
export function display(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

interface IndexedSide {
  side: SideEntries;
  list: EntryList;
  /** Each path's first entry, in the side's order. */
  order: Int32Array;
  /** The same, in walk order (the same array when the side is in walk order already). */
  sorted: Int32Array;
  /** Each path's last entry (what extracting leaves), by its first entry; undefined when each path is there once. */
  last: Int32Array | undefined;
  /** Sorted names of the group each grouped path is in. */
  groupNames: Map<number, string[]>;
}

function index(side: SideEntries): IndexedSide {
  const list = side.entries;
  const n = list.length;
  let order: Int32Array;
  let sorted: Int32Array;
  let last: Int32Array | undefined;
  if (list.inWalkOrder()) {
    // an image or a directory always is, a tar usually: each path once, no sort
    order = sorted = new Int32Array(n).map((_, i) => i);
  } else {
    list.indexPaths();
    const firsts: number[] = [];
    const seen = new Uint8Array(n);
    last = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const final = list.find(list.path(i));
      if (seen[final] === 1) continue;
      seen[final] = 1;
      firsts.push(i);
      last[i] = final;
    }
    order = Int32Array.from(firsts);
    sorted = Int32Array.from(order).sort((x, y) => list.compare(x, list, y));
  }
  const groupNames = new Map<number, string[]>();
  for (const first of order) {
    const i = last ? last[first]! : first;
    const group = list.groupOfEntry(i);
    if (group < 0) continue;
    let names = groupNames.get(group);
    if (names === undefined) groupNames.set(group, (names = []));
    names.push(list.path(i));
  }
  for (const names of groupNames.values()) names.sort();
  return { side, list, order, sorted, last, groupNames };
}

/** What the comparison needs to know of a side besides its entries. */
interface SideInfo {
  input: string;
  kind: SideKind;
  compression: Compression;
  xattrsKnown: boolean;
  initFootprint?: InitFootprint | undefined;
}

/**
 * One side as the merge reads it: each path once, in walk order, as its final entry. A held side
 * (a list, indexed) or a streamed one (read as it is compared: nothing kept but its hard-link names).
 */
interface Cursor {
  info: SideInfo;
  /** The next path's final entry, or undefined at the end. */
  next(): DiffEntry | undefined;
  /** The first entry (in the list) of the path `next` gave, for --order; -1 for a streamed side. */
  first: number;
  /** Paths read so far (all of them, at the end). */
  count: number;
  /** Entries whose xattrs a directory side could not read (complete at the end). */
  xattrsUnknown(): number;
  /** Sorted names of hard-link group `group` (complete at the end). */
  groupNames(group: number): string[] | undefined;
  /** The held side, for --order. */
  held?: IndexedSide;
}

function heldCursor(side: SideEntries): Cursor {
  const held = index(side);
  let k = 0;
  const cursor: Cursor = {
    info: side,
    held,
    first: -1,
    count: held.order.length,
    next() {
      if (k >= held.sorted.length) return undefined;
      const first = held.sorted[k++]!;
      cursor.first = first;
      return held.list.at(held.last ? held.last[first]! : first);
    },
    xattrsUnknown: () => held.list.xattrsUnknownCount(),
    groupNames: (group) => held.groupNames.get(group),
  };
  return cursor;
}

function streamCursor(side: SideStream): Cursor {
  const it = side.entries[Symbol.iterator]();
  let unknown = 0;
  let names: Map<number, string[]> | undefined;
  const cursor: Cursor = {
    info: side,
    first: -1,
    count: 0,
    next() {
      const r = it.next();
      if (r.done) return undefined;
      cursor.count++;
      if (r.value.xattrsUnknown) unknown++;
      return r.value;
    },
    xattrsUnknown: () => unknown,
    groupNames(group) {
      // asked once the stream is done: the groups are complete then
      names ??= new Map(side.groups.groups.map((g, id) => [id, [...g].sort()]));
      return names.get(group);
    },
  };
  return cursor;
}

const APPLIES: Record<FieldName, (type: EntryType) => boolean> = {
  type: () => true,
  mode: () => true,
  uid: () => true,
  gid: () => true,
  size: (t) => t === 'file',
  digest: (t) => t === 'file',
  link: (t) => t === 'symlink',
  device: (t) => t === 'char' || t === 'block',
  mtime: () => true,
  xattrs: () => true,
  hardlinks: (t) => t !== 'dir',
};

function xattrValue(xattrs: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of [...xattrs.keys()].sort()) out[display(key)] = Buffer.from(xattrs.get(key)!, 'latin1').toString('hex');
  return out;
}

function fieldValue(field: FieldName, entry: DiffEntry, side: Cursor): FieldValue {
  switch (field) {
    case 'type':
      return entry.type;
    case 'mode':
      return `0${entry.mode.toString(8).padStart(3, '0')}`;
    case 'uid':
      return entry.uid;
    case 'gid':
      return entry.gid;
    case 'size':
      return entry.size;
    case 'digest':
      return `sha256:${entry.digest}`;
    case 'link':
      return display(entry.link);
    case 'device':
      return `${entry.devmajor},${entry.devminor}`;
    case 'mtime':
      return entry.mtime;
    case 'xattrs':
      return xattrValue(entry.xattrs);
    case 'hardlinks':
      return (entry.group < 0 ? [entry.path] : (side.groupNames(entry.group) ?? [entry.path])).map(display);
  }
}

/**
 * True when the two entries' raw fields are equal, so their shown values are too (no text made: a
 * million entries compared made several million strings, objects and JSON texts). False means
 * "compare the shown values".
 */
function rawSame(field: FieldName, a: DiffEntry, b: DiffEntry): boolean {
  switch (field) {
    case 'type':
      return a.type === b.type;
    case 'mode':
    case 'uid':
    case 'gid':
    case 'size':
    case 'digest':
    case 'link':
    case 'mtime':
      return a[field] === b[field];
    case 'device':
      return a.devmajor === b.devmajor && a.devminor === b.devminor;
    case 'xattrs':
      return a.xattrs.size === 0 && b.xattrs.size === 0;
    case 'hardlinks':
      return a.group < 0 && b.group < 0 && a.path === b.path; // both [path]
  }
}

function sameValue(x: FieldValue, y: FieldValue): boolean {
  return typeof x === 'object' || typeof y === 'object' ? JSON.stringify(x) === JSON.stringify(y) : x === y;
}


class Comparison {
  private readonly ignore: Set<FieldName>;
  private readonly created = new Set<string>();
  private readonly touched = new Set<string>();
  readonly compareXattrs: boolean;

  constructor(
    private readonly a: Cursor,
    private readonly b: Cursor,
    private readonly options: CompareOptions,
  ) {
    this.ignore = new Set(options.ignore ?? []);
    this.compareXattrs = a.info.xattrsKnown && b.info.xattrsKnown && !this.ignore.has('xattrs');
    const footprints: Array<InitFootprint | undefined> = [a.info.initFootprint, b.info.initFootprint];
    for (const footprint of footprints) {
      footprint?.created.forEach((p) => this.created.add(p));
      footprint?.touched.forEach((p) => this.touched.add(p));
    }
  }

  /** Left out whole by --ignore-init. */
  ignoredByInit(path: string, a: DiffEntry | undefined, b: DiffEntry | undefined): boolean {
    if (!this.options.ignoreInit) return false;
    if (INIT_PATHS.has(path) || this.created.has(path)) return true;
    if (!INIT_PARENTS.has(path) || (a?.type === 'dir' && b?.type === 'dir')) return false;
    const made = a?.type === 'dir' ? a : b?.type === 'dir' ? b : undefined;
    return made !== undefined && made.mode === 0o755 && made.uid === 0 && made.gid === 0;
  }

  private compared(field: FieldName, path: string, a: DiffEntry, b: DiffEntry): boolean {
    if (this.ignore.has(field) || !APPLIES[field](a.type) || !APPLIES[field](b.type)) return false;
    if (field === 'xattrs') return this.compareXattrs && !a.xattrsUnknown && !b.xattrsUnknown;
    if (field === 'mtime') {
      if (a.standInMtime || b.standInMtime) return false;
      if (this.options.ignoreInit && (INIT_PARENTS.has(path) || this.touched.has(path))) return false;
    }
    return true;
  }

  private withoutInit(names: string[]): string[] {
    return names.filter((name) => !INIT_PATHS.has(name) && !this.created.has(name));
  }

  /**
   * The compared fields that differ, but for the hard-link group of a grouped name: a streamed
   * side's groups are only complete at its end (`pendingLinks` says the name must wait for them).
   */
  fields(path: string, a: DiffEntry, b: DiffEntry): FieldDifference[] {
    const out: FieldDifference[] = [];
    for (const field of FIELDS) {
      if (field === 'hardlinks' && this.pendingLinks(path, a, b)) continue;
      const difference = this.field(field, path, a, b);
      if (difference) out.push(difference);
    }
    return out;
  }

  /** True when the hard-link field is compared and cannot be told yet (a name of a group). */
  pendingLinks(path: string, a: DiffEntry, b: DiffEntry): boolean {
    return (a.group >= 0 || b.group >= 0) && this.compared('hardlinks', path, a, b);
  }

  field(field: FieldName, path: string, a: DiffEntry, b: DiffEntry): FieldDifference | undefined {
    if (!this.compared(field, path, a, b) || rawSame(field, a, b)) return undefined;
    let x = fieldValue(field, a, this.a);
    let y = fieldValue(field, b, this.b);
    if (field === 'hardlinks' && this.options.ignoreInit) {
      // docker create replaced an init path that was one name of a group: the rest stay linked
      x = this.withoutInit(x as string[]);
      y = this.withoutInit(y as string[]);
    }
    return sameValue(x, y) ? undefined : { field, a: x, b: y };
  }
}

function summary(side: Cursor): SideSummary {
  return { input: side.info.input, kind: side.info.kind, compression: side.info.compression, entries: side.count };
}

/**
 * The first place the order of the paths both sides hold differs (`both`: flags by first entry).
 * A streamed side is in walk order: its order of the common paths is the held side's sorted one.
 */
function firstOrderDifference(a: Cursor, b: Cursor, bothA: Uint8Array, bothB: Uint8Array): OrderDifference | null {
  const own = (c: Cursor, both: Uint8Array) => c.held!.order.filter((i) => both[i] === 1);
  const walk = (c: Cursor, both: Uint8Array) => c.held!.sorted.filter((i) => both[i] === 1);
  if (a.held && b.held) {
    const x = own(a, bothA);
    const y = own(b, bothB);
    for (let k = 0; k < x.length; k++) {
      if (a.held.list.compare(x[k]!, b.held.list, y[k]!) !== 0) return { index: k, a: display(a.held.list.path(x[k]!)), b: display(b.held.list.path(y[k]!)) };
    }
    return null;
  }
  const held = a.held ?? b.held;
  if (held === undefined) return null; // both in walk order
  const both = a.held ? bothA : bothB;
  const c = a.held ? a : b;
  const x = a.held ? own(c, both) : walk(c, both);
  const y = a.held ? walk(c, both) : own(c, both);
  for (let k = 0; k < x.length; k++) {
    if (x[k] !== y[k]) return { index: k, a: display(held.list.path(x[k]!)), b: display(held.list.path(y[k]!)) };
  }
  return null;
}

function notesFor(a: Cursor, b: Cursor, xattrsCompared: boolean, ignore: Set<FieldName>): string[] {
  const notes: string[] = [];
  if (!xattrsCompared && !ignore.has('xattrs')) {
    const dirs = [a, b].filter((s) => !s.info.xattrsKnown).map((s) => s.info.input);
    notes.push(`xattrs not compared: ${dirs.join(' and ')} ${dirs.length > 1 ? 'are directories' : 'is a directory'} (${xattrAddonProblem()})`);
  }
  const unknown = a.xattrsUnknown() + b.xattrsUnknown();
  if (xattrsCompared && unknown > 0) notes.push(`xattrs not compared for ${unknown} ${unknown === 1 ? 'entry' : 'entries'} of a directory whose path is not UTF-8`);
  return notes;
}

const isStream = (side: SideEntries | SideStream): side is SideStream => 'close' in side;

/** A pair of grouped names whose hard-link field waits for the streamed groups to be complete. */
interface PendingLinks {
  path: string;
  x: DiffEntry;
  y: DiffEntry;
  /** Its place in `differ` (made with no fields when nothing else differed). */
  difference: EntryDifference;
}

/**
 * Paths compared between two turns of the event loop: a diff of a million entries runs for tens of
 * seconds, and SIGINT / SIGTERM must end it then (one line), not once it is done. A power of two.
 */
const PATHS_PER_TURN = 1 << 14;

/**
 * Compare two sides, each held (a list) or streamed (read as compared, in walk order). A streamed
 * side is read to its end here (or to the error that stops it); closing it is the caller's.
 */
export async function compareSides(sideA: SideEntries | SideStream, sideB: SideEntries | SideStream, options: CompareOptions = {}): Promise<DiffResult> {
  const a = isStream(sideA) ? streamCursor(sideA) : heldCursor(sideA);
  const b = isStream(sideB) ? streamCursor(sideB) : heldCursor(sideB);
  const cmp = new Comparison(a, b, options);
  const result: DiffResult = {
    a: summary(a),
    b: summary(b),
    equal: true,
    onlyInA: [],
    onlyInB: [],
    differ: [],
    same: 0,
    ignored: 0,
    fieldCounts: {},
    notes: [],
  };
  const bothA = new Uint8Array(options.order && a.held ? a.held.list.length : 0);
  const bothB = new Uint8Array(options.order && b.held ? b.held.list.length : 0);
  const pending: PendingLinks[] = [];
  // both sides in walk order, merged: each path once
  let x = a.next();
  let y = b.next();
  let compared = 0;
  while (x !== undefined || y !== undefined) {
    if ((++compared & (PATHS_PER_TURN - 1)) === 0) await new Promise((resolve) => setImmediate(resolve));
    const c = x === undefined ? 1 : y === undefined ? -1 : walkCompare(x.path, y.path);
    const ex = c <= 0 ? x : undefined;
    const ey = c >= 0 ? y : undefined;
    const path = (ex ?? ey)!.path;
    if (cmp.ignoredByInit(path, ex, ey)) {
      result.ignored++;
    } else if (ey === undefined) {
      result.onlyInA.push({ path: display(path), type: ex!.type });
    } else if (ex === undefined) {
      result.onlyInB.push({ path: display(path), type: ey.type });
    } else {
      if (options.order) {
        if (a.held) bothA[a.first] = 1;
        if (b.held) bothB[b.first] = 1;
      }
      const fields = cmp.fields(path, ex, ey);
      const waits = cmp.pendingLinks(path, ex, ey);
      if (fields.length === 0 && !waits) result.same++;
      else {
        const difference: EntryDifference = { path: display(path), type: ex.type, fields };
        result.differ.push(difference);
        if (waits) pending.push({ path, x: ex, y: ey, difference });
      }
    }
    if (c <= 0) x = a.next();
    if (c >= 0) y = b.next();
  }
  finish(result, cmp, pending);
  result.a.entries = a.count;
  result.b.entries = b.count;
  result.notes.push(...notesFor(a, b, cmp.compareXattrs, new Set(options.ignore ?? [])));
  if (options.order) result.order = firstOrderDifference(a, b, bothA, bothB);
  result.equal = result.onlyInA.length === 0 && result.onlyInB.length === 0 && result.differ.length === 0 && !result.order;
  return result;
}

/**
 * The hard-link fields that waited for the groups (the last field compared, so it goes last), then
 * the counts per field, in the order the differences are listed.
 */
function finish(result: DiffResult, cmp: Comparison, pending: PendingLinks[]): void {
  if (pending.length > 0) {
    for (const p of pending) {
      const difference = cmp.field('hardlinks', p.path, p.x, p.y);
      if (difference !== undefined) p.difference.fields.push(difference);
    }
    const before = result.differ.length;
    result.differ = result.differ.filter((d) => d.fields.length > 0);
    result.same += before - result.differ.length;
  }
  for (const d of result.differ) for (const f of d.fields) result.fieldCounts[f.field] = (result.fieldCounts[f.field] ?? 0) + 1;
}
