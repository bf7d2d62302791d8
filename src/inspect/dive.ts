/**
 * dive's image analysis, computed as dive (wagoodman/dive, filetree/efficiency.go and the CI rules)
 * computes it, so that a CI gate moved from dive to `layerfold inspect` keeps its verdicts:
 * - Each layer is a tree of its own entries; only its leaves count (an entry with no other entry of
 *   the same layer below it). A leaf's size is its tar header size; a whiteout's is the size of
 *   everything under the path in the layers below when that was a directory, else 0. Opaque markers
 *   count for nothing (dive skips `.wh..wh.` names).
 * - Per path, over all layers: the sizes seen add up to `cumulative`; the smallest is `minimum`.
 *   efficiency = Σ minimum / Σ cumulative (1 when nothing was seen).
 * - A path seen in two layers or more is an inefficiency; wastedBytes = Σ of their cumulative sizes
 *   (the surviving copy included: that is dive's figure, not the bytes that do not survive, which
 *   `inspect` reports as wastedBytes beside it).
 * - userWastedPercent = wastedBytes / the tar sizes of every layer but the first (a fraction, as
 *   dive's `highestUserWastedPercent` takes it).
 * The same pass records what each layer changed (added, modified, deleted paths) for `--json`.
 * Fed by flattenImage's `beforeEntry`, which sees the tree as the lower layers left it.
 */
import type { TarEntry } from '../tar/entries.js';
import { isWhiteoutDevice } from '../tree/apply.js';
import { Dir, isDir, lookup, type Node } from '../tree/node.js';
import { markerKind, whiteoutTarget } from '../tree/whiteouts.js';


export interface LayerChanges {
  added: string[];
  modified: string[];
  deleted: string[];
}

export interface Inefficiency {
  /** Clean path, raw bytes as latin1. */
  path: string;
  /** dive's cumulative size: every layer's copy, the surviving one included. */
  bytes: number;
  /** The layers the path appears in, bottom first. */
  layers: number[];
}

export interface DiveAnalysis {
  efficiency: number;
  wastedBytes: number;
  userWastedPercent: number;
  /** Tar sizes (header sizes) of every layer but the first. */
  userSizeBytes: number;
  /** Largest first. */
  inefficiencies: Inefficiency[];
}

/** A layer index fits below this (docker refuses more than 125 layers: read/image-support.ts). */
const LAYER_SLOTS = 256;

interface PathData {
  cumulative: number;
  minimum: number;
  layers: number[];
}

function subtreeBytes(node: Node): number {
  if (!isDir(node)) return 0; // dive sizes a whiteout of a file as 0
  let bytes = 0;
  const stack: Dir[] = [node];
  const seen = new Set<Node>();
  while (stack.length > 0) {
    for (const child of stack.pop()!.children.values()) {
      if (isDir(child)) stack.push(child);
      else if (!seen.has(child)) {
        seen.add(child);
        bytes += child.type === 'file' ? child.size : 0;
      }
    }
  }
  return bytes;
}

/** Collects, entry by entry, what dive's analysis and the per-layer changes need. */
export class DiveCounter {
  /**
   * Every leaf path seen so far. Most are seen once: those are kept as one number (size × 256 +
   * layer, layers being at most 125), not an object and a list — on a million-entry image that is the
   * difference between ~350 MB and ~150 MB. A second sighting makes a PathData.
   */
  private readonly paths = new Map<string, number | PathData>();
  private layer = -1;
  /** Σ size of the paths seen once, in the last layer (kept out of `paths`: nothing can follow them). */
  private lastOnly = 0;
  /** The current layer's entries: path → dive size. */
  private current = new Map<string, number>();
  readonly changes: LayerChanges[] = [];
  readonly tarBytes: number[] = [];

  constructor(private readonly withChanges: boolean) {}

