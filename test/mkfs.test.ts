/**
 * `layerfold mkfs --type ext4`, checked by the real tools: e2fsck -fn passes every image, and the
 * kernel's mount of it (as root) equals GNU tar's unpacking of docker's own `export.tar` — read with
 * lstat and getfattr (test/support/dir-snapshot.ts), never with our reader. Written as uid 65534 it
 * is the same bytes as written as root; the same input gives the same bytes; a mounted image takes
 * new files and stays clean; failures leave nothing behind.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportRootfs, makeFilesystem } from '../src/index.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp, type EntrySpec } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';
import { snapshot, type SnapEntry } from './support/dir-snapshot.js';
import { dockerPairs, impliedDirs } from './support/pairs.js';
import { hasCommand } from './support/read.js';

const isRoot = process.geteuid?.() === 0;
const haveFsck = hasCommand('e2fsck');

function e2fsck(image: string): { status: number | null; out: string } {
  const r = spawnSync('e2fsck', ['-fn', image], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** Mount read-only (or read-write) through a loop device, run fn, always unmount. */
async function withMount<T>(image: string, fn: (dir: string) => Promise<T> | T, rw = false): Promise<T> {
  const dir = join(scratchDir(), 'mnt');
  mkdirSync(dir);
  const m = spawnSync('mount', ['-o', rw ? 'loop' : 'loop,ro', image, dir], { encoding: 'utf8' });
  expect(m.stderr).toBe('');
  expect(m.status).toBe(0);
  try {
    return await fn(dir);
  } finally {
    spawnSync('umount', [dir]);
  }
}

