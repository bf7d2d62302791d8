/**
 * `layerfold extract`: every docker pair extracts to the tree GNU tar makes of docker's own
 * `export.tar` (as root); hostile layers never touch anything outside DIR; the non-root path runs as a
 * real unprivileged user; DIR rules (empty or absent, --force, cleanup on error).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { extractRootfs, isLayerfoldError } from '../src/index.js';
import { flattenImage } from '../src/flatten.js';
import { parseTime } from '../src/time.js';
import { Dir } from '../src/tree/node.js';
import { walkTree } from '../src/tree/walk.js';
import { extractTree } from '../src/write/extract-dir.js';
import { SafeRoot } from '../src/write/safe-path.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp, type EntrySpec } from './support/build.js';
import { gnuExtract, snapshot, type SnapEntry } from './support/dir-snapshot.js';
import { dockerPairs, impliedDirs } from './support/pairs.js';
import { hasCommand } from './support/read.js';

const isRoot = process.geteuid?.() === 0;
/** Implied directories by name without the trailing '/', as the snapshot names them. */
async function impliedDirNames(image: string, created: number): Promise<Set<string>> {
  return new Set([...(await impliedDirs(image, created))].map((n) => n.slice(0, -1)));
}


const withoutMtimeOf = (implied: Set<string>) => (x: SnapEntry) => (implied.has(x.name) ? { ...x, mtime: 0 } : x);

describe.skipIf(!isRoot)('extract as root equals GNU tar\'s unpacking of docker export', () => {
  if (!isRoot) console.log('skipped: comparing owners and device nodes with docker export needs root (the unprivileged path is tested below)');
  it.each(dockerPairs().map((p) => [p.id, p]))('%s', async (_name, pair) => {
    const image = join(pair.dir, 'image.tar');
    if (!hasCommand('setfattr') && readFileSync(join(pair.dir, 'export.tar')).includes('SCHILY.xattr.security.capability')) {
      return void console.log(`skipped ${pair.id}: setfattr (Debian package attr) is not installed`);
    }
    const dir = join(scratchDir(), 'rootfs');
    const result = await extractRootfs(image, dir, { dockerInit: pair.createdSecs });
    expect(result.skipped).toEqual({ owner: 0, mode: 0, node: 0, capability: 0 });
    expect(result.manifest).toBeUndefined();
    const ref = gnuExtract(join(pair.dir, 'export.tar'));
    const implied = await impliedDirNames(image, pair.createdSecs);
    const caps = hasCommand('getfattr');
    expect(snapshot(dir, { capabilities: caps }).map(withoutMtimeOf(implied))).toEqual(snapshot(ref, { capabilities: caps }).map(withoutMtimeOf(implied)));
    // GNU tar's own comparison of the archive against DIR (contents, modes, owners, links, devices)
    const compare = spawnSync('tar', ['--numeric-owner', '-df', join(process.cwd(), pair.dir, 'export.tar')], { cwd: dir, encoding: 'utf8' });
    expect(compare.stdout + compare.stderr).toBe('');
    expect(compare.status).toBe(0);
    // and `layerfold diff` finds DIR equal to the image it came from
    const { io, text } = cliIO();
    expect(await run(['diff', image, dir, `--docker-init=${pair.created}`, '-q'], io), text().out).toBe(0);
  });

  it('sets security.capability (checked with getfattr against the value in docker\'s export)', async () => {
    if (!hasCommand('getfattr') || !hasCommand('setfattr')) return void console.log('skipped: setfattr/getfattr (Debian package attr) are not installed');
    const dir = join(scratchDir(), 'rootfs');
    await extractRootfs('fixtures/conformance/capability/image.tar', dir);
    const withCap = snapshot(dir, { capabilities: true }).filter((x) => x.capability);
    const tarBytes = readFileSync('fixtures/conformance/capability/export.tar').toString('latin1');
    const m = /SCHILY\.xattr\.security\.capability=([\s\S]*?)\n/.exec(tarBytes);
    expect(m).not.toBeNull();
    expect(withCap.map((x) => [x.name, x.capability])).toEqual([['usr/bin/ping', Buffer.from(m![1]!, 'latin1').toString('hex')]]);
  });
});

// ---- hostile layers ------------------------------------------------------------------------

interface Sentinel {
  base: string;
  sentinel: string;
  before: SnapEntry[];
}

function sentinelCase(): Sentinel {
  const base = scratchDir();
  const sentinel = join(base, 'sentinel');
  mkdirSync(join(sentinel, 'sub'), { recursive: true });
  writeFileSync(join(sentinel, 'passwd'), 'precious\n');
  writeFileSync(join(sentinel, 'sub', 'x'), 'keep\n');
  chmodSync(join(sentinel, 'passwd'), 0o600);
  return { base, sentinel, before: snapshot(sentinel) };
}

