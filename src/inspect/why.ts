/**
 * `layerfold why IMAGE PATH`: the history of one path through the layers.
 *
 * While flattenImage applies the layers, `onEntry` keeps only the entries that can change the path
 * (headers only, no file data): an entry at the path or at one of its ancestors, a whiteout of either,
 * an opaque marker in an ancestor, a hardlink that joins the path's inode, and — once per layer and
 * depth — an entry whose parent directories make the path or an ancestor an implied directory.
 * Those are then replayed through a model of the layer rules (src/tree/apply.ts, rules 2–6) restricted
 * to the path and its ancestors, which yields one step per change: added, changed (which fields),
 * replaced by another type, made by docker as an implied directory, hidden by a whiteout or an opaque
 * directory, removed with an ancestor, hard-linked. The final state is read from the merged tree;
 * the tests check the model's final state against it for every path of the fixtures.
 */
import { LayerfoldError, showName } from '../errors.js';
import { flattenImage, type FlattenOptions } from '../flatten.js';
import type { TarEntry } from '../tar/entries.js';
import { applyLinkMetadata, boundMtime, deviceNumbersOf, isWhiteoutDevice, ownerId, symlinkMtime } from '../tree/apply.js';
import { Dir, lookup, type InodeType, type Node } from '../tree/node.js';
import { baseOf, cleanPath, parentOf } from '../tree/paths.js';
import { originOf, pairHistory } from './history.js';
import { treePath } from './ls.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const SLASH = 0x2f;

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

export type WhyStepKind =
  | 'added'
  | 'changed'
  | 'replaced'
  | 'implied'
  | 'whiteout'
  | 'opaque'
  | 'removed-with-ancestor'
  | 'hardlinked'
  | 'link-added';

export interface WhyStep {
  kind: WhyStepKind;
  layer: number;
  diffId: string;
  createdBy?: string;
  /** The layer entry that caused the step, as stored in the layer (raw bytes as latin1). */
  entry: string;
  before?: NodeState;
  after?: NodeState;
  /** For 'changed', 'implied', 'link-added': the fields that differ. */
  changed?: string[];
  /** For 'hardlinked': the path it now shares an inode with; for ancestor steps: the ancestor. */
  other?: string;
}

export interface WhyReport {
  /** The clean path asked about (raw bytes as latin1). */
  path: string;
  steps: WhyStep[];
  /** The path in the final rootfs, or null when it is not there. */
  final: NodeState | null;
  layerCount: number;
}

export type WhyOptions = Omit<FlattenOptions, 'dockerInit'>;

/** What one recorded entry did, with the hardlink group's metadata as it stood after the entry. */
interface Recorded {
  layer: number;
  path: string;
  entry: TarEntry;
  /** For a hardlink entry: the inode it names, after the link entry's metadata applied. */
  inode?: NodeState;
  /** A hardlink elsewhere that names the path's inode. */
  joinsPath?: boolean;
  /** The entry makes a whiteout at its own path (a 0:0 character device, or a hardlink to a whiteout). */
  whiteout?: boolean;
}

const INODE_TYPES: InodeType[] = ['file', 'symlink', 'char', 'block', 'fifo'];
/** Numbers kept per entry: type, mode, uid, gid, mtime, size, devmajor, devminor. */
const PACKED = 8;

/**
 * A layer's non-directory entries, so hardlinks can be resolved to the inode they name. Kept packed,
 * eight numbers an entry (symlink targets aside), not as the parsed TarEntry: a layer of a million
 * files held a million of those (~130 MB past what the merged tree takes).
 */
class LayerInodes {
  private readonly byPath = new Map<string, NodeState>();
  private readonly slots = new Map<string, number>();
  private packed = new Float64Array(PACKED * 1024);
  private readonly symlinkTargets = new Map<number, string>();

