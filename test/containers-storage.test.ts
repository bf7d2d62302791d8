/**
 * containers-storage:[DRIVER@ROOT+RUNROOT]IMAGE, podman's and buildah's store read without podman.
 * fixtures/containers-storage/<driver>/store is a store made by real podman 4.3 and buildah 1.28
 * (scripts/make-store-fixture.sh: rootful, vfs and overlay; only the files the reader reads are kept),
 * and save.tar is `podman save --format docker-archive` of the same image: each layer reproduced from
 * its tar-split data and diff directory must export to the bytes of podman's save. With podman
 * installed (and root), the same is checked on stores built now, and through podman's Docker API socket.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRootfs, isLayerfoldError, type ExportOptions } from '../src/index.js';
import { flattenImage } from '../src/flatten.js';
import { parseStoreReference, storeLocation } from '../src/read/containers-storage.js';
import { scratchDir } from './support/build.js';
import { hasCommand } from './support/read.js';

const FIXTURES = 'fixtures/containers-storage';
const DRIVERS = ['vfs', 'overlay'] as const;

async function exportTo(input: string, options: ExportOptions = {}): Promise<Buffer> {
  const out = join(scratchDir(), 'out.tar');
  await exportRootfs(input, { ...options, output: out });
  return readFileSync(out);
}

async function failure(input: string, options: ExportOptions = {}): Promise<{ code: string; message: string }> {
  const err = await exportRootfs(input, { ...options, output: join(scratchDir(), 'out.tar') }).catch((x: unknown) => x);
  if (!isLayerfoldError(err)) throw new Error(`expected a LayerfoldError, got ${String(err)}`);
  return { code: err.code, message: err.message };
}

const ref = (driver: string, root: string, image = 'il-tiny:2') => `containers-storage:[${driver}@${root}]${image}`;

/** A writable copy of a fixture store. */
function copyStore(driver: string): string {
  const to = join(scratchDir(), 'store');
  execFileSync('cp', ['-a', join(FIXTURES, driver, 'store'), to]); // Node's cpSync cannot copy a non-UTF-8 name
  return to;
}

function layerIds(root: string, driver: string): string[] {
  return (JSON.parse(readFileSync(join(root, `${driver}-layers`, 'layers.json'), 'utf8')) as Array<{ id: string; parent?: string }>).map((l) => l.id);
}

/** The top layer of il-tiny:2 (the one with a parent). */
function topLayer(root: string, driver: string): string {
  const layers = JSON.parse(readFileSync(join(root, `${driver}-layers`, 'layers.json'), 'utf8')) as Array<{ id: string; parent?: string }>;
  return layers.find((l) => l.parent)!.id;
}

function diffDir(root: string, driver: string, id: string): string {
  return driver === 'overlay' ? join(root, 'overlay', id, 'diff') : join(root, 'vfs', 'dir', id);
}

/** Rewrite a layer's tar-split lines. */
function editTarSplit(root: string, driver: string, id: string, edit: (lines: string[]) => string[]): void {
  const file = join(root, `${driver}-layers`, `${id}.tar-split.gz`);
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n');
  writeFileSync(file, gzipSync(edit(lines).join('\n')));
}

describe('the reference', () => {
  it.each([
    ['app:1', { image: 'app:1' }],
    ['[vfs@/s+/r]app:1', { driver: 'vfs', root: '/s', runroot: '/r', image: 'app:1' }],
    ['[overlay@/s+/r:overlay.mountopt=nodev]localhost/app@sha256:ab', { driver: 'overlay', root: '/s', runroot: '/r', image: 'localhost/app@sha256:ab' }],
    ['[/s]app', { root: '/s', image: 'app' }],
    ['[/s+/r]0123abcd', { root: '/s', runroot: '/r', image: '0123abcd' }],
  ])('%s', (rest, expected) => {
    expect(parseStoreReference(rest, `containers-storage:${rest}`)).toEqual(expected);
  });

  it.each([
    ['', /needs an image/],
    ['[vfs@/s', /no \]/],
    ['[btrfs@/s]app', /only overlay and vfs/],
  ])('%j is refused', (rest, pattern) => {
    expect(() => parseStoreReference(rest, `containers-storage:${rest}`)).toThrow(pattern);
  });

  it('finds the store as podman does: storage.conf, else the rootful or rootless default', () => {
    const none = { HOME: '/home/u', CONTAINERS_STORAGE_CONF: '/nonexistent', XDG_CONFIG_HOME: '/nonexistent' };
    const at = (env: NodeJS.ProcessEnv, uid: number) => storeLocation({ image: 'x' }, env, uid, '/nonexistent');
    expect(at(none, 0)).toEqual({ root: '/var/lib/containers/storage' });
    expect(at(none, 1000)).toEqual({ root: '/home/u/.local/share/containers/storage' });
    expect(at({ ...none, XDG_DATA_HOME: '/d' }, 1000)).toEqual({ root: '/d/containers/storage' });
    const conf = join(scratchDir(), 'storage.conf');
    writeFileSync(conf, '[storage]\ndriver = "vfs"   # a comment\ngraphroot = "/g"\nrunroot = "/r"\n[storage.options]\ndriver = "ignored"\n');
    expect(at({ HOME: '/h', CONTAINERS_STORAGE_CONF: conf }, 0)).toEqual({ root: '/g', driver: 'vfs' });
    const userConf = join(scratchDir(), 'containers');
    mkdirSync(userConf);
    writeFileSync(join(userConf, 'storage.conf'), '[storage]\ngraphroot = "/mine"\n');
    expect(at({ HOME: '/h', XDG_CONFIG_HOME: join(userConf, '..') }, 1000)).toEqual({ root: '/mine' });
    expect(storeLocation({ image: 'x', root: '/r', driver: 'overlay' }, { HOME: '/h', CONTAINERS_STORAGE_CONF: conf }, 0, '/nonexistent')).toEqual({ root: '/r', driver: 'overlay' });
  });
});