function gnuExtract(tarFile: string): string {
  const ref = join(scratchDir(), 'ref');
  mkdirSync(ref);
  const run = spawnSync('tar', ['--numeric-owner', '--same-owner', '-p', '--warning=no-timestamp', '--xattrs', '--xattrs-include=security.capability', '-xf', tarFile, '-C', ref], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return ref;
}

const withoutMtimeOf = (implied: Set<string>) => (x: SnapEntry) => (implied.has(x.name) ? { ...x, mtime: 0 } : x);
const notLostFound = (x: SnapEntry) => x.name !== 'lost+found';

async function impliedNames(image: string, created: number): Promise<Set<string>> {
  return new Set([...(await impliedDirs(image, created))].map((n) => n.slice(0, -1)));
}

/** The mounted image, read with lstat/getfattr, against GNU tar's unpacking of the reference tar. */
async function expectMountEquals(fsImage: string, referenceTar: string, implied: Set<string>, clampTimes = false): Promise<void> {
  const caps = hasCommand('getfattr');
  // squashfs stores unsigned 32-bit seconds: times outside are clamped (and reported)
  const clamp = (x: SnapEntry) => (clampTimes ? { ...x, mtime: Math.min(Math.max(x.mtime, 0), 0xffffffff) } : x);
  const ref = snapshot(gnuExtract(referenceTar), { capabilities: caps }).map(withoutMtimeOf(implied)).map(clamp);
  const ours = await withMount(fsImage, (dir) => snapshot(dir, { capabilities: caps }).filter(notLostFound).map(withoutMtimeOf(implied)));
  expect(ours).toEqual(ref);
}

const haveUnsquashfs = hasCommand('unsquashfs');
const haveFsckErofs = hasCommand('fsck.erofs');

/** The filesystem's own checker: e2fsck -fn, unsquashfs reading the superblock and every inode and listing, fsck.erofs. */
function checkImage(type: 'ext4' | 'squashfs' | 'erofs', image: string): void {
  if (type === 'erofs') {
    const r = spawnSync('fsck.erofs', [image], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).not.toMatch(/err|fail|corrupt|invalid/i);
    expect(r.status).toBe(0);
    return;
  }
  if (type === 'ext4') {
    const check = e2fsck(image);
    expect(check.out).not.toMatch(/Fix\?|differences|wrong|invalid|corrupt/i);
    expect(check.status).toBe(0);
    return;
  }
  for (const args of [['-s', image], ['-lls', image]]) {
    const r = spawnSync('unsquashfs', args, { encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }
}

/**
 * Every pair takes about 9 minutes for the three types on two shared cores; by default npm test runs
 * every conformance pair and these docker pairs, chosen for what filesystems store differently (owners,
 * ids at the limits, devices, capabilities on files/dirs/fifos, hard links, odd names, long symlinks,
 * times out of range, many layers, docker-create's paths, sparse files). LAYERFOLD_MKFS_ALL=1 runs all of them.
 */
const DOCKER_SUBSET = new Set([
  'build-busybox-realistic', 'cap-hardlink', 'cap-on-dir', 'cap-on-fifo', 'capability-v2', 'dev-overflow',
  'gid-minus1', 'hardlink-chain-ln-t2-t1', 'hardlink-special', 'id-max', 'init-all-dirs', 'long-paths', 'many-layers',
  'mode-typebits', 'mode-zero-dirs', 'mtime-bounds', 'names-nonascii-dir', 'names-odd', 'neg-mtime', 'nonutf8-links',
  'symlink-lengths', 'uid-2pow32', 'xattrs',
  // sparse files: their holes come out as zeros (ext4 and EROFS leave them unwritten in a sparse image
  // file, squashfs compresses them), never read from the layer
  'sparse-gnu-0.0', 'sparse-gnu-1.0', 'sparse-bsdtar',
]);
const mkfsPairs = () => dockerPairs().filter((p) => process.env.LAYERFOLD_MKFS_ALL === '1' || p.id.startsWith('conformance/') || DOCKER_SUBSET.has(p.name));

describe.each([
  ['ext4', haveFsck, 'e2fsck (e2fsprogs)'],
  ['squashfs', haveUnsquashfs, 'unsquashfs (squashfs-tools)'],
  ['erofs', haveFsckErofs, 'fsck.erofs (erofs-utils)'],
] as const)('%s of every docker pair: its checker passes, mounted tree = docker export', (type, have, tool) => {
  if (!have) console.log(`skipped: ${tool} is not installed`);
  if (!isRoot) console.log('mount comparisons skipped: mount -o loop needs root (the checker still runs)');
  it.skipIf(!have).each(mkfsPairs().map((p) => [p.id, p]))('%s', async (_id, pair) => {
    const out = join(scratchDir(), `rootfs.${type}`);
    await makeFilesystem(pair.image, out, { type, dockerInit: pair.createdSecs });
    checkImage(type, out);
    if (!isRoot) return;
    await expectMountEquals(out, pair.exportTar, await impliedNames(pair.image, pair.createdSecs), type === 'squashfs');
  });
});

/** Incompressible bytes, the same every run. */
function noise(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Everything ext4 and squashfs store in odd ways, in one image. */
async function oddImage(): Promise<string> {
  const many: EntrySpec[] = [];
  for (let i = 0; i < 300; i++) many.push(e(`big/${String(i).padStart(4, '0')}-${'n'.repeat(i % 200)}`, { content: `file ${i}` }));
  const layer = await layerTar([
    e('bin/'),
    e('bin/tool', { content: Buffer.alloc(70_000, 7), mode: 0o4755, uid: 70_000, gid: 70_001 }),
    e('bin/sgid', { mode: 0o2711 }),
    { path: 'bin/hard1', type: 'link', linkname: 'bin/tool' },
    { path: 'bin/hard2', type: 'link', linkname: 'bin/tool' },
    e('tmp/', { mode: 0o1777 }),
    e('fast -> ' + 'f'.repeat(59)),
    e('slow -> ' + 's'.repeat(60)),
    e('longest -> ' + 'x/'.repeat(2000)),
    e(`${'L'.repeat(255)}`, { content: 'long name' }),
    { path: 'dev/', type: 'dir' },
    { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { path: 'dev/wide', type: 'char', devmajor: 300, devminor: 70_000 },
    { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    { path: 'fifo', type: 'fifo', mode: 0o600 },
    e('empty', { content: '' }),
    e('future', { content: 'after 2038', mtime: 2 ** 31 + 1000 }),
    e('exact-block', { content: Buffer.alloc(8192, 1) }),
    e('noise', { content: noise(300_000) }), // several squashfs blocks, stored uncompressed
    e('zeros', { content: Buffer.alloc(400_000) }),
    e('big/'),
    ...many,
    e('nonascii-\u00e9t\u00e9', { content: 'utf-8 name' }),
  ]);
  return writeTemp(await imageArchive([layer], { created: '2021-01-01T00:00:00Z' }));
}

async function exportTarOf(image: string): Promise<string> {
  const out = join(scratchDir(), 'export.tar');
  await exportRootfs(image, { output: out });
  return out;
}

describe('an image with every kind of entry', () => {
  it.each([
    ['ext4', 'ext4', haveFsck, {}],
    ['squashfs (gzip)', 'squashfs', haveUnsquashfs, {}],
    ['squashfs (zstd)', 'squashfs', haveUnsquashfs, { compression: 'zstd' }],
    ['erofs', 'erofs', haveFsckErofs, {}],
  ] as const)('%s: passes its checker and mounts as GNU tar unpacks the export', { timeout: 120_000 }, async (_label, type, have, extra) => {
    if (!have) return void console.log(`skipped: no checker for ${type}`);
    const image = await oddImage();
    const out = join(scratchDir(), `odd.${type}`);
    await makeFilesystem(image, out, { type, ...extra });
    checkImage(type, out);
    if (!isRoot) return;
    await expectMountEquals(out, await exportTarOf(image), new Set(), type === 'squashfs');
    await withMount(out, (dir) => {
      expect(statSync(join(dir, 'bin/tool')).nlink).toBe(3);
      expect(statSync(join(dir, 'big')).nlink).toBe(2);
      expect(statSync(join(dir)).mode & 0o7777).toBe(0o755);
      expect(statSync(join(dir)).uid).toBe(0);
    });
  });

  it('a mounted ext4 image takes new files and e2fsck stays clean', async () => {
    if (!isRoot || !haveFsck) return void console.log('skipped: mounting needs root');
    const image = await oddImage();
    const out = join(scratchDir(), 'rw.ext4');
    await makeFilesystem(image, out, { type: 'ext4', free: { bytes: 16 * 1024 * 1024 } });
    await withMount(
      out,
      (dir) => {
        for (let i = 0; i < 300; i++) writeFileSync(join(dir, 'big', `new-${i}`), Buffer.alloc(5000, i));
        mkdirSync(join(dir, 'newdir/sub'), { recursive: true });
        writeFileSync(join(dir, 'newdir/sub/f'), 'x'.repeat(100_000));
        writeFileSync(join(dir, 'bin/tool'), 'rewritten');
      },
      true,
    );
    const check = e2fsck(out);
    expect(check.out).not.toMatch(/Fix\?/);
    expect(check.status).toBe(0);
  });

  it('same input, same bytes; a fixed --size; --size too small fails in one line and leaves nothing', async () => {
    const image = await oddImage();
    const dir = scratchDir();
    await makeFilesystem(image, join(dir, 'a.ext4'), { type: 'ext4' });
    await makeFilesystem(image, join(dir, 'b.ext4'), { type: 'ext4' });
    expect(readFileSync(join(dir, 'a.ext4')).equals(readFileSync(join(dir, 'b.ext4')))).toBe(true);
    await makeFilesystem(image, join(dir, 'a.sqfs'), { type: 'squashfs' });
    await makeFilesystem(image, join(dir, 'b.sqfs'), { type: 'squashfs' });
    expect(readFileSync(join(dir, 'a.sqfs')).equals(readFileSync(join(dir, 'b.sqfs')))).toBe(true);
    await makeFilesystem(image, join(dir, 'a.erofs'), { type: 'erofs' });
    await makeFilesystem(image, join(dir, 'b.erofs'), { type: 'erofs' });
    expect(readFileSync(join(dir, 'a.erofs')).equals(readFileSync(join(dir, 'b.erofs')))).toBe(true);
    const fixed = await cli(['mkfs', image, join(dir, 'c.ext4'), '--size', '64M']);
    expect(fixed.code).toBe(0);
    expect(fixed.stderr).toMatch(/c\.ext4: ext4, 64\.0 MiB \(16384 blocks of 4 KiB, \d+% free\)/);
    expect(statSync(join(dir, 'c.ext4')).size).toBe(64 * 1024 * 1024);
    expect(e2fsck(join(dir, 'c.ext4')).status).toBe(0);
    const small = await cli(['mkfs', image, join(dir, 'd.ext4'), '--size', '100K']);
    expectOneLine(small, /--size 100 KiB is too small: the tree needs at least [\d.]+ [KM]iB as ext4/);
    expect(readdirSync(dir).sort()).toEqual(['a.erofs', 'a.ext4', 'a.sqfs', 'b.erofs', 'b.ext4', 'b.sqfs', 'c.ext4']);
  });

  it('squashfs: the same bytes whether 0, 1 or 2 worker threads compress the blocks; each passes unsquashfs and mounts as the export', { timeout: 120_000 }, async () => {
    // several 1 MiB batches, of blocks that compress fast (zeros) and slow (noise, stored raw), so the
    // workers finish out of order; and many small files between them
    const entries: EntrySpec[] = [];
    for (let i = 0; i < 12; i++) {
      entries.push(e(`d${i}/noise`, { content: noise(200_000 + i * 40_000) }), e(`d${i}/zeros`, { content: Buffer.alloc(300_000 + i * 7_000) }));
      for (let j = 0; j < 40; j++) entries.push(e(`d${i}/small-${j}`, { content: `small ${i} ${j} `.repeat(j * 37 + 1) }));
    }
    const image = writeTemp(await imageArchive([await layerTar(entries)], { created: '2021-01-01T00:00:00Z' }));
    const dir = scratchDir();
    const bytes: Buffer[] = [];
    for (const workers of [0, 1, 2]) {
      const out = join(dir, `w${workers}.sqfs`);
      await makeFilesystem(image, out, { type: 'squashfs', workers });
      checkImage('squashfs', out);
      bytes.push(readFileSync(out));
    }
    expect(bytes[1]!.equals(bytes[0]!)).toBe(true);
    expect(bytes[2]!.equals(bytes[0]!)).toBe(true);
    if (isRoot) await expectMountEquals(join(dir, 'w2.sqfs'), await exportTarOf(image), new Set(), true);
  });

  it('default size: the stated headroom, printed', async () => {
    const image = await oddImage();
    const dir = scratchDir();
    const r = await cli(['mkfs', image, join(dir, 'x.ext4'), '--free', '50%']);
    expect(r.code).toBe(0);
    const m = /x\.ext4: ext4, .* \((\d+) blocks of 4 KiB, (\d+)% free\), (\d+) of (\d+) inodes used/.exec(r.stderr);
    expect(m).not.toBeNull();
    // dumpe2fs (e2fsprogs) agrees with the summary
    const dump = spawnSync('dumpe2fs', ['-h', join(dir, 'x.ext4')], { encoding: 'utf8' }).stdout;
    expect(dump).toContain(`Block count:              ${m![1]}`);
    expect(dump).toContain(`Inode count:              ${m![4]}`);
    const free = Number(/Free blocks:\s+(\d+)/.exec(dump)![1]);
    const used = Number(m![1]) - free;
    expect(free).toBeGreaterThan(0);
    expect(used).toBeGreaterThan(0);
  });

  it('a bad image leaves no output and no temporary file', async () => {
    const layer = await layerTar([e('a', { content: 'MARKER-CONTENT' })]);
    const bad = await imageArchive([layer]);
    bad[bad.indexOf('MARKER-CONTENT')] = 0x6d; // layer bytes changed: its diff_id no longer matches
    const image = writeTemp(bad);
    const dir = scratchDir();
    const r = await cli(['mkfs', image, join(dir, 'x.ext4')]);
    expect(r.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('usage: OUT names the type, or --type does', async () => {
    const image = await oddImage();
    expectOneLine(await cli(['mkfs', image, join(scratchDir(), 'disk.img')]), /name the filesystem: --type ext4/);
    expectOneLine(await cli(['mkfs', image, join(scratchDir(), 'r.sqfs'), '--size', '1G']), /squashfs is read-only and exactly as big as its tree/);
    const r = await cli(['mkfs', image, join(scratchDir(), 'disk.img'), '--type', 'ext4', '-q']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });
});

// ---- holes and tail packing ---------------------------------------------------------------

/** docker's own sparse pair (its mount equals docker's export in the pair tests above): dir/sparse (96 KiB, data in blocks 0 and 8), dir/allhole (64 KiB of hole), dir/tail (data in its last block). */
const SPARSE_IMAGE = 'fixtures/docker/sparse-gnu-1.0/image.tar';
const SPARSE_BYTES = (96 + 64 + 40) * 1024 + 7;

describe('a sparse file keeps its holes', () => {
  it.skipIf(!haveFsck)('ext4: no extent over a hole (debugfs), i_blocks counts only data, the mount reads zeros', async () => {
    const out = join(scratchDir(), 'sparse.ext4');
    await makeFilesystem(SPARSE_IMAGE, out, { type: 'ext4' });
    checkImage('ext4', out);
    const extents = spawnSync('debugfs', ['-R', 'dump_extents /dir/sparse', out], { encoding: 'utf8' }).stdout;
    // two one-block extents, logical 0 and 8: the blocks between them are a hole
    expect([...extents.matchAll(/^\s*0\/\s*0\s+\d+\/\s*\d+\s+(\d+) -\s+(\d+)/gm)].map((m) => [Number(m[1]), Number(m[2])])).toEqual([[0, 0], [8, 8]]);
    expect(spawnSync('debugfs', ['-R', 'stat /dir/allhole', out], { encoding: 'utf8' }).stdout).toMatch(/Size: 65536\s+.*\n.*Blockcount: 0\b/);
    if (!isRoot) return;
    await withMount(out, (dir) => {
      const st = statSync(join(dir, 'dir/sparse'));
      expect(st.size).toBe(96 * 1024);
      expect(st.blocks).toBe(16); // 2 blocks of 4 KiB in 512-byte units
      expect(statSync(join(dir, 'dir/allhole')).blocks).toBe(0);
      expect(readFileSync(join(dir, 'dir/sparse')).subarray(4096, 32 * 1024).equals(Buffer.alloc(28 * 1024))).toBe(true);
    });
  });

  it.skipIf(!haveFsckErofs)('erofs: holes are null chunks — fsck.erofs passes, the image is smaller than the files, the mount reads them whole', async () => {
    const out = join(scratchDir(), 'sparse.erofs');
    await makeFilesystem(SPARSE_IMAGE, out, { type: 'erofs' });
    checkImage('erofs', out);
    expect(statSync(out).size).toBeLessThan(SPARSE_BYTES / 4);
    if (!isRoot) return;
    await withMount(out, (dir) => {
      expect(readFileSync(join(dir, 'dir/allhole')).equals(Buffer.alloc(64 * 1024))).toBe(true);
      expect(readFileSync(join(dir, 'dir/tail')).subarray(0, 40 * 1024).equals(Buffer.alloc(40 * 1024))).toBe(true);
    });
  });
});

describe('erofs tail packing', () => {
  it.skipIf(!haveFsckErofs)('small files, symlinks and directories take no data block of their own: fsck.erofs passes, the image is a fraction of one block per file', { timeout: 120_000 }, async () => {
    const entries: EntrySpec[] = [e('d/')];
    // 400 files with tails of 1..4000 bytes, some over a whole block: tails that must move to the next metadata block
    for (let i = 0; i < 400; i++) entries.push(e(`d/f${i}`, { content: noise((i * 997) % 6000 + 1) }));
    for (let i = 0; i < 50; i++) entries.push(e(`d/l${i} -> ${'t'.repeat(i * 40 + 1)}`));
    const image = writeTemp(await imageArchive([await layerTar(entries)]));
    const out = join(scratchDir(), 'tails.erofs');
    await makeFilesystem(image, out, { type: 'erofs' });
    checkImage('erofs', out);
    // FLAT_PLAIN needs a block for every file, symlink and directory: 451 + the whole blocks
    let plain = 0;
    for (let i = 0; i < 400; i++) plain += Math.ceil(((i * 997) % 6000 + 1) / 4096);
    expect(statSync(out).size).toBeLessThan(((plain + 50 + 2) * 4096) * 0.75);
    if (!isRoot) return;
    await expectMountEquals(out, await exportTarOf(image), new Set());
  });
});

// ---- as an unprivileged user ----------------------------------------------------------------

function unprivilegedProblem(): string | undefined {
  if (!isRoot) return 'not root: cannot switch to uid 65534 to compare';
  if (!hasCommand('setpriv')) return 'setpriv (util-linux) is not installed';
  if (!existsSync('dist/cli/main.js')) return 'dist/ is not built (npm test builds it)';
  return undefined;
}
const nonRootSkip = unprivilegedProblem();

describe.skipIf(nonRootSkip !== undefined)('written as uid 65534: the same bytes as written as root', () => {
  if (nonRootSkip) console.log(`skipped: ${nonRootSkip}`);
  it.each(['special-nodes', 'perms-ids', 'capability', 'hardlink-group-materialize'].flatMap((n) => [[n, 'ext4'], [n, 'sqfs'], [n, 'erofs']]))('conformance/%s as %s', async (name, ext) => {
    const base = mkdtempSync(join(tmpdir(), 'layerfold-mkfs-nonroot-'));
    chmodSync(base, 0o777);
    const pairDir = join('fixtures/conformance', name);
    const image = join(base, 'image.tar');
    copyFileSync(join(pairDir, 'image.tar'), image);
    chmodSync(image, 0o644);
    const asUser = join(base, `user.${ext}`);
    const child = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, 'bin/layerfold.js', 'mkfs', image, asUser, '--docker-init=1700000000', '-q'], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(statSync(asUser).uid).toBe(65534);
    const asRoot = join(base, `root.${ext}`);
    await makeFilesystem(image, asRoot, { type: ext === 'sqfs' ? 'squashfs' : (ext as 'ext4' | 'erofs'), dockerInit: 1_700_000_000 });
    expect(readFileSync(asUser).equals(readFileSync(asRoot))).toBe(true);
  });
});


describe.skipIf(!existsSync('dist/cli/main.js'))('interrupted', () => {
  it('SIGTERM while the image is written: exit 143, one line, nothing left in OUT\'s directory', { timeout: 120_000 }, async () => {
    const { spawn } = await import('node:child_process');
    const image = writeTemp(await imageArchive([await layerTar([e('noise', { content: noise(48 << 20) })])]));
    const dir = scratchDir();
    const child = spawn(process.execPath, ['bin/layerfold.js', 'mkfs', image, join(dir, 'r.sqfs')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let sent = false;
    for (let i = 0; i < 2000 && !sent; i++) {
      await new Promise((r) => setTimeout(r, 10));
      if (readdirSync(dir).some((n) => n.endsWith('.tmp'))) {
        child.kill('SIGTERM');
        sent = true;
      }
    }
    const code = await exited;
    expect(sent, 'the run ended before it could be interrupted').toBe(true);
    expect(code).toBe(143);
    expect(stderr).toBe('layerfold: interrupted by SIGTERM; partial output removed\n');
    expect(readdirSync(dir)).toEqual([]);
  });
});

// Docker's own rules (tree/apply.ts) refuse these before a writer sees them; the writers' checks stay
// for trees built through the library.
describe('names and targets no filesystem holds are refused in one line, nothing left', () => {
  it.each([
    ['a name over 255 bytes', [e(`${'n'.repeat(256)}`)], /a name part longer than 255 bytes; docker refuses such a layer/],
    ['a symlink target over 4095 bytes', [e(`s -> ${'t'.repeat(4096)}`)], /a symlink target of 4096 bytes \(at most 4095\)/],
  ])('%s', async (_what, entries, message) => {
    const image = writeTemp(await imageArchive([await layerTar(entries)]));
    const dir = scratchDir();
    expectOneLine(await cli(['mkfs', image, join(dir, 'r.ext4')]), message);
    expect(readdirSync(dir)).toEqual([]);
  });
});

/**
 * squashfs lists as long as the image makes them (the u32List fix of 0aa6aef): a file's block sizes,
 * one u32 per 128 KiB block, and the id table, one per distinct owner, were spread into a call's
 * arguments, which V8 bounds by the stack: "Maximum call stack size exceeded" on a 16 GiB file at
 * the default stack (about 125,000 arguments). The CLI runs here with --stack-size=100 (about 7,000
 * arguments), so a 2 GiB sparse file (16,384 blocks, zstd: a few seconds) and 12,000 owners pass that
 * bound; each failed so before the fix. The kernel's squashfs (or unsquashfs) reads them back.
 */
describe.skipIf(!haveUnsquashfs)('squashfs: lists longer than a call may take (block sizes, ids)', () => {
  const mkfsSmallStack = (image: string, out: string) =>
    spawnSync(process.execPath, ['--stack-size=100', 'bin/layerfold.js', 'mkfs', image, out, '--type', 'squashfs', '--compression', 'zstd'], { encoding: 'utf8', timeout: 120_000 });

  it('a 2 GiB sparse file of 16,384 blocks: its data found through the whole block list', { timeout: 180_000 }, async () => {
    const dir = scratchDir();
    const root = join(dir, 'root');
    mkdirSync(root);
    const size = 2 * 1024 ** 3;
    const fd = openSync(join(root, 'big'), 'w');
    writeSync(fd, 'head-of-file', 0);
    writeSync(fd, 'tail-of-file', size - 12);
    closeSync(fd);
    chmodSync(join(root, 'big'), 0o644);
    const layer = join(dir, 'layer.tar');
    execFileSync('tar', ['--sparse', '--format=posix', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', layer, '.']);
    rmSync(root, { recursive: true });
    const image = join(dir, 'image.tar');
    writeFileSync(image, await imageArchive([readFileSync(layer)]));
    {
      const out = join(dir, 'big.sqfs');
      const r = mkfsSmallStack(image, out);
      expect(r.stderr).toMatch(/^\S+: squashfs, [\d.]+ KiB \(zstd blocks of 128 KiB\), 2 inodes\n$/); // the summary alone
      expect(r.status).toBe(0);
      checkImage('squashfs', out);
      const listing = spawnSync('unsquashfs', ['-lln', out], { encoding: 'utf8' }).stdout;
      expect(listing).toMatch(/-rw-r--r-- 0\/0\s+2147483648 .* squashfs-root\/big$/m);
      if (!isRoot) return;
      await withMount(out, (mnt) => {
        const f = openSync(join(mnt, 'big'), 'r');
        try {
          const at = (pos: number, n: number) => {
            const b = Buffer.alloc(n);
            readSync(f, b, 0, n, pos);
            return b;
          };
          expect(statSync(join(mnt, 'big')).size).toBe(size);
          expect(at(0, 12).toString()).toBe('head-of-file');
          expect(at(size - 12, 12).toString()).toBe('tail-of-file'); // block 16,383: the end of the list
          expect(at(size / 2, 4096).equals(Buffer.alloc(4096))).toBe(true);
        } finally {
          closeSync(f);
        }
      });
    }
  });

  it('12,000 distinct owners: an id table of 12,000 entries, each file keeps its own', { timeout: 180_000 }, async () => {
    const n = 12_000;
    const entries = Array.from({ length: n }, (_, i) => e(`f${i}`, { uid: 1000 + i, gid: 1000 + i }));
    const image = writeTemp(await imageArchive([await layerTar(entries)]));
    const out = join(scratchDir(), 'ids.sqfs');
    const r = mkfsSmallStack(image, out);
    expect(r.stderr).toMatch(/^\S+: squashfs, [\d.]+ KiB \(zstd blocks of 128 KiB\), 12001 inodes\n$/);
    expect(r.status).toBe(0);
    // unsquashfs reading every inode, owners as numbers (-lls would look up 12,000 names: seconds)
    const check = spawnSync('unsquashfs', ['-lln', out], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const listing = check.stdout;
    for (const i of [0, 1, 5_999, n - 1]) expect(listing).toMatch(new RegExp(`^-rw-r--r-- ${1000 + i}/${1000 + i} .* squashfs-root/f${i}$`, 'm'));
    if (!isRoot) return;
    await withMount(out, (mnt) => {
      for (const i of [0, 7, 9_876, n - 1]) expect(statSync(join(mnt, `f${i}`))).toMatchObject({ uid: 1000 + i, gid: 1000 + i });
    });
  });
});
