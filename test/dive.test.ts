/**
 * `inspect` as a CI gate (src/inspect/dive.ts, src/cli/inspect-command.ts): dive's efficiency, wasted
 * bytes and user-wasted fraction against a count made by hand from dive's rules
 * (filetree/efficiency.go: leaves per layer, a whiteout sized by the directory it hides, 0 for a file;
 * wasted = the cumulative size of every path seen in two layers or more), and the three flags.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { inspectImage } from '../src/index.js';
import { e, imageArchive, layerTar, writeTemp } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';
import { scratchDir } from './support/build.js';
// @ts-expect-error plain-JS benchmark helper without type declarations
import { generateImage, planImage } from '../scripts/bench/generator.js';

const bytes = (n: number) => 'x'.repeat(n);

let image = '';
beforeAll(async () => {
  image = writeTemp(
    await imageArchive([
      await layerTar([e('a', { content: bytes(10) }), e('d/', { type: 'dir' }), e('d/x', { content: bytes(100) }), e('d/y', { content: bytes(50) })]),
      await layerTar([e('a', { content: bytes(20) }), e('.wh.d', { content: '' }), e('b', { content: bytes(5) })]),
      await layerTar([e('.wh.a', { content: '' }), e('b', { content: bytes(7) })]),
    ]),
  );
});

describe('dive\'s figures, counted by hand', () => {
  // leaves: L0 a=10 d/x=100 d/y=50; L1 a=20 d(whiteout of a directory: 150) b=5; L2 a(whiteout of a file: 0) b=7
  // per path (cumulative/minimum): a 30/0, d/x 100/100, d/y 50/50, d 150/150, b 12/5
  it('efficiency = Σ minimum / Σ cumulative; wasted = Σ cumulative of paths in two layers; user wasted over layers 1..n', async () => {
    const report = await inspectImage(image, { changes: true });
    expect(report.dive.efficiency).toBeCloseTo(305 / 342, 12);
    expect(report.dive.wastedBytes).toBe(30 + 12);
    expect(report.dive.userSizeBytes).toBe(25 + 7);
    expect(report.dive.userWastedPercent).toBeCloseTo(42 / 32, 12);
    expect(report.dive.inefficiencies).toEqual([
      { path: 'a', bytes: 30, layers: [0, 1, 2] },
      { path: 'b', bytes: 12, layers: [1, 2] },
    ]);
    // layerfold's own figures beside them: file bytes of all layers, and what survives (b's 7)
    expect(report.totals.fileBytes).toBe(192);
    expect(report.totals.survivingBytes).toBe(7);
  });

  it('records what each layer added, modified and deleted', async () => {
    const report = await inspectImage(image, { changes: true });
    expect(report.layers.map((l) => l.changes)).toEqual([
      { added: ['a', 'd', 'd/x', 'd/y'], modified: [], deleted: [] },
      { added: ['b'], modified: ['a'], deleted: ['d'] },
      { added: [], modified: ['b'], deleted: ['a'] },
    ]);
    expect((await inspectImage(image)).layers[0]!.changes).toBeUndefined();
  });
});

describe('inspect gates', () => {
  const gate = async (...flags: string[]) => cli(['inspect', image, ...flags]);

  it('exit 1 with the reason on one line when a rule is crossed, 0 when not', async () => {
    const over = await gate('--min-efficiency', '0.9', '--max-wasted', '41', '--max-wasted-percent', '1');
    expect(over.code).toBe(1);
    expect(over.stderr.trimEnd().split('\n')).toEqual([
      'layerfold: efficiency 0.8918 is below --min-efficiency 0.9; 42 wasted bytes are over --max-wasted 41; user wasted 1.3125 is over --max-wasted-percent 1',
    ]);
    const under = await gate('--min-efficiency', '0.85', '--max-wasted', '42');
    expect(under.stderr).toBe('');
    expect(under.code).toBe(0);
    expectOneLine(await gate('--max-wasted-percent', '1.3'), /--max-wasted-percent takes a fraction from 0 to 1/);
    expect((await gate('--min-efficiency', '0.85', '--max-wasted', '1kB')).code).toBe(0);
    expect((await gate('--max-wasted', '0.0001MiB')).code).toBe(0); // 105 bytes
    expect((await gate('--max-wasted', '41B')).code).toBe(1);
  });

  it('refuses a bad threshold before reading the image', async () => {
    expectOneLine(await cli(['inspect', '/nonexistent.tar', '--max-wasted', '20XB']), /--max-wasted takes a size/);
    expectOneLine(await cli(['inspect', '/nonexistent.tar', '--min-efficiency', '95']), /--min-efficiency takes a fraction/);
  });

  it('--wasted lists the inefficiencies, largest first', async () => {
    const r = await gate('--wasted');
    expect(r.code).toBe(0);
    const lines = r.stdout.toString().split('\n');
    expect(lines[0]).toMatch(/^bytes\s+count\s+layers\s+path$/);
    expect(lines[1]).toMatch(/^\s*30 B\s+3\s+0,1,2\s+a$/);
    expect(lines[2]).toMatch(/^\s*12 B\s+2\s+1,2\s+b$/);
  });
});

describe('inspect gates on a bench-shaped image (scripts/bench/generator.js)', () => {
  const params = { name: 'gate', files: 400, bytes: 2_000_000, layers: 4, overwritten: 0.1, whiteout: 0.05, opaque: 0.1, hardlinked: 0.05, seed: 3 };

  it('exit 1 over each threshold and 0 under it; every overwritten file counted as wasted, both copies', async () => {
    const { image } = (await generateImage(params, scratchDir())) as { image: string };
    const report = await inspectImage(image);
    const { efficiency, wastedBytes, userWastedPercent } = report.dive;
    // from the generator's own plan: a file written again in an upper layer is a path in two layers,
    // so dive counts every copy of it (its whiteouts and opaque directories can only add to that)
    const plan = planImage(params) as { layers: Array<Array<{ path: string; type: string; size: number }>> };
    const copies = new Map<string, number[]>();
    for (const layer of plan.layers) for (const x of layer) if (x.type === 'file') copies.set(x.path, [...(copies.get(x.path) ?? []), x.size]);
    const twice = [...copies.values()].filter((sizes) => sizes.length >= 2);
    expect(twice.length).toBeGreaterThan(0);
    expect(wastedBytes).toBeGreaterThanOrEqual(twice.flat().reduce((a, b) => a + b, 0));
    expect(efficiency).toBeGreaterThan(0);
    expect(efficiency).toBeLessThan(1);
    const code = async (...flags: string[]) => (await cli(['inspect', image, ...flags])).code;
    expect(await code('--min-efficiency', String(Math.min(1, efficiency + 0.001)))).toBe(1);
    expect(await code('--min-efficiency', String(efficiency - 0.001))).toBe(0);
    expect(await code('--max-wasted', String(wastedBytes - 1))).toBe(1);
    expect(await code('--max-wasted', String(wastedBytes))).toBe(0);
    if (userWastedPercent < 1) {
      expect(await code('--max-wasted-percent', String(userWastedPercent * 0.99))).toBe(1);
      expect(await code('--max-wasted-percent', String(Math.min(1, userWastedPercent * 1.01)))).toBe(0);
    }
  });
});
