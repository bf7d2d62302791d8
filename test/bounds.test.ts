/**
 * Issue 20's bounds (amplification, big trees, usage errors): every command on each such input ends
 * with a contained result, or exit 2 with one line and nothing left in the output or temp directory.
 * Inputs are generated in-process by scripts/bench/shapes.js and kept small; nothing here is timed
 * (the full sizes, with their seconds and peak memory, are scripts/hostile-bounds.js, run by hand).
 * Expected outcomes come from docker: `docker load` (26.1, overlay2) loads 125 layers and refuses a
 * 126th with "max depth exceeded", the same blob listed 125 times included.
 */
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain-JS helper without type declarations
import { deepEntries, repeatedLayerImage, repeatedManifestImage, wideEntries, writeDistinctManifestsLayout, writeTreeImage } from '../scripts/bench/shapes.js';
import { exportRootfs, inspectImage, isLayerfoldError, listImage } from '../src/index.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { COMMANDS, isOneLineRefusal, listTree, runCli, sandbox } from './support/hostile.js';


/** Every command refuses `image` with one line matching `message`, leaving OUT and TMP empty. */
async function expectRefusedByAll(image: string, message: RegExp, extra: string[] = [], only?: string[]): Promise<void> {
  for (const command of COMMANDS.filter((c) => !only || only.includes(c.name))) {
    const { out, tmp } = sandbox();
    const run = await runCli([...command.argv(image, out, tmp), ...extra]);
    expect(run.code, `${command.name}: ${run.stderr}`).toBe(2);
    expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
    expect(run.stderr).toMatch(message);
    expect(listTree(out), command.name).toEqual([]);
    expect(readdirSync(tmp), command.name).toEqual([]);
  }
}

/**
 * Every command takes `image`: exit 0 (diff of an image with itself: no difference), TMP empty. `file`
 * is a regular file the image holds, for cat and why; without one, cat refuses in one line.
 */
async function expectAcceptedByAll(image: string, file?: string): Promise<void> {
  for (const command of COMMANDS) {
    const { out, tmp } = sandbox();
    const run = await runCli(command.argv(image, out, tmp, file));
    expect(readdirSync(tmp), command.name).toEqual([]);
    if (command.needsFile && file === undefined) {
      expect(run.code, `${command.name}: ${run.stderr}`).toBe(2);
      expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
      continue;
    }
    expect(run.code, `${command.name}: ${run.stderr}`).toBe(0);
  }
}

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