  add(path: string, entry: TarEntry, layer: number): void {
    const state = stateOfEntry(entry, layer);
    const slot = this.slots.get(path) ?? this.slots.size;
    this.slots.set(path, slot);
    if ((slot + 1) * PACKED > this.packed.length) {
      const grown = new Float64Array(this.packed.length * 2);
      grown.set(this.packed);
      this.packed = grown;
    }
    const at = slot * PACKED;
    this.packed.set([INODE_TYPES.indexOf(state.type as InodeType), state.mode, state.uid, state.gid, state.mtime, state.size, state.devmajor, state.devminor], at);
    if (state.linkname !== '') this.symlinkTargets.set(slot, state.linkname);
    else this.symlinkTargets.delete(slot);
  }

  /** The inode `path` names (made lazily: most entries are never linked). */
  get(path: string, layer: number): NodeState | undefined {
    const made = this.byPath.get(path);
    if (made) return made;
    const slot = this.slots.get(path);
    if (slot === undefined) return undefined;
    const p = this.packed.subarray(slot * PACKED, (slot + 1) * PACKED);
    const state: NodeState = {
      type: INODE_TYPES[p[0]!]!, mode: p[1]!, uid: p[2]!, gid: p[3]!, mtime: p[4]!, size: p[5]!,
      linkname: this.symlinkTargets.get(slot) ?? '', devmajor: p[6]!, devminor: p[7]!, layer, implied: false, linked: false,
    };
    this.byPath.set(path, state);
    return state;
  }

  /** Apply a hardlink entry (rule 6): the link names the target's inode and sets its metadata. */
  link(path: string, entry: TarEntry, layer: number): NodeState | undefined {
    const inode = this.get(linkTargetOf(entry), layer);
    if (!inode) return undefined;
    applyLinkMetadata(inode, entry);
    this.byPath.set(path, inode);
    return inode;
  }

  same(a: string, b: string): boolean {
    const x = this.byPath.get(a);
    return x !== undefined && x === this.byPath.get(b);
  }
}

/** A hardlink's target as apply.ts resolves it: rooted, as in docker's chroot. */
function linkTargetOf(entry: TarEntry): string {
  return cleanPath(`/${entry.linkname}`) ?? '';
}

function stateOfEntry(entry: TarEntry, layer: number): NodeState {
  const type = entry.type === 'hardlink' ? 'file' : entry.type;
  const symlink = type === 'symlink';
  return {
    type,
    mode: symlink ? 0o777 : entry.mode & 0o7777,
    uid: ownerId(entry.uid, 0),
    gid: ownerId(entry.gid, 0),
    mtime: symlink ? symlinkMtime(entry.mtime) : boundMtime(entry.mtime),
    size: type === 'file' ? entry.size : 0,
    linkname: symlink ? entry.linkname : '',
    ...deviceNumbersOf(entry),
    layer,
    implied: false,
    linked: false,
  };
}