function expectUntouched(s: Sentinel, allowed: string[]): void {
  expect(snapshot(s.sentinel)).toEqual(s.before);
  expect(lstatSync(s.sentinel).mode & 0o7777).toBe(0o755);
  expect(readdirSync(s.base).sort()).toEqual(['sentinel', ...allowed].sort());
}

async function extractHostile(s: Sentinel, layers: EntrySpec[][], force = false): Promise<unknown> {
  const image = writeTemp(await imageArchive(await Promise.all(layers.map((l) => layerTar(l)))));
  return extractRootfs(image, join(s.base, 'rootfs'), { force }).catch((err: unknown) => err);
}

describe('hostile layers never reach outside DIR', () => {
  const cases: Array<[string, (sentinel: string) => EntrySpec[][]]> = [
    ['absolute symlinked parent, same layer', (s) => [[e(`etc -> ${s}`), e('etc/passwd', { content: 'pwned' })]]],
    ['absolute symlinked parent, later layer', (s) => [[e(`etc -> ${s}`)], [e('etc/passwd', { content: 'pwned' }), e('etc/new', { content: 'pwned' })]]],
    ['relative symlinked parent', () => [[e('a/'), e('a/up -> ../../sentinel')], [e('a/up/passwd', { content: 'pwned' })]]],
    ['symlink chain', (s) => [[e('a -> b'), e('b -> c'), e(`c -> ${s}`)], [e('a/passwd', { content: 'pwned' }), e('b/sub/x', { content: 'pwned' })]]],
    ['a later file over a symlink to outside', (s) => [[e('etc/'), e(`etc/passwd -> ${s}/passwd`)], [e('etc/passwd', { content: 'pwned', mode: 0o777 })]]],
    ['a later directory over a symlink to outside', (s) => [[e(`etc -> ${s}`)], [e('etc/', { mode: 0o700, mtime: 1 }), e('etc/sub/', { mode: 0o700 })]]],
    ['a dangling symlink to outside, then a file at its name', (s) => [[e(`gone -> ${s}/created`)], [e('gone', { content: 'pwned' })]]],
    ['hardlink to ../../x', () => [[e('f', { content: 'x' }), { path: 'h', type: 'link', linkname: '../../sentinel/passwd' }]]],
    ['hardlink to an absolute path', (s) => [[{ path: 'h', type: 'link', linkname: `${s}/passwd` }]]],
    ['hardlink through a symlinked parent', (s) => [[e(`l -> ${s}`), { path: 'h', type: 'link', linkname: 'l/passwd' }]]],
    ['.. in names', () => [[e('../sentinel/passwd', { content: 'pwned' }), e('a/../../sentinel/y', { content: 'pwned' })]]],
    ['symlink parent of a fifo and a device', (s) => [[e(`dev -> ${s}`)], [{ path: 'dev/fifo', type: 'fifo' }, { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3 }]]],
  ];

  it.each(cases)('%s', async (_name, layersFor) => {
    const s = sentinelCase();
    const result = await extractHostile(s, layersFor(s.sentinel));
    if (isLayerfoldError(result)) {
      expectUntouched(s, []); // refused: nothing left behind either
    } else {
      expectUntouched(s, existsSync(join(s.base, 'rootfs.layerfold-skipped.jsonl')) ? ['rootfs', 'rootfs.layerfold-skipped.jsonl'] : ['rootfs']);
      for (const entry of snapshot(join(s.base, 'rootfs'))) {
        expect(entry.type === 'file' && entry.sha !== undefined && readFileSync(join(s.base, 'rootfs', entry.name), 'utf8') === 'precious\n').toBe(false);
      }
    }
  });

  it('--force replaces symlinks left in DIR instead of following them', async () => {
    const s = sentinelCase();
    const dir = join(s.base, 'rootfs');
    mkdirSync(dir);
    symlinkSync(s.sentinel, join(dir, 'etc'));
    symlinkSync(join(s.sentinel, 'passwd'), join(dir, 'file'));
    symlinkSync(s.sentinel, join(dir, 'tmp'));
    const result = await extractHostile(s, [[e('etc/'), e('etc/passwd', { content: 'new' }), e('file', { content: 'new' }), e('tmp/', { mode: 0o1777 })]], true);
    expect(isLayerfoldError(result)).toBe(false);
    expectUntouched(s, ['rootfs']);
    expect(readFileSync(join(dir, 'etc/passwd'), 'utf8')).toBe('new');
    expect(lstatSync(join(dir, 'etc')).isDirectory()).toBe(true);
    expect(lstatSync(join(dir, 'tmp')).mode & 0o7777).toBe(0o1777);
  });

  it('SafeRoot refuses unclean names, unknown parents, replaced parents and foreign link sources', () => {
    const s = sentinelCase();
    const dir = join(s.base, 'root');
    mkdirSync(dir);
    const root = new SafeRoot(dir, false);
    for (const bad of ['../x', 'a/../b', '/abs', 'a//b', './a', '', 'a\0b']) expect(() => root.leaf(bad)).toThrow(/not a clean relative name/);
    expect(() => root.leaf('nodir/x')).toThrow(/parent is not a directory made/);
    root.mkdir('a');
    renameSync(join(dir, 'a'), join(dir, 'a-moved'));
    symlinkSync(s.sentinel, join(dir, 'a'));
    expect(() => root.leaf('a/passwd')).toThrow(/parent was replaced/);
    expect(() => root.mkdir('a/sub')).toThrow(/parent was replaced/);
    expect(() => root.linkSource('a-moved')).toThrow(/hardlink source is not an entry made/);
    expectUntouched(s, ['root']);
  });
});

