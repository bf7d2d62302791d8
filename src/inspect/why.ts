/**
 * `layerfold why IMAGE PATH`: the history of one path through the layers.
 *
 * Built from apply's own account of what each layer changed (`onChange`, tree/changes.ts), so no
 * rule is restated here: one step per change to the path — added, changed (which fields), replaced by
 * another type, made or taken over by docker as an implied directory, hidden by a whiteout or an
 * opaque directory (its own or an ancestor's), removed with a replaced ancestor, brought back under a
 * directory made over a whiteout, hard-linked, or changed through another name of its inode. A path is
 * followed as apply names it: where a layer writes through its own symlink (rule 4b), the change is
 * at the path the link leads to. Headers only: no file data is read.
 */
import { LayerfoldError, showName } from '../errors.js';
import { flattenImage, type FlattenOptions } from '../flatten.js';
import type { TreeChange } from '../tree/changes.js';
import { Dir, lookup, stateOf, type Node, type NodeState } from '../tree/node.js';
import { parentOf } from '../tree/paths.js';
import { originOf, pairHistory } from './history.js';
import { treePath } from './ls.js';

export type { NodeState };

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

const FIELDS = ['type', 'mode', 'uid', 'gid', 'mtime', 'size', 'linkname', 'devmajor', 'devminor'] as const;

export function changedFields(a: NodeState, b: NodeState): string[] {
  return FIELDS.filter((f) => a[f] !== b[f]);
}

/** `a` is strictly below `b` ('' is the root, above everything). */
function under(a: string, b: string): boolean {
  return b === '' ? a !== '' : a.startsWith(`${b}/`);
}

/** What a change at the path itself is, as a step. */
function stepKindAt(change: TreeChange): WhyStepKind {
  switch (change.kind) {
    case 'add':
      return 'added';
    case 'replace':
      // a new inode of the same type is a change of content or metadata; another type a replacement
      return change.before?.type === change.after?.type ? 'changed' : 'replaced';
    case 'merge':
      return 'changed';
    case 'imply':
      return change.before === undefined ? 'added' : change.before.type === 'dir' ? 'implied' : 'replaced';
    case 'restore':
      return 'added';
    case 'hardlink':
      return 'hardlinked';
    case 'whiteout':
    case 'opaque':
      return change.kind;
  }
}

/**
 * Turns apply's changes (tree/changes.ts) into the steps of one path: its own changes, what an
 * ancestor's whiteout, opaque directory or replacement did to it, what a directory brought back over a
 * whiteout restored below it, and hard links elsewhere that changed its inode.
 */
class PathSteps {
  readonly steps: WhyStep[] = [];
  /** The path's state after the changes so far, and its node (for hard links made elsewhere). */
  private state: NodeState | undefined;
  private node: Node | undefined;

  constructor(readonly path: string) {}

  /** A step; its layer's diff_id and history line are filled in once the image is known. */
  private step(kind: WhyStepKind, change: TreeChange, before: NodeState | undefined, after: NodeState | undefined, other?: string): void {
    const s: WhyStep = { kind, layer: change.layer, diffId: '', entry: change.entry.name };
    if (before) s.before = before;
    if (after) s.after = after;
    if (before && after && (kind === 'changed' || kind === 'implied' || kind === 'link-added')) s.changed = changedFields(before, after);
    if (other !== undefined) s.other = other;
    this.steps.push(s);
    this.state = after;
  }

  readonly onChange = (change: TreeChange): void => {
    if (change.path === this.path) {
      const other = change.kind === 'hardlink' ? change.target : change.kind === 'whiteout' ? change.path : change.kind === 'opaque' ? parentOf(change.path) : undefined;
      this.step(stepKindAt(change), change, this.state, change.after, other);
      this.node = change.node;
      return;
    }
    if (under(this.path, change.path)) {
      this.fromAncestor(change);
      return;
    }
    // a hardlink elsewhere that joined this path's inode: its metadata now applies here too
    if (change.kind === 'hardlink' && this.state !== undefined && change.node === this.node && change.node !== undefined) {
      this.step('link-added', change, change.inodeBefore ?? this.state, change.after, change.path);
    }
  };

  private fromAncestor(change: TreeChange): void {
    if (change.kind === 'restore') {
      // a directory made again over this layer's whiteout: what it hid below comes back
      const node = change.node instanceof Dir ? lookup(change.node, this.path.slice(change.path.length + 1)) : undefined;
      if (node !== undefined) {
        this.step('added', change, undefined, stateOf(node));
        this.node = node;
      }
      return;
    }
    if (this.state === undefined) return;
    if (change.kind === 'whiteout' || change.kind === 'opaque') {
      this.step(change.kind, change, this.state, undefined, change.kind === 'whiteout' ? change.path : parentOf(change.path));
    } else if (change.kind === 'add' || change.kind === 'replace' || change.kind === 'hardlink') {
      this.step('removed-with-ancestor', change, this.state, undefined, change.path);
    }
    // merge and imply keep what is below
  }
}

/** Follow one path through the image's layers. */
export async function explainPath(input: string, typedPath: string, options: WhyOptions = {}): Promise<WhyReport> {
  return (await explainPaths(input, [typedPath], options))[0]!;
}

/** Follow several paths through the image's layers, with one flatten. */
export async function explainPaths(input: string, typedPaths: string[], options: WhyOptions = {}): Promise<WhyReport[]> {
  const paths = typedPaths.map((typed) => {
    const path = treePath(typed);
    if (path === '') throw new LayerfoldError('USAGE', `${showName(typed)}: name a path below the root`);
    return path;
  });
  return explainTreePaths(input, paths, options);
}

/** explainPaths for paths as the tree holds them (clean, raw bytes as latin1), also those no UTF-8 text can name. */
export async function explainTreePaths(input: string, paths: string[], options: WhyOptions = {}): Promise<WhyReport[]> {
  const all = paths.map((path) => new PathSteps(path));
  const onChange = all.length === 1 ? all[0]!.onChange : (change: TreeChange) => all.forEach((p) => p.onChange(change));
  const flat = await flattenImage(input, { ...options, onChange });
  try {
    const history = pairHistory(flat.image.config.history, flat.layers.length);
    return all.map(({ path, steps }) => {
      for (const step of steps) {
        step.diffId = flat.layers[step.layer]?.diffId ?? '';
        const by = originOf(history.byLayer[step.layer]);
        if (by !== undefined) step.createdBy = by;
      }
      const node = lookup(flat.tree.root, path);
      return { path, steps, final: node === undefined ? null : stateOf(node), layerCount: flat.layers.length };
    });
  } finally {
    flat.close();
  }
}