export function stateOfNode(node: Node): NodeState {
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

const FIELDS = ['type', 'mode', 'uid', 'gid', 'mtime', 'size', 'linkname', 'devmajor', 'devminor'] as const;

export function changedFields(a: NodeState, b: NodeState): string[] {
  return FIELDS.filter((f) => a[f] !== b[f]);
}

/** `a` is `b` or below it ('' is the root, above everything). */
function atOrUnder(a: string, b: string): boolean {
  return b === '' || a === b || a.startsWith(`${b}/`);
}

/** Collects, during the flatten, the entries that can change `path` (see the header). */
class WhyRecorder {
  readonly chain: string[];
  readonly events: Recorded[] = [];
  private layer = -1;
  private ensuredDepth = 0;
  private inodes = new LayerInodes();
  /** Paths this layer has made whiteouts of (apply.ts rule 3b): a hardlink to one is a whiteout too. */
  private readonly layerWhiteouts = new Set<string>();

  constructor(readonly path: string) {
    const parts = path.split('/');
    this.chain = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  }

  /**
   * How many chain paths (from the top) are `dir` or above it: the leading components `dir` shares
   * with the path, found in one pass over the characters (testing each chain path cost depth × length
   * per entry: a file 2,040 directories deep took minutes).
   */
  depthWithin(dir: string): number {
    if (dir === '') return 0;
    const path = this.path;
    const n = Math.min(dir.length, path.length);
    let i = 0;
    while (i < n && dir.charCodeAt(i) === path.charCodeAt(i)) i++;
    let shared = 0;
    for (let j = 0; j < i; j++) if (dir.charCodeAt(j) === SLASH) shared++;
    const dirEnds = i === dir.length || dir.charCodeAt(i) === SLASH;
    const pathEnds = i === path.length || path.charCodeAt(i) === SLASH;
    if (dirEnds && pathEnds) shared++;
    return Math.min(shared, this.chain.length);
  }

  readonly onEntry = (layer: number, entry: TarEntry, path: string): void => {
    if (layer !== this.layer) {
      this.layer = layer;
      this.ensuredDepth = 0;
      this.inodes = new LayerInodes();
      this.layerWhiteouts.clear();
    }
    const base = baseOf(path);
    const marker = base.startsWith(WHITEOUT_PREFIX);
    let relevant = false;
    let inode: NodeState | undefined;
    let joinsPath = false;
    let whiteout = false;
    if (marker) {
      const hidden = base === OPAQUE_MARKER ? parentOf(path) : `${parentOf(path) ? `${parentOf(path)}/` : ''}${base.slice(WHITEOUT_PREFIX.length)}`;
      relevant = base === OPAQUE_MARKER ? hidden !== '' && hidden !== this.path && atOrUnder(this.path, hidden) : atOrUnder(this.path, hidden);
      if (base !== OPAQUE_MARKER) this.layerWhiteouts.add(hidden);
    } else if (isWhiteoutDevice(entry) || (entry.type === 'hardlink' && this.layerWhiteouts.has(linkTargetOf(entry)))) {
      whiteout = true;
      this.layerWhiteouts.add(path);
      relevant = atOrUnder(this.path, path);
    } else if (entry.type === 'hardlink') {
      this.layerWhiteouts.delete(path); // made again over a whiteout: no longer one
      inode = this.inodes.link(path, entry, layer);
      joinsPath = path !== this.path && this.inodes.same(path, this.path);
      relevant = joinsPath || this.chain.includes(path);
    } else {
      this.layerWhiteouts.delete(path);
      if (entry.type !== 'dir') this.inodes.add(path, entry, layer);
      relevant = this.chain.includes(path);
    }
    const depth = this.depthWithin(parentOf(path));
    if (depth > this.ensuredDepth) {
      this.ensuredDepth = depth;
      relevant = true;
    }
    if (!relevant) return;
    const event: Recorded = { layer, path, entry };
    if (inode) event.inode = { ...inode };
    if (joinsPath) event.joinsPath = true;
    if (whiteout) event.whiteout = true;
    this.events.push(event);
  };
}

interface StepContext {
  diffId: (layer: number) => string;
  createdBy: (layer: number) => string | undefined;
}

/** Replays the recorded entries over the path and its ancestors (apply.ts rules 2–6). */
class WhyModel {
  /** State of each chain path; index chain.length-1 is the path itself. */
  private readonly states: Array<NodeState | undefined>;
  readonly steps: WhyStep[] = [];
  private readonly last: number;

  constructor(
    private readonly chain: string[],
    private readonly impliedMtime: number,
    private readonly ctx: StepContext,
  ) {
    this.states = chain.map(() => undefined);
    this.last = chain.length - 1;
  }

  get final(): NodeState | undefined {
    return this.states[this.last];
  }

  private step(kind: WhyStepKind, ev: Recorded, before: NodeState | undefined, after: NodeState | undefined, other?: string): void {
    const s: WhyStep = { kind, layer: ev.layer, diffId: this.ctx.diffId(ev.layer), entry: ev.entry.name };
    const by = this.ctx.createdBy(ev.layer);
    if (by !== undefined) s.createdBy = by;
    if (before) s.before = before;
    if (after) s.after = after;
    if (before && after && (kind === 'changed' || kind === 'implied' || kind === 'link-added')) s.changed = changedFields(before, after);
    if (other !== undefined) s.other = other;
    this.steps.push(s);
  }

  /** Set chain[k]; report it when k is the path itself. */
  private set(k: number, next: NodeState | undefined, ev: Recorded, kind?: WhyStepKind, other?: string): void {
    const before = this.states[k];
    this.states[k] = next;
    if (k === this.last && kind) this.step(kind, ev, before, next, other);
  }

  /** Everything below chain[k] is gone (chain[k] was replaced or removed). */
  private dropBelow(k: number, ev: Recorded): void {
    for (let j = k + 1; j <= this.last; j++) {
      if (this.states[j] !== undefined) this.set(j, undefined, ev, 'removed-with-ancestor', this.chain[k]);
    }
  }

  /** Rule 4 on the chain's first `depth` paths. */
  private ensure(depth: number, ev: Recorded): void {
    const L = ev.layer;
    for (let k = 0; k < depth; k++) {
      const parent = k === 0 ? undefined : this.states[k - 1];
      // setgid inherited from a setgid parent of this layer; owner always 0:0 (docker chowns it)
      const inherit = parent !== undefined && parent.layer === L && (parent.mode & 0o2000) !== 0;
      const implied: NodeState = {
        type: 'dir', mode: inherit ? 0o2755 : 0o755, uid: 0, gid: 0, mtime: this.impliedMtime,
        size: 0, linkname: '', devmajor: 0, devminor: 0, layer: L, implied: true, linked: false,
      };
      const cur = this.states[k];
      if (cur?.type === 'dir') {
        if (cur.layer !== L) this.set(k, { ...cur, mode: implied.mode, uid: 0, gid: implied.gid, mtime: this.impliedMtime, layer: L, implied: true }, ev, 'implied');
      } else {
        this.set(k, implied, ev, cur === undefined ? 'added' : 'replaced');
      }
    }
  }

  /** The layer being replayed, the paths it made whiteouts of, and what a whiteout of a chain path hid. */
  private layer = -1;
  private readonly whiteouts = new Set<string>();
  private hidden: { k: number; states: Array<NodeState | undefined> } | undefined;

  private enterLayer(layer: number): void {
    if (layer === this.layer) return;
    this.layer = layer;
    this.whiteouts.clear();
    this.hidden = undefined;
  }

  /** A whiteout at `path` (rule 3, 3b): hides the chain from there, remembering what it hid. */
  private whiteOut(path: string, ev: Recorded): void {
    this.whiteouts.add(path);
    const k = this.chain.indexOf(path);
    if (k < 0) return;
    this.hidden = { k, states: this.states.slice(k) };
    this.hide(k, ev, 'whiteout', path);
  }

  /** Markers hide what lower layers put at or under `top` (rules 2, 3): same-layer nodes stay. */
  private hide(from: number, ev: Recorded, kind: 'whiteout' | 'opaque', top: string): void {
    for (let k = from; k <= this.last; k++) {
      const cur = this.states[k];
      if (cur !== undefined && cur.layer < ev.layer) {
        this.states[k] = undefined;
        if (k === this.last) this.step(kind, ev, cur, undefined, top);
      }
    }
  }

  apply(ev: Recorded, depthWithin: (dir: string) => number): void {
    this.enterLayer(ev.layer);
    const base = baseOf(ev.path);
    const parent = parentOf(ev.path);
    if (base === OPAQUE_MARKER && this.whiteouts.has(parent)) return; // set on the whiteout itself
    this.ensure(depthWithin(parent), ev);
    if (base === OPAQUE_MARKER) {
      if (parent !== '') this.hide(depthWithin(parent), ev, 'opaque', parent); // ignored at a layer's root
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.whiteOut(`${parent ? `${parent}/` : ''}${base.slice(WHITEOUT_PREFIX.length)}`, ev);
      return;
    }
    if (ev.whiteout) {
      this.whiteOut(ev.path, ev);
      return;
    }
    const k = this.chain.indexOf(ev.path);
    if (k < 0) {
      // A hardlink elsewhere that joined the path's inode: its metadata now applies to the path.
      const cur = this.states[this.last];
      if (ev.joinsPath && ev.inode && cur) this.set(this.last, { ...cur, ...metadataOf(ev.inode) }, ev, 'link-added', ev.path);
      return;
    }
    let cur = this.states[k];
    this.whiteouts.delete(ev.path);
    if (ev.entry.type === 'dir') {
      const meta = stateOfEntry(ev.entry, ev.layer);
      // a directory over this layer's whiteout merges with what the whiteout hid (rule 3b)
      if (cur === undefined && this.hidden?.k === k && this.hidden.states[0]?.type === 'dir') {
        const saved = this.hidden.states;
        for (let j = k + 1; j <= this.last; j++) if (this.states[j] === undefined) this.set(j, saved[j - k], ev, 'added');
        cur = saved[0];
        this.hidden = undefined;
      }
      if (cur?.type === 'dir') this.set(k, { ...cur, ...metadataOf(meta), layer: ev.layer, implied: false }, ev, 'changed');
      else this.set(k, meta, ev, cur === undefined ? 'added' : 'replaced');
      if (ev.entry.xattrs?.get('trusted.overlay.opaque') === 'y' && k < this.last) this.hide(k + 1, ev, 'opaque', ev.path);
      return;
    }
    this.dropBelow(k, ev);
    if (ev.entry.type === 'hardlink') {
      if (!ev.inode) return;
      const target = linkTargetOf(ev.entry);
      this.set(k, { ...ev.inode }, ev, 'hardlinked', target);
      return;
    }
    const next = stateOfEntry(ev.entry, ev.layer);
    this.set(k, next, ev, cur === undefined ? 'added' : cur.type === next.type ? 'changed' : 'replaced');
  }
}

function metadataOf(s: NodeState): Pick<NodeState, 'mode' | 'uid' | 'gid' | 'mtime' | 'linked'> {
  return { mode: s.mode, uid: s.uid, gid: s.gid, mtime: s.mtime, linked: s.linked };
}

/** Follow one path through the image's layers. */
export async function explainPath(input: string, typedPath: string, options: WhyOptions = {}): Promise<WhyReport> {
  const path = treePath(typedPath);
  if (path === '') throw new LayerfoldError('USAGE', `${showName(typedPath)}: name a path below the root`);
  const recorder = new WhyRecorder(path);
  const outer = options.onEntry;
  const flat = await flattenImage(input, {
    ...options,
    onEntry: (layer, entry, p) => {
      recorder.onEntry(layer, entry, p);
      outer?.(layer, entry, p);
    },
  });
  try {
    const history = pairHistory(flat.image.config.history, flat.layers.length);
    const model = new WhyModel(recorder.chain, flat.impliedMtime, {
      diffId: (i) => flat.layers[i]?.diffId ?? '',
      createdBy: (i) => originOf(history.byLayer[i]),
    });
    for (const ev of recorder.events) model.apply(ev, (dir) => recorder.depthWithin(dir));
    const node = lookup(flat.tree.root, path);
    return { path, steps: model.steps, final: node === undefined ? null : stateOfNode(node), layerCount: flat.layers.length };
  } finally {
    flat.close();
  }
}

/**
 * The model's own final state of each path next to the merged tree's, from one flatten: the tests
 * check the two agree for every path the layers mention.
 */
export async function modelFinalStates(input: string, paths: string[], options: WhyOptions = {}): Promise<Array<{ path: string; model: NodeState | null; tree: NodeState | null }>> {
  const recorders = paths.map((p) => new WhyRecorder(treePath(p)));
  const flat = await flattenImage(input, {
    ...options,
    onEntry: (layer, entry, p) => {
      for (const r of recorders) r.onEntry(layer, entry, p);
    },
  });
  try {
    return recorders.map((recorder) => {
      const model = new WhyModel(recorder.chain, flat.impliedMtime, { diffId: () => '', createdBy: () => undefined });
      for (const ev of recorder.events) model.apply(ev, (dir) => recorder.depthWithin(dir));
      const node = lookup(flat.tree.root, recorder.path);
      return { path: recorder.path, model: model.final ?? null, tree: node === undefined ? null : stateOfNode(node) };
    });
  } finally {
    flat.close();
  }
}