// ---- DIR rules -----------------------------------------------------------------------------

async function smallImage(): Promise<string> {
  return writeTemp(await imageArchive([await layerTar([e('bin/'), e('bin/sh', { content: 'x', mode: 0o755 }), e('etc/'), e('etc/hosts')])]));
}

function cliIO() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { io: { stdin: new PassThrough(), stdout, stderr, env: {} }, text: () => ({ out, err }) };
}

describe('DIR must be empty or absent unless --force', () => {
  it('creates an absent DIR (and its parents) and refuses a non-empty one without --force', async () => {
    const image = await smallImage();
    const dir = join(scratchDir(), 'a', 'b', 'rootfs');
    await extractRootfs(image, dir);
    expect(snapshot(dir).map((x) => x.name)).toEqual(['bin', 'bin/sh', 'etc', 'etc/hosts']);
    const { io, text } = cliIO();
    expect(await run(['extract', image, dir], io)).toBe(2);
    expect(text().err).toMatch(/not empty \(use --force/);
    const again = cliIO();
    expect(await run(['extract', image, dir, '--force'], again.io)).toBe(0);
    expect(again.text().err).toBe(''); // owned by 0:0, no devices: nothing to skip even without root
  });

  it('extracts into an existing empty DIR; a file as DIR is an error', async () => {
    const image = await smallImage();
    const dir = join(scratchDir(), 'rootfs');
    mkdirSync(dir);
    await extractRootfs(image, dir);
    expect(readdirSync(dir).sort()).toEqual(['bin', 'etc']);
    const file = join(scratchDir(), 'file');
    writeFileSync(file, '');
    await expect(extractRootfs(image, file)).rejects.toThrow(/exists and is not a directory/);
  });

  it('removes what it wrote when writing fails', async () => {
    const image = await smallImage();
    for (const existing of [false, true]) {
      const base = scratchDir();
      const dir = join(base, 'rootfs');
      if (existing) mkdirSync(dir);
      const flat = await flattenImage(image);
      const layer = flat.layers[0]!;
      const fd = layer.fd;
      layer.fd = 1 << 20; // no such descriptor: the file's data cannot be read
      const err = await extractTree(flat, dir).catch((x: unknown) => x);
      layer.fd = fd;
      flat.close();
      expect(err).toBeInstanceOf(Error);
      expect(readdirSync(base)).toEqual(existing ? ['rootfs'] : []);
      if (existing) expect(readdirSync(dir)).toEqual([]);
    }
  });
});

// ---- without root --------------------------------------------------------------------------

/** A directory tree an unprivileged user can reach, outside the root-only scratch space. */
function openScratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'layerfold-nonroot-'));
  chmodSync(dir, 0o777);
  return dir;
}

function unprivilegedProblem(): string | undefined {
  if (!isRoot) return undefined; // already unprivileged: the tests below run in process instead
  if (!hasCommand('setpriv')) return 'setpriv (util-linux) is not installed';
  if (!existsSync('dist/cli/main.js')) return 'dist/ is not built (npm test builds it)';
  const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, 'bin/layerfold.js', '--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return `user 65534 cannot run bin/layerfold.js here (${(probe.stderr || probe.error?.message || '').trim().split('\n')[0]})`;
  return undefined;
}

const nonRootSkip = unprivilegedProblem();

function extractUnprivileged(image: string, dir: string): { status: number | null; stderr: string } {
  if (!isRoot) {
    throw new Error('unreachable');
  }
  const child = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, 'bin/layerfold.js', 'extract', image, dir], { encoding: 'utf8' });
  return { status: child.status, stderr: child.stderr };
}

