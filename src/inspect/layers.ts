/**
 * Per-layer statistics, from headers only (no file data is read):
 * - what each layer holds — entries, regular-file bytes, whiteouts, opaque markers — counted through
 *   flattenImage's `onEntry` as the layer is applied (the layer's own root entry, which docker skips,
 *   is not counted);
 * - what survives — the bytes of regular files in the final tree, by the layer that made them
 *   (`Inode.layer`), each hard-linked inode counted once, as docker export writes its data once.
 * A layer's wasted bytes are its file bytes that do not survive: shadowed by a later layer, or hidden
 * by a whiteout or an opaque directory. Efficiency is surviving / all file bytes, as dive reports it.
 */
import type { TarEntry } from '../tar/entries.js';
import { Dir, type Inode, type MergedTree } from '../tree/node.js';
import { markerKind } from '../tree/whiteouts.js';


export interface LayerCounts {
  /** Entries the layer holds (whiteouts and opaque markers included). */
  entries: number;
  /** Sum of the sizes of its regular-file entries (hardlink entries carry no data). */
  fileBytes: number;
  files: number;
  whiteouts: number;
  opaqueMarkers: number;
}

export interface SurvivingBytes {
  /** Bytes of regular files in the final tree, by the layer they came from. */
  bytes: number[];
  files: number[];
}

const emptyCounts = (): LayerCounts => ({ entries: 0, fileBytes: 0, files: 0, whiteouts: 0, opaqueMarkers: 0 });

/** Counts per layer, fed by flattenImage's onEntry. */
export class LayerCounter {
  readonly layers: LayerCounts[] = [];

  readonly onEntry = (layer: number, entry: TarEntry, path: string): void => {
    const counts = (this.layers[layer] ??= emptyCounts());
    counts.entries++;
    const base = path.slice(path.lastIndexOf('/') + 1);
    const marker = markerKind(base);
    if (marker === 'opaque') counts.opaqueMarkers++;
    else if (marker === 'whiteout') counts.whiteouts++;
    else if (entry.type === 'file') {
      counts.files++;
      counts.fileBytes += entry.size;
    }
  };

  /** Counts for layers 0..layerCount-1 (a layer with no entries gets zeros). */
  counts(layerCount: number): LayerCounts[] {
    return Array.from({ length: layerCount }, (_, i) => this.layers[i] ?? emptyCounts());
  }
}

/** Surviving regular-file bytes per layer, from the merged tree; each inode once. */
export function survivingBytes(tree: MergedTree): SurvivingBytes {
  const bytes = new Array<number>(tree.layerCount + 1).fill(0);
  const files = new Array<number>(tree.layerCount + 1).fill(0);
  const seen = new Set<Inode>();
  const stack: Dir[] = [tree.root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const node of dir.children.values()) {
      if (node instanceof Dir) {
        stack.push(node);
        continue;
      }
      if (node.type !== 'file') continue;
      if (node.linked) {
        if (seen.has(node)) continue;
        seen.add(node);
      }
      bytes[node.layer] = (bytes[node.layer] ?? 0) + node.size;
      files[node.layer] = (files[node.layer] ?? 0) + 1;
    }
  }
  return { bytes, files };
}
