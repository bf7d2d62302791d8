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
import type { DiffEntry, EntryList, EntryType, InitFootprint, SideEntries, SideKind } from './entries.js';

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

/** The entry a path holds in the end, by its first entry. */
function finalEntry(side: IndexedSide, first: number): DiffEntry {
  return side.list.at(side.last ? side.last[first]! : first);
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

function fieldValue(field: FieldName, entry: DiffEntry, side: IndexedSide): FieldValue {
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
      return (entry.group < 0 ? [entry.path] : (side.groupNames.get(entry.group) ?? [entry.path])).map(display);
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
    private readonly a: IndexedSide,
    private readonly b: IndexedSide,
    private readonly options: CompareOptions,
  ) {
    this.ignore = new Set(options.ignore ?? []);
    this.compareXattrs = a.side.xattrsKnown && b.side.xattrsKnown && !this.ignore.has('xattrs');
    const footprints: Array<InitFootprint | undefined> = [a.side.initFootprint, b.side.initFootprint];
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

  fields(path: string, a: DiffEntry, b: DiffEntry): FieldDifference[] {
    const out: FieldDifference[] = [];
    for (const field of FIELDS) {
      if (!this.compared(field, path, a, b) || rawSame(field, a, b)) continue;
      let x = fieldValue(field, a, this.a);
      let y = fieldValue(field, b, this.b);
      if (field === 'hardlinks' && this.options.ignoreInit) {
        // docker create replaced an init path that was one name of a group: the rest stay linked
        x = this.withoutInit(x as string[]);
        y = this.withoutInit(y as string[]);
      }
      if (!sameValue(x, y)) out.push({ field, a: x, b: y });
    }
    return out;
  }
}

function summary(side: IndexedSide): SideSummary {
  return { input: side.side.input, kind: side.side.kind, compression: side.side.compression, entries: side.order.length };
}

/** The first place the order of the paths both sides hold differs (`both`: flags by first entry). */
function firstOrderDifference(a: IndexedSide, b: IndexedSide, bothA: Uint8Array, bothB: Uint8Array): OrderDifference | null {
  const x = a.order.filter((i) => bothA[i] === 1);
  const y = b.order.filter((j) => bothB[j] === 1);
  for (let k = 0; k < x.length; k++) {
    if (a.list.compare(x[k]!, b.list, y[k]!) !== 0) return { index: k, a: display(a.list.path(x[k]!)), b: display(b.list.path(y[k]!)) };
  }
  return null;
}

function notesFor(a: SideEntries, b: SideEntries, xattrsCompared: boolean, ignore: Set<FieldName>): string[] {
  const notes: string[] = [];
  if (!xattrsCompared && !ignore.has('xattrs')) {
    const dirs = [a, b].filter((s) => !s.xattrsKnown).map((s) => s.input);
    notes.push(`xattrs not compared: ${dirs.join(' and ')} ${dirs.length > 1 ? 'are directories' : 'is a directory'} (${xattrAddonProblem()})`);
  }
  const unknown = a.entries.xattrsUnknownCount() + b.entries.xattrsUnknownCount();
  if (xattrsCompared && unknown > 0) notes.push(`xattrs not compared for ${unknown} ${unknown === 1 ? 'entry' : 'entries'} of a directory whose path is not UTF-8`);
  return notes;
}

/** Compare two sides. */
export function compareSides(sideA: SideEntries, sideB: SideEntries, options: CompareOptions = {}): DiffResult {
  const a = index(sideA);
  const b = index(sideB);
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
    notes: notesFor(sideA, sideB, cmp.compareXattrs, new Set(options.ignore ?? [])),
  };
  const bothA = new Uint8Array(options.order ? sideA.entries.length : 0);
  const bothB = new Uint8Array(options.order ? sideB.entries.length : 0);
  // both sides in walk order, merged: each path once, no string made unless it is shown or looked up
  let i = 0;
  let j = 0;
  while (i < a.sorted.length || j < b.sorted.length) {
    const c = i >= a.sorted.length ? 1 : j >= b.sorted.length ? -1 : a.list.compare(a.sorted[i]!, b.list, b.sorted[j]!);
    const firstA = c <= 0 ? a.sorted[i++]! : -1;
    const firstB = c >= 0 ? b.sorted[j++]! : -1;
    const x = firstA < 0 ? undefined : finalEntry(a, firstA);
    const y = firstB < 0 ? undefined : finalEntry(b, firstB);
    const path = (x ?? y)!.path;
    if (cmp.ignoredByInit(path, x, y)) {
      result.ignored++;
    } else if (y === undefined) {
      result.onlyInA.push({ path: display(path), type: x!.type });
    } else if (x === undefined) {
      result.onlyInB.push({ path: display(path), type: y.type });
    } else {
      if (options.order) bothA[firstA] = bothB[firstB] = 1;
      const fields = cmp.fields(path, x, y);
      if (fields.length === 0) result.same++;
      else result.differ.push({ path: display(path), type: x.type, fields });
      for (const f of fields) result.fieldCounts[f.field] = (result.fieldCounts[f.field] ?? 0) + 1;
    }
  }
  if (options.order) result.order = firstOrderDifference(a, b, bothA, bothB);
  result.equal = result.onlyInA.length === 0 && result.onlyInB.length === 0 && result.differ.length === 0 && !result.order;
  return result;
}