describe.each(DRIVERS)('a %s store made by podman', (driver) => {
  const root = join(FIXTURES, driver, 'store');
  const save = join(FIXTURES, driver, 'save.tar');

  it('exports what its podman save exports, byte for byte', async () => {
    for (const dockerInit of [undefined, 1_700_000_000]) {
      const options = dockerInit === undefined ? {} : { dockerInit };
      expect((await exportTo(ref(driver, root), options)).equals(await exportTo(save, options))).toBe(true);
    }
  });

  it('names the image as podman does: short and full names, IDs and their prefixes, the driver found alone', async () => {
    const expected = await exportTo(save);
    const images = JSON.parse(readFileSync(join(root, `${driver}-images`, 'images.json'), 'utf8')) as Array<{ id: string; names?: string[] }>;
    const id = images.find((i) => i.names?.includes('localhost/il-tiny:2'))!.id;
    for (const image of ['localhost/il-tiny:2', id, id.slice(0, 12), `@${id}`]) {
      expect((await exportTo(ref(driver, root, image))).equals(expected), image).toBe(true);
    }
    expect((await exportTo(`containers-storage:[${root}]il-tiny:2`)).equals(expected)).toBe(true);
  });

  it('is the containers-storage layout, with its config', async () => {
    const flat = await flattenImage(ref(driver, root));
    try {
      expect(flat.image.layout).toBe('containers-storage');
      expect(flat.image.name).toBe('localhost/il-tiny:2');
      expect(flat.image.config.config.WorkingDir).toBe('/opt/keep');
      expect(flat.layers).toHaveLength(2);
    } finally {
      flat.close();
    }
  });

  it('a file of a diff directory changed since is a digest mismatch; one of another size, one line naming it', async () => {
    const store = copyStore(driver);
    const top = topLayer(store, driver);
    writeFileSync(join(diffDir(store, driver, top), 'opt/keep/c'), 'NEW\n');
    expect(await failure(ref(driver, store))).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/^layer 1 \((vfs|overlay)-layers\/[a-f0-9]{12}\): the layer is sha256:[a-f0-9]{64}, but the config's diff_id is sha256:/) as unknown });
    writeFileSync(join(diffDir(store, driver, top), 'opt/keep/c'), 'longer\n');
    expect(await failure(ref(driver, store))).toMatchObject({ code: 'BAD_LAYER', message: expect.stringMatching(/opt\/keep\/c" is 7 bytes, but the layer's tar-split data says 4 bytes$/) as unknown });
  });

  it('refuses tar-split names that leave the diff directory, by name or through a symlink', async () => {
    const store = copyStore(driver);
    const top = topLayer(store, driver);
    editTarSplit(store, driver, top, (lines) => lines.map((l) => l.replace('"name":"opt/keep/c"', '"name":"../../../../etc/hostname"')));
    expect(await failure(ref(driver, store))).toMatchObject({ code: 'PATH_ESCAPE', message: expect.stringMatching(/file entry "\.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname" is not inside the layer$/) as unknown });
    const store2 = copyStore(driver);
    const dir = diffDir(store2, driver, topLayer(store2, driver));
    rmSync(join(dir, 'opt/keep'), { recursive: true });
    const outside = scratchDir();
    writeFileSync(join(outside, 'c'), 'new\n');
    symlinkSync(outside, join(dir, 'opt/keep'));
    expect(await failure(ref(driver, store2))).toMatchObject({ code: 'PATH_ESCAPE', message: expect.stringMatching(/resolves outside the layer's diff directory$/) as unknown });
    const store3 = copyStore(driver);
    const file = join(diffDir(store3, driver, topLayer(store3, driver)), 'opt/keep/c');
    rmSync(file);
    symlinkSync(join(outside, 'c'), file);
    expect(await failure(ref(driver, store3))).toMatchObject({ code: 'BAD_LAYER', message: expect.stringMatching(/"opt\/keep\/c" is a symlink in the diff directory/) as unknown });
  });

  it('a missing image, layer or tar-split is one line', async () => {
    expect(await failure(ref(driver, root, 'nope:1'))).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/no such image in the store; it holds: .*localhost\/il-tiny:2/) as unknown });
    const store = copyStore(driver);
    rmSync(join(store, `${driver}-layers`, `${layerIds(store, driver)[0]}.tar-split.gz`));
    expect(await failure(ref(driver, store))).toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/layer 0 \([a-f0-9]{12}\) has no tar-split data/) as unknown });
    const other = driver === 'vfs' ? 'overlay' : 'vfs';
    expect(await failure(ref(other, root))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await failure(`containers-storage:[${scratchDir()}]x`)).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/not a containers\/storage store/) as unknown });
  });
});

