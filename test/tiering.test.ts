/**
 * The CLI's TurboFan switch (src/cli/tiering.ts): runs start with `--no-opt`, and TurboFan comes on
 * once apply has reported enough entries, or layer bytes enough, on its diagnostics channel. Checked
 * on the real CLI with V8's own trace of what it compiles (`--trace-opt`), so a switch that no longer
 * reaches V8 (a Node whose flags are frozen, a renamed flag) fails here, not only in the benchmark.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIMISE_AFTER, whenWorkIsBig } from '../src/cli/tiering.js';
import { APPLY_CHANNEL } from '../src/tree/apply.js';
import { TempSpace } from '../src/io/temp.js';
import { findImage, openSource } from '../src/read/open-image.js';
import { prepareLayers } from '../src/read/layers.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { treeOf } from './support/tree.js';

const many = (n: number) => Array.from({ length: n }, (_, i) => e(`d${i >> 10}/f${i}`, { content: '' }));

describe('apply reports its work to the switch', () => {
  it('the CLI names the channel apply publishes on', async () => {
    const { readFileSync } = await import('node:fs');
    expect(readFileSync('src/cli/tiering.ts', 'utf8')).toContain(`const APPLY_CHANNEL = '${APPLY_CHANNEL}';`);
  });

  it('fires once the entries pass the count, not before', async () => {
    const fired: string[] = [];
    whenWorkIsBig(8192, Infinity, () => fired.push('8192'));
    await treeOf([many(3000), many(3000)]); // layers of one run add up (in steps of 4096)
    expect(fired).toEqual([]);
    await treeOf([many(5000)]); // and so do runs of one process
    expect(fired).toEqual(['8192']);
    await treeOf([many(9000)]);
    expect(fired).toEqual(['8192']); // once
  });

  it('fires before the first entry when the layers are big enough', async () => {
    const fired: string[] = [];
    whenWorkIsBig(1e9, 1 << 20, () => fired.push('bytes'));
    await treeOf([[e('small')]]);
    expect(fired).toEqual([]);
    await treeOf([[e('big', { content: Buffer.alloc(1 << 20) })]]);
    expect(fired).toEqual(['bytes']);
    whenWorkIsBig(1e9, Infinity, () => fired.push('never'));
  });
});

describe('the layers\' stored size is reported before they are read', () => {
  it('a big gzip image turns the switch before its layers are decompressed', async () => {
    const content = Buffer.alloc(4 << 20, 0x61); // 4 MiB that gzip makes a few KiB
    const path = writeTemp(await imageArchive([await layerTar([e('big', { content })])], { layout: 'oci', compression: 'gzip' }));
    const fired: string[] = [];
    whenWorkIsBig(1e9, 1024, () => fired.push('stored'));
    const temp = TempSpace.create();
    const source = await openSource(path, temp);
    try {
      const image = await findImage(source);
      const stored = image.layers[0]!.blob.size;
      expect(stored).toBeLessThan(1 << 20);
      // the report comes from prepareLayers itself: before this call nothing has fired
      expect(fired).toEqual([]);
      await prepareLayers(image, temp);
      expect(fired).toEqual(['stored']);
    } finally {
      source.close();
      temp.dispose();
      whenWorkIsBig(1e9, Infinity, () => undefined);
    }
  });
});

/** How many functions TurboFan compiled in an export of `image` by the real CLI. */
function turbofanCompiles(image: string, nodeFlags: string[] = []): number {
  const out = join(scratchDir(), 'out.tar');
  const r = spawnSync(process.execPath, ['--trace-opt', ...nodeFlags, 'bin/layerfold.js', 'export', image, '-o', out], { encoding: 'utf8', maxBuffer: 64 << 20 });
  expect(r.status, r.stderr).toBe(0);
  // Node 22+ also traces Maglev (the mid tier, left on): only `(target TURBOFAN)` lines count
  return r.stdout.split('\n').filter((l) => l.includes('compiling method') && l.includes('TURBOFAN')).length;
}

describe('the CLI starts lean and optimises once the work is big', () => {
  it('a small image gets no TurboFan compile; the same run with TurboFan left on gets some', async () => {
    const image = writeTemp(await imageArchive([await layerTar(many(6000))]));
    expect(turbofanCompiles(image, ['--opt'])).toBeGreaterThan(0); // the user's own choice is kept
    expect(turbofanCompiles(image)).toBe(0);
  }, 60_000);

  it(`past ${OPTIMISE_AFTER} entries TurboFan compiles`, async () => {
    const image = writeTemp(await imageArchive([await layerTar(many(OPTIMISE_AFTER + 8192))]));
    expect(turbofanCompiles(image)).toBeGreaterThan(0);
  }, 60_000);
});

describe('WebAssembly stays on its baseline tier in a lean run', () => {
  /** Functions of the header codec's module (tar/wasm-block.ts) V8 compiled with TurboFan in an export of `image`. */
  const wasmTurbofan = (image: string, nodeFlags: string[] = []): number => {
    const out = join(scratchDir(), 'out.tar');
    const r = spawnSync(process.execPath, ['--trace-wasm-compilation-times', ...nodeFlags, 'bin/layerfold.js', 'export', image, '-o', out], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('Compiled function'));
    expect(lines.some((l) => l.includes('using Liftoff'))).toBe(true); // the codec ran in WebAssembly
    return lines.filter((l) => l.includes('using TurboFan')).length;
  };

  it('a small image of a few thousand headers: no TurboFan compile of the codec; with its own flag, some', async () => {
    const image = writeTemp(await imageArchive([await layerTar(many(6000))]));
    expect(wasmTurbofan(image, ['--wasm-tiering-budget=1000'])).toBeGreaterThan(0); // the user's own choice is kept
    expect(wasmTurbofan(image)).toBe(0);
  }, 60_000);
});