  readonly beforeEntry = (layer: number, entry: TarEntry, path: string, root: Dir): void => {
    if (layer !== this.layer) this.endLayer(layer);
    this.tarBytes[layer] = (this.tarBytes[layer] ?? 0) + (entry.type === 'file' ? entry.size : 0);
    const slash = path.lastIndexOf('/');
    const base = path.slice(slash + 1);
    const changes = this.changes[layer]!;
    const marker = markerKind(base);
    if (marker === 'opaque') {
      if (this.withChanges) {
        const dir = lookup(root, path.slice(0, Math.max(0, slash)));
        if (isDir(dir)) for (const [name, child] of dir.children) if (child.layer !== layer) changes.deleted.push(`${path.slice(0, slash + 1)}${name}`);
      }
      return;
    }
    if (marker === 'whiteout' || isWhiteoutDevice(entry)) {
      const target = marker === 'whiteout' ? whiteoutTarget(path) : path;
      const lower = lookup(root, target);
      this.current.set(target, lower === undefined ? 0 : subtreeBytes(lower));
      if (this.withChanges && lower !== undefined) changes.deleted.push(target);
      return;
    }
    this.current.set(path, entry.type === 'file' ? entry.size : 0);
    if (this.withChanges) (lookup(root, path) === undefined ? changes.added : changes.modified).push(path);
  };

  /**
   * Fold the finished layer's leaves into the per-path totals, and start `next`. After the last
   * layer (`final`), a path no lower layer had is only added to a sum: on a one-layer image of a
   * million files that is a million map entries never made.
   */
  private endLayer(next: number, final = false): void {
    // climbed from the nearest parent up, stopping at one already in: its own parents are in too, so
    // each directory is added once (every prefix of every path was a slice each: 23 s on a 2,040-deep file)
    const parents = new Set<string>();
    for (const path of this.current.keys()) {
      for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
        const parent = path.slice(0, i);
        if (parents.has(parent)) break;
        parents.add(parent);
      }
    }
    for (const [path, size] of this.current) {
      if (parents.has(path)) continue; // not a leaf of this layer's tree
      const data = this.paths.get(path);
      if (data === undefined && final) this.lastOnly += size;
      else if (data === undefined) this.paths.set(path, size * LAYER_SLOTS + this.layer);
      else if (typeof data === 'number') {
        const first = Math.floor(data / LAYER_SLOTS);
        this.paths.set(path, { cumulative: first + size, minimum: Math.min(first, size), layers: [data % LAYER_SLOTS, this.layer] });
      } else {
        data.cumulative += size;
        data.minimum = Math.min(data.minimum, size);
        data.layers.push(this.layer);
      }
    }
    this.current = new Map();
    for (let i = this.layer + 1; i <= next; i++) this.changes[i] ??= { added: [], modified: [], deleted: [] };
    this.layer = next;
  }

  /** The analysis, once every layer is applied. */
  analysis(layerCount: number): DiveAnalysis {
    this.endLayer(layerCount, true);
    this.changes.length = layerCount;
    let minimum = this.lastOnly;
    let cumulative = this.lastOnly;
    const inefficiencies: Inefficiency[] = [];
    for (const [path, data] of this.paths) {
      if (typeof data === 'number') {
        const size = Math.floor(data / LAYER_SLOTS);
        minimum += size;
        cumulative += size;
        continue;
      }
      minimum += data.minimum;
      cumulative += data.cumulative;
      inefficiencies.push({ path, bytes: data.cumulative, layers: data.layers });
    }
    inefficiencies.sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const wastedBytes = inefficiencies.reduce((sum, x) => sum + x.bytes, 0);
    let userSizeBytes = 0;
    for (let i = 1; i < layerCount; i++) userSizeBytes += this.tarBytes[i] ?? 0;
    return {
      efficiency: cumulative === 0 ? 1 : minimum / cumulative,
      wastedBytes,
      // dive divides by zero here (NaN or +Inf); nothing wasted over nothing added is no waste
      userWastedPercent: userSizeBytes === 0 ? (wastedBytes === 0 ? 0 : Infinity) : wastedBytes / userSizeBytes,
      userSizeBytes,
      inefficiencies,
    };
  }
}
