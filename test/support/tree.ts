/**
 * Layers built in memory and applied by src/tree/apply.ts directly (no image archive, no reader):
 * each layer is a tar written by tar-stream to a temp file, handed to applyLayers as a LayerSource.
 */
import { closeSync, openSync } from 'node:fs';
import { afterAll } from 'vitest';
import { applyLayers, type ApplyOptions } from '../../src/tree/apply.js';
import type { LayerSource, MergedTree } from '../../src/tree/node.js';
import { layerTar, T0, writeTemp, type EntrySpec } from './build.js';

const open: number[] = [];
afterAll(() => {
  for (const fd of open.splice(0)) closeSync(fd);
});

/** The layers as LayerSources (bottom first), each a tar file of its own. */
export async function layerSources(layers: EntrySpec[][]): Promise<LayerSource[]> {
  return Promise.all(
    layers.map(async (entries, index) => {
      const bytes = await layerTar(entries);
      const fd = openSync(writeTemp(bytes, `layer-${index}.tar`), 'r');
      open.push(fd);
      return { index, fd, base: 0, size: bytes.length, label: `layer ${index}` };
    }),
  );
}

/** The merged tree of the layers; implied directories get mtime T0 + 1 (the unpack time). */
export async function treeOf(layers: EntrySpec[][], options: Partial<ApplyOptions> = {}): Promise<MergedTree> {
  return applyLayers(await layerSources(layers), { impliedMtime: T0 + 1, ...options });
}
