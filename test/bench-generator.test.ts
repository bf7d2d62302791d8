/**
 * The benchmark's image generator (scripts/bench/generator.js): a benchmark is only comparable when
 * the same parameters give the same bytes, and only meaningful when the image has the shape the
 * parameters ask for. Shape is checked two independent ways: node-tar reads the archive and each
 * layer (entry kinds counted per layer against the plan), and layerfold flattens it (the final files
 * and sizes against the plan's own model of the layer rules).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain-JS benchmark helper without type declarations
import { generateImage, imageKey, planImage } from '../scripts/bench/generator.js';
import { flattenImage } from '../src/flatten.js';
import { Dir } from '../src/tree/node.js';
import { walkTree } from '../src/tree/walk.js';
import { scratchDir } from './support/build.js';
import { readWithNodeTar } from './support/read.js';

interface PlanEntry {
  path: string;
  type: 'file' | 'dir' | 'link' | 'whiteout' | 'opaque';
  size: number;
}
interface Plan {
  layers: PlanEntry[][];
  final: Map<string, { size: number }>;
  dirs: string[];
}

const SMALL = { name: 'gen-test', files: 600, bytes: 3_000_000, layers: 4, overwritten: 0.1, whiteout: 0.08, opaque: 0.2, hardlinked: 0.1, seed: 7 };

const digestOf = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function kindCounts(entries: { type: string; path: string }[]) {
  const counts = { file: 0, dir: 0, link: 0, whiteout: 0, opaque: 0 };
  for (const e of entries) {
    const base = e.path.replace(/\/$/, '').split('/').pop()!;
    if (base === '.wh..wh..opq') counts.opaque++;
    else if (base.startsWith('.wh.')) counts.whiteout++;
    else if (e.type === 'Directory' || e.type === 'dir') counts.dir++;
    else if (e.type === 'Link' || e.type === 'link') counts.link++;
    else counts.file++;
  }
  return counts;
}

describe('bench image generator', () => {
  it('plans the same image for the same parameters and a different one for another seed', () => {
    const a = planImage(SMALL) as Plan;
    const b = planImage(SMALL) as Plan;
    const c = planImage({ ...SMALL, seed: 8 }) as Plan;
    expect(JSON.stringify(a.layers)).toBe(JSON.stringify(b.layers));
    expect(JSON.stringify(a.layers)).not.toBe(JSON.stringify(c.layers));
    expect(imageKey(SMALL)).toBe(imageKey({ ...SMALL }));
    expect(imageKey(SMALL)).not.toBe(imageKey({ ...SMALL, seed: 8 }));
  });

  it('plans the requested file count, byte total and every kind of layer change', () => {
    const plan = planImage(SMALL) as Plan;
    expect(plan.layers).toHaveLength(SMALL.layers);
    const newFiles = new Set<string>();
    let newBytes = 0;
    for (const layer of plan.layers) {
      for (const e of layer) {
        if (e.type === 'file' && /f\d{7}\.dat$/.test(e.path) && !newFiles.has(e.path)) {
          newFiles.add(e.path);
          newBytes += e.size;
        }
      }
    }
    expect(newFiles.size).toBe(SMALL.files);
    // sizes are floored one by one, so the total may fall short by less than a byte per file
    expect(newBytes).toBeLessThanOrEqual(SMALL.bytes);
    expect(newBytes).toBeGreaterThan(SMALL.bytes - SMALL.files);
    const upper = kindCounts(plan.layers.slice(1).flat());
    expect(upper.whiteout).toBeGreaterThan(0);
    expect(upper.opaque).toBeGreaterThan(0);
    expect(upper.link).toBeGreaterThan(0);
    // overwrites: a path written again in a higher layer
    const seen = new Set<string>();
    let rewrites = 0;
    for (const layer of plan.layers) for (const e of layer) if (e.type === 'file') seen.has(e.path) ? rewrites++ : seen.add(e.path);
    expect(rewrites).toBeGreaterThan(0);
  });

  it('writes byte-identical archives for the same parameters, in every layout and compression', async () => {
    for (const variant of [{}, { layout: 'oci', compression: 'gzip' }, { layout: 'oci', compression: 'zstd' }]) {
      const params = { ...SMALL, files: 200, bytes: 400_000, ...variant };
      const one = await generateImage(params, join(scratchDir(), 'one'));
      const two = await generateImage(params, join(scratchDir(), 'two'));
      expect(digestOf(one.image)).toBe(digestOf(two.image));
    }
  });

  it('writes layers whose entries are the plan, as node-tar reads them', async () => {
    const plan = planImage(SMALL) as Plan;
    const summary = await generateImage(SMALL, scratchDir());
    const members = await readWithNodeTar(summary.image);
    const layerMembers = members.filter((m) => m.path.endsWith('/layer.tar'));
    expect(layerMembers).toHaveLength(SMALL.layers);
    const manifest = JSON.parse(members.find((m) => m.path === 'manifest.json')!.content!);
    for (let i = 0; i < SMALL.layers; i++) {
      const member = layerMembers.find((m) => m.path === manifest[0].Layers[i])!;
      const entries = await readWithNodeTar(Buffer.from(member.content!, 'latin1'));
      expect(kindCounts(entries)).toEqual(kindCounts(plan.layers[i]!));
      for (const e of entries.filter((x) => x.type === 'File' && !x.path.includes('.wh.'))) {
        expect(e.content!.length).toBe(e.size);
      }
    }
  });

  it('flattens (through layerfold) to exactly the files and sizes the plan predicts', async () => {
    const plan = planImage(SMALL) as Plan;
    const summary = await generateImage({ ...SMALL, layout: 'oci', compression: 'gzip' }, scratchDir());
    const flat = await flattenImage(summary.image);
    try {
      const files = new Map<string, number>();
      for (const { name, node } of walkTree(flat.tree)) if (!(node instanceof Dir)) files.set(name, node.size);
      expect(files.size).toBe(plan.final.size);
      for (const [path, { size }] of plan.final) expect(files.get(path), path).toBe(size);
    } finally {
      flat.close();
    }
  });
});