describe.skipIf(nonRootSkip !== undefined || !isRoot)('as an unprivileged user (setpriv --reuid=65534)', () => {
  if (nonRootSkip) console.log(`skipped: ${nonRootSkip}`);

  it.each(['special-nodes', 'perms-ids', 'capability', 'natural-docker26', 'hardlink-group-materialize'])(
    'conformance/%s: everything but owners, device nodes and capabilities, which are recorded',
    async (name) => {
      const base = openScratch();
      const pairDir = join('fixtures/conformance', name);
      const image = join(base, 'image.tar');
      copyFileSync(join(pairDir, 'image.tar'), image);
      chmodSync(image, 0o644);
      const created = parseTime(readFileSync(join(pairDir, 'created.txt'), 'utf8'), 'created');
      const dir = join(base, 'rootfs');
      const child = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, 'bin/layerfold.js', 'extract', image, dir, `--docker-init=${created}`], { encoding: 'utf8' });
      expect(child.status).toBe(0);

      // what docker's export holds, unpacked by GNU tar as root
      const ref = snapshot(gnuExtract(join(pairDir, 'export.tar')), { capabilities: true });
      const implied = await impliedDirNames(join(pairDir, 'image.tar'), created);
      const devices = ref.filter((x) => x.type === 'char' || x.type === 'block');
      const deviceNames = new Set(devices.map((x) => x.name));
      const foreignOwners = ref.filter((x) => (x.uid !== 0 || x.gid !== 0) && !deviceNames.has(x.name) && x.linkOf === undefined);
      const caps = ref.filter((x) => x.capability);

      const ours = snapshot(dir, { capabilities: true });
      expect(ours.every((x) => x.uid === 65534)).toBe(true);
      const neutral = (x: SnapEntry) => ({ ...withoutMtimeOf(implied)(x), uid: 0, gid: 0, capability: undefined });
      expect(ours.map(neutral)).toEqual(ref.filter((x) => !deviceNames.has(x.name) && !(x.linkOf && deviceNames.has(x.linkOf))).map(neutral));

      // one line says what was skipped and how often; the manifest records each entry
      const expected: string[] = [];
      if (foreignOwners.length) expected.push(`the owners of ${foreignOwners.length} ${foreignOwners.length === 1 ? 'entry' : 'entries'}`);
      if (devices.length) expected.push(`${devices.length} device node${devices.length === 1 ? '' : 's'}`);
      if (caps.length) expected.push(`${caps.length} file capabilit${caps.length === 1 ? 'y' : 'ies'}`);
      const manifestPath = `${dir}.layerfold-skipped.jsonl`;
      if (expected.length === 0) {
        expect(child.stderr).toBe('');
        expect(existsSync(manifestPath)).toBe(false);
        return;
      }
      expect(child.stderr).toBe(`layerfold: not running as root: skipped ${expected.join(', ')}; recorded in ${manifestPath}\n`);
      const records = readFileSync(manifestPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const d of devices) {
        const [major, minor] = d.dev!.split(',').map(Number);
        expect(records).toContainEqual(expect.objectContaining({ path: d.name, type: d.type, major, minor, mode: d.mode.padStart(4, '0'), uid: d.uid, gid: d.gid, skipped: ['node'] }));
      }
      for (const o of foreignOwners) expect(records).toContainEqual(expect.objectContaining({ path: o.name, uid: o.uid, gid: o.gid, mode: o.mode.padStart(4, '0') }));
      for (const c of caps) expect(records).toContainEqual(expect.objectContaining({ path: c.name, capability: Buffer.from(c.capability!, 'hex').toString('base64') }));
    },
  );

  it('an unprivileged user cannot be made to write outside DIR either', async () => {
    const base = openScratch();
    const sentinel = join(base, 'sentinel');
    mkdirSync(sentinel);
    chmodSync(sentinel, 0o777); // writable by the unprivileged user: only extract's rules protect it
    const image = join(base, 'image.tar');
    writeFileSync(image, await imageArchive([await layerTar([e(`etc -> ${sentinel}`), e('x -> ../sentinel')]), await layerTar([e('etc/passwd', { content: 'pwned' }), e('x/y', { content: 'pwned' })])]));
    chmodSync(image, 0o644);
    const child = extractUnprivileged(image, join(base, 'rootfs'));
    expect(child.status).toBe(0);
    expect(readdirSync(sentinel)).toEqual([]);
  });
});

describe.skipIf(isRoot)('not root (this run is unprivileged)', () => {
  it('extracts with owners recorded instead of applied', async () => {
    const image = writeTemp(await imageArchive([await layerTar([e('f', { uid: 7, gid: 8 }), { path: 'null', type: 'char', devmajor: 1, devminor: 3 }])]));
    const dir = join(scratchDir(), 'rootfs');
    const result = await extractRootfs(image, dir);
    expect(result.skipped).toMatchObject({ owner: 1, node: 1 });
    expect(readdirSync(dir)).toEqual(['f']);
  });
});
