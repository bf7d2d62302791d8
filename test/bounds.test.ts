/**
 * Issue 20's bounds (amplification, big trees, usage errors): every command on each such input ends
 * with a contained result, or exit 2 with one line and nothing left in the output or temp directory.
 * The inputs are generated in-process and kept small (no timed assertions: the figures for the large
 * shapes are in scripts/hostile-bounds.js, run by hand).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { isOneLineRefusal, listTree, runCli } from './support/hostile.js';

describe('usage errors stop before any work', () => {
  it('bundle IMG DIR --bogus: exit 2, one usage message, DIR never made', async () => {
    const image = writeTemp(await imageArchive([await layerTar([e('etc/'), e('etc/passwd')])]), 'usage.tar');
    const root = scratchDir();
    for (const argv of [
      ['bundle', image, join(root, 'bundle'), '--bogus'],
      ['extract', image, join(root, 'rootfs'), '--bogus'],
      ['export', image, '-o', join(root, 'rootfs.tar'), '--bogus'],
    ]) {
      const run = await runCli(argv);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/layerfold: Unknown argument: bogus\n$/);
      expect(run.stdout).toBe('');
    }
    expect(listTree(root)).toEqual([]);
    expect(existsSync(join(root, 'bundle'))).toBe(false);
  });
});
