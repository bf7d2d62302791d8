/**
 * The entries of a squashed layer, in walk order: what a layer tar must hold so that, applied over
 * the kept layers (`base`, the tree of the lowest N), docker gives the merged tree `full`.
 *
 * - A node made by a kept layer (`layer < keep`) is the base's own node: upper layers cannot change
 *   a lower inode (a hardlink never reaches across layers) and a directory they touch takes their
 *   index. Such nodes are not written — unless something below them is: a directory a layer needs
 *   but does not hold is made 0755 0:0 by docker (an implied directory, whose metadata would then
 *   hide the kept one), so every ancestor of a written entry is written with its own metadata.
 * - A node made above the kept layers is written whole (a metadata-only change rewrites the file,
 *   as docker's own diff does); a hard-link group made there is written as a file and links to it.
 * - A name in a base directory that the full tree lacks gets a whiteout `.wh.NAME`; a directory of
 *   the upper layers over a base directory none of whose children survive, and from which something
 *   was deleted, gets an opaque marker instead (one entry, not one per deletion), and then everything
 *   under it is written. The root never gets one: overlayfs ignores a marker there.
 * - A replaced path needs no whiteout: a new entry of another type replaces the lower one whole.
 * - A directory named `.wh.X` (only ever implied: an entry of that name is a whiteout) gets no entry
 *   of its own; what lies in it implies it again, or an opaque marker when it is empty.
 *                                                                        [whiteout-dir-component]
 * With no kept layers (`base` empty), this is exactly walkTree's order and entries.
 */
import { Dir, type MergedTree, type Node } from '../tree/node.js';
import { LinkNames, SortedWalk, sortedNames, walkFrame, type WalkEntry, type WalkFrame } from '../tree/walk.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from '../tree/whiteouts.js';
import type { ExportHeader } from '../tar/header.js';
import type { TarItem } from './export-tar.js';

/** A whiteout or opaque marker as docker's layer writer makes them: an empty 0:0 file. */
function markerHeader(name: string, mtime: number): ExportHeader {
  return { name, typeflag: '0', mode: 0, uid: 0, gid: 0, size: 0, mtime, linkname: '', devmajor: 0, devminor: 0 };
}

interface Frame extends WalkFrame {
  /** The base directory at the same path, whose children this layer lies over (none under a marker). */
  base: Dir | undefined;
  /** The directory's own entry, held back until something in it is written (or written already). */
  pending: WalkEntry | undefined;
}

export interface LayerItemCounts {
  entries: number;
  whiteouts: number;
  opaque: number;
}

/**
 * `keep`: how many bottom layers are kept; nodes with a smaller `layer` come from them. `markerMtime`
 * is the mtime written on whiteouts and markers (not exported by docker; fixed for reproducibility).
 */
export function* squashedLayerItems(full: MergedTree, base: MergedTree, keep: number, markerMtime: number, counts?: LayerItemCounts): Generator<TarItem> {
  const links = new LinkNames();
  const walk = new SortedWalk<Frame>();
  const fresh = (node: Node) => node.layer >= keep;
  const freshTrees = new Map<Dir, boolean>();
  /**
   * Nothing under the directory comes from a kept layer: only then may a marker hide the base's
   * copy, since what a marker hides must be written again, and a kept inode written again would
   * leave its hard-link partners in the kept layers.
   */
  const allFresh = (dir: Dir): boolean => {
    let known = freshTrees.get(dir);
    if (known === undefined) {
      known = [...dir.children.values()].every((c) => fresh(c) && (!(c instanceof Dir) || allFresh(c)));
      freshTrees.set(dir, known);
    }
    return known;
  };

  /** Yield the held-back entries of every open directory, outermost first. */
  function* flushPending(): Generator<TarItem> {
    for (const frame of walk.stack) {
      if (frame.pending) {
        yield frame.pending;
        if (counts) counts.entries++;
        frame.pending = undefined;
      }
    }
  }

  function* open(dir: Dir, prefix: string, baseDir: Dir | undefined, pending: WalkEntry | undefined, isRoot: boolean): Generator<TarItem> {
    const frame: Frame = { ...walkFrame(dir, prefix), base: undefined, pending };
    let lower = baseDir;
    const markers: TarItem[] = [];
    if (baseDir) {
      const deleted = sortedNames(baseDir).filter((n) => !dir.children.has(n));
      if (!isRoot && deleted.length > 0 && fresh(dir) && allFresh(dir)) {
        markers.push({ marker: markerHeader(`${prefix}${OPAQUE_MARKER}`, markerMtime) });
        if (counts) counts.opaque++;
        lower = undefined;
      } else {
        for (const n of deleted) markers.push({ marker: markerHeader(`${prefix}${WHITEOUT_PREFIX}${n}`, markerMtime) });
        if (counts) counts.whiteouts += deleted.length;
      }
    }
    frame.base = lower;
    walk.open(frame);
    if (markers.length > 0) {
      yield* flushPending();
      yield* markers;
    }
  }

  yield* open(full.root, '', base.root, undefined, true);
  while (walk.next()) {
    const { frame, name, node, path } = walk;
    const lowerNode = frame.base?.children.get(name);
    if (node instanceof Dir) {
      const entry: WalkEntry = { name: `${path}/`, node };
      if (name.startsWith(WHITEOUT_PREFIX)) {
        // Only an implied directory has such a name (its entry would be a whiteout): it stays
        // implied, made by what is written inside it — an opaque marker when nothing else is.
        if (node.children.size === 0 && (fresh(node) || lowerNode === undefined)) {
          yield* flushPending();
          yield { marker: markerHeader(`${path}/${OPAQUE_MARKER}`, markerMtime) };
        }
        yield* open(node, `${path}/`, lowerNode instanceof Dir ? lowerNode : undefined, undefined, false);
        continue;
      }
      // A kept directory is written only if something in it is; a new one always is.
      const written = fresh(node) || lowerNode === undefined;
      if (written) {
        yield* flushPending();
        yield entry;
        if (counts) counts.entries++;
      }
      // Under a new directory that replaced a base non-directory, nothing of the base shows through.
      yield* open(node, `${path}/`, lowerNode instanceof Dir ? lowerNode : undefined, written ? undefined : entry, false);
      continue;
    }
    if (!fresh(node) && lowerNode !== undefined) continue;
    yield* flushPending();
    if (counts) counts.entries++;
    yield links.entry(node, path);
  }
}

/** An empty tree: the base when every layer is squashed. */
export function emptyTree(): MergedTree {
  return { root: new Dir(0o755, 0, 0, 0, -1, false), layerCount: 0 };
}