/** podman and buildah on a store of our own; rootful (the rootless run is documented, not tested). */
const podmanWhy = !hasCommand('podman') || !hasCommand('buildah') ? 'podman and buildah are not installed' : process.getuid?.() !== 0 ? 'not root' : undefined;
if (podmanWhy) console.log(`containers-storage live tests skipped: ${podmanWhy}`);

describe.skipIf(podmanWhy !== undefined).each(DRIVERS)('live: a %s store podman builds now', (driver) => {
  const work = join(scratchDir(), `podman-${driver}`);
  const root = join(work, 'store');
  const env = { ...process.env, CONTAINERS_CONF: join(work, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(work, 'storage.conf') };
  let service: ChildProcess | undefined;
  const podman = (...args: string[]) => execFileSync('podman', args, { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
  const buildah = (...args: string[]) => execFileSync('buildah', args, { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();

  beforeAll(() => {
    mkdirSync(join(work, 'base', 'etc'), { recursive: true });
    writeFileSync(join(work, 'containers.conf'), `[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "${work}/events.log"\n`);
    writeFileSync(join(work, 'storage.conf'), `[storage]\ndriver = "${driver}"\ngraphroot = "${root}"\nrunroot = "${work}/run"\n`);
    writeFileSync(join(work, 'base', 'etc', 'os-release'), 'ID=live\n');
    writeFileSync(join(work, 'base', 'etc', 'big'), Buffer.alloc(3 << 20, 7)); // past one 1 MiB read
    mkdirSync(join(work, 'base', 'opt', 'old'), { recursive: true });
    writeFileSync(join(work, 'base', 'opt', 'old', 'x'), 'x\n');
    execFileSync('tar', ['-C', join(work, 'base'), '-cf', join(work, 'base.tar'), '.']);
    podman('import', join(work, 'base.tar'), 'il-live:base');
    const ctr = buildah('from', 'il-live:base');
    const mnt = buildah('mount', ctr);
    rmSync(join(mnt, 'opt', 'old'), { recursive: true });
    writeFileSync(join(mnt, 'etc', 'os-release'), 'ID=live2\n');
    buildah('umount', ctr);
    buildah('commit', '-q', ctr, 'il-live:2');
    buildah('rm', ctr);
    podman('save', '-q', '--format', 'docker-archive', '-o', join(work, 'save.tar'), 'il-live:2');
  }, 120_000);

  afterAll(() => {
    service?.kill('SIGTERM');
  });

  it('containers-storage: exports what podman save exports', async () => {
    const expected = await exportTo(join(work, 'save.tar'), { dockerInit: 0 });
    expect((await exportTo(`containers-storage:[${driver}@${root}+${work}/run]il-live:2`, { dockerInit: 0 })).equals(expected)).toBe(true);
    // the store named by storage.conf alone, as podman itself finds it
    const out = join(scratchDir(), 'o.tar');
    execFileSync(process.execPath, ['bin/layerfold.js', 'export', 'containers-storage:il-live:2', '--docker-init=0', '-o', out], { env });
    expect(readFileSync(out).equals(expected)).toBe(true);
  });

  it('docker-daemon: through podman system service gives the same', async () => {
    const sock = join(work, 'podman.sock');
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${sock}`], { env, stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    const expected = await exportTo(join(work, 'save.tar'), { dockerInit: 0 });
    const out = join(scratchDir(), 'o.tar');
    execFileSync(process.execPath, ['bin/layerfold.js', 'export', 'docker-daemon:il-live:2', '--docker-init=0', '-o', out], { env: { ...env, DOCKER_HOST: `unix://${sock}` } });
    expect(readFileSync(out).equals(expected)).toBe(true);
    let stderr = '';
    try {
      execFileSync(process.execPath, ['bin/layerfold.js', 'export', 'docker-daemon:il-nope:1', '-o', '-'], { env: { ...env, DOCKER_HOST: `unix://${sock}` }, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      stderr = String((e as { stderr: Buffer }).stderr);
    }
    expect(stderr).toMatch(/^layerfold: docker-daemon:il-nope:1: the engine has no such image .*\n$/);
  });
});