describe('layer count (docker: at most 125, "max depth exceeded")', () => {
  it('one empty layer listed 30,000 times in a 16 KB archive: refused by every command before anything is read for it', async () => {
    await expectRefusedByAll(writeTemp(repeatedLayerImage(30_000), 'layers-30k.tar.gz'), /the image has 30000 layers; docker refuses more than 125 \("max depth exceeded"/);
  });

  it('126 listings are refused (LIMIT), 125 of one blob are accepted: 125 layers, the blob prepared once', async () => {
    const over = writeTemp(repeatedLayerImage(126), 'layers-126.tar.gz');
    await expectRefusedByAll(over, /126 layers; docker refuses more than 125/);
    await expect(exportRootfs(over, { output: join(scratchDir(), 'x.tar') })).rejects.toSatisfy((err: unknown) => isLayerfoldError(err) && err.code === 'LIMIT');
    const at = writeTemp(repeatedLayerImage(125), 'layers-125.tar.gz');
    await expectAcceptedByAll(at);
    const report = await inspectImage(at);
    expect(report.layers).toHaveLength(125);
  });

  it('an OCI manifest listing one layer blob 126 times is refused; 3 listings of a gzip blob export what one gives', async () => {
    const layer = await layerTar([e('etc/'), e('etc/passwd', { content: 'root:x:0:0::/root:/bin/sh\n' })]);
    await expectRefusedByAll(writeTemp(await imageArchive(Array(126).fill(layer), { layout: 'oci' }), 'oci-126.tar'), /126 layers; docker refuses more than 125/);
    const three = writeTemp(await imageArchive([layer, layer, layer], { layout: 'oci', compression: 'gzip' }), 'oci-3.tar');
    const names: string[] = [];
    await listImage(three, {}, (entry) => names.push(entry.name));
    expect(names).toEqual(['etc/', 'etc/passwd']);
    await expectAcceptedByAll(three, 'etc/passwd');
  });
});

describe('OCI indexes that repeat themselves', () => {
  it('one manifest listed 3,000 times (read, hashed, parsed once): every command takes it', async () => {
    await expectAcceptedByAll(writeTemp(repeatedManifestImage({ copies: 3000, manifestBytes: 64 << 10 }), 'manifest-x3000.tar.gz'), 'hello');
  });

  it('one manifest listed under 20,000 names: any name picks it', async () => {
    const image = writeTemp(repeatedManifestImage({ copies: 20_000, names: true }), 'names-20k.tar.gz');
    const report = await inspectImage(image, { image: 'hostile:19999' });
    expect(report.name).toBe('hostile:0');
    const { out, tmp } = sandbox();
    const run = await runCli(['ls', image, '--image', 'hostile:12345', '--tmpdir', tmp]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('hello');
    expect(listTree(out)).toEqual([]);
  });

  it('more than 10,000 distinct manifests and configs to read: refused (LIMIT), one line', async () => {
    const dir = writeDistinctManifestsLayout(join(scratchDir(), 'many'), { count: 10_001 });
    await expectRefusedByAll(dir, /name more than 10000 distinct manifests and configs/, ['--image', 'hostile:1'], ['ls']);
  });

  it('more than 128 MiB of manifests to parse: refused (LIMIT) before the fifth 30 MB one is read', async () => {
    const dir = writeDistinctManifestsLayout(join(scratchDir(), 'big'), { count: 5, manifestBytes: 30_000_000 });
    const { tmp } = sandbox();
    const run = await runCli(['ls', dir, '--image', 'hostile:0', '--tmpdir', tmp]);
    expect(run.code).toBe(2);
    expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
    expect(run.stderr).toMatch(/add up to more than 128 MiB of JSON/);
  });
});

describe('big trees', () => {
  // 150,000 names: past the ~120,000 arguments a spread call takes before the stack overflows
  const WIDE = 130_000;
  let wide: Promise<string> | undefined;
  const wideImage = () => (wide ??= (async () => {
    const image = join(scratchDir(), 'wide.tar');
    await writeTreeImage(image, wideEntries(WIDE));
    return image;
  })());

  for (const name of ['export', 'diff']) {
    it(`one directory of ${WIDE} empty files: ${name} ends with exit 0`, async () => {
      const image = await wideImage();
      const command = COMMANDS.find((c) => c.name === name)!;
      const { out, tmp } = sandbox();
      const run = await runCli(command.argv(image, out, tmp));
      expect(run.code, run.stderr).toBe(0);
      expect(readdirSync(tmp)).toEqual([]);
    });
  }

  it(`${WIDE} empty files: diff with an empty tar reports every one (exit 1), why explains one`, async () => {
    const image = await wideImage();
    const empty = writeTemp(await layerTar([]), 'empty.tar');
    const diff = await runCli(['diff', image, empty]);
    expect(diff.code, diff.stderr).toBe(1);
    expect(diff.stdout.split('\n').filter((l) => l.startsWith('- ')).length).toBe(WIDE + 1);
    const why = await runCli(['why', image, 'wide/f00001']);
    expect(why.code, why.stderr).toBe(0);
  });

  it('extract and bundle of 5,000 files in one directory: every file there', async () => {
    const image = join(scratchDir(), 'wide5k.tar');
    await writeTreeImage(image, wideEntries(5000));
    const { out } = sandbox();
    expect((await runCli(['extract', image, join(out, 'root')])).code).toBe(0);
    expect(readdirSync(join(out, 'root', 'wide'))).toHaveLength(5000);
    expect((await runCli(['bundle', image, join(out, 'bundle')])).code).toBe(0);
    expect(readdirSync(join(out, 'bundle', 'rootfs', 'wide'))).toHaveLength(5000);
  });

  it('a file 1,000 directories deep: exported and listed; extract and bundle under a DIR that pushes it past PATH_MAX refuse it in one line, nothing written', async () => {
    const image = join(scratchDir(), 'deep.tar');
    await writeTreeImage(image, deepEntries(1000));
    const { out, tmp } = sandbox();
    expect((await runCli(['export', image, '-o', join(out, 'rootfs.tar'), '--tmpdir', tmp])).code).toBe(0);
    expect((await runCli(['ls', image])).code).toBe(0);
    const why = await runCli(['why', image, `${'d/'.repeat(1000)}file`]);
    expect(why.code, why.stderr).toBe(0);
    expect(why.stdout).toMatch(/final: file, 5 B/);
    // a short DIR: the deep file is written (and removed again with DIR afterwards)
    const short = sandbox();
    expect((await runCli(['extract', image, join(short.out, 'r')])).code).toBe(0);
    expect(existsSync(join(short.out, 'r', ...Array(1000).fill('d'), 'file'))).toBe(true);
    // a DIR 2,100 bytes longer: 2,004 + 2,100 bytes is past PATH_MAX
    const long = join(scratchDir(), ...Array(21).fill('x'.repeat(99)));
    mkdirSync(long, { recursive: true });
    for (const argv of [['extract', image, join(long, 'root')], ['bundle', image, join(long, 'bundle')]]) {
      const run = await runCli([...argv, '--tmpdir', tmp]);
      expect(run.code, run.stderr).toBe(2);
      expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
      expect(run.stderr).toMatch(/past the kernel's PATH_MAX .*extract into a directory whose path is at least \d+ bytes? shorter/);
      expect(readdirSync(long)).toEqual([]);
      expect(readdirSync(tmp)).toEqual([]);
    }
    // diff against that rootfs: read in place it compares; moved under the long DIR, its deep file is
    // past PATH_MAX as DIR/NAME and diff refuses it in one line (was the kernel's raw ENAMETOOLONG)
    const near = await runCli(['diff', join(short.out, 'r'), image]);
    expect(near.code, near.stderr).not.toBe(2);
    renameSync(join(short.out, 'r'), join(long, 'r'));
    const far = await runCli(['diff', join(long, 'r'), image]);
    expect(far.code, far.stderr).toBe(2);
    expect(isOneLineRefusal(far.stderr), far.stderr).toBe(true);
    expect(far.stderr).toMatch(/past the kernel's PATH_MAX .*at least \d+ bytes? shorter \(cd into it and diff \.\)$/m);
  });
});
