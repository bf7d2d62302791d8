/**
 * `layerfold bundle`: config.json made from the image config (checked against the raw config blob
 * read with GNU tar), USER resolved through the image's own user files, and real runs under Debian's
 * runc — a fixture image's CMD, and a tiny busybox image whose USER and WORKDIR must take effect.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLayerfoldError, makeBundle } from '../src/index.js';
import { type RuntimeSpec } from '../src/write/bundle.js';
import { resolveUserSpec } from '../src/write/image-user.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { hasCommand } from './support/read.js';

const NATURAL = 'fixtures/conformance/natural-docker26';
const isRoot = process.geteuid?.() === 0;

/** The image config as docker wrote it, found and read with GNU tar alone. */
function rawConfig(image: string): { config: Record<string, unknown> } {
  const manifest = JSON.parse(spawnSync('tar', ['-xOf', image, 'manifest.json'], { encoding: 'utf8' }).stdout) as Array<{ Config: string }>;
  return JSON.parse(spawnSync('tar', ['-xOf', image, manifest[0]!.Config], { encoding: 'utf8' }).stdout) as { config: Record<string, unknown> };
}

function runcProblem(): string | undefined {
  if (!isRoot) return 'runc needs root here (rootless runc needs a rootless spec)';
  if (!hasCommand('runc')) return 'runc (Debian package runc) is not installed';
  return undefined;
}

let runcWorks: string | undefined;
/** Run a bundle under runc; resolves to stdout. State lives in a private --root. */
function runcRun(bundle: string): { stdout: string; stderr: string; status: number | null } {
  const state = mkdtempSync(join(tmpdir(), 'layerfold-runc-'));
  const id = `layerfold-test-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  const child = spawnSync('runc', ['--root', state, 'run', '-b', bundle, id], { encoding: 'utf8', timeout: 60_000, stdio: ['pipe', 'pipe', 'pipe'] });
  spawnSync('runc', ['--root', state, 'delete', '-f', id], { stdio: 'pipe' });
  return { stdout: child.stdout, stderr: child.stderr, status: child.status };
}

/** A tiny image: the fixture's static busybox, a user database, USER and WORKDIR in the config. */
async function busyboxImage(config: Record<string, unknown>): Promise<string> {
  const busybox = spawnSync('tar', ['-xOf', join(NATURAL, 'export.tar'), 'bin/busybox'], { maxBuffer: 1 << 26 }).stdout as Buffer;
  expect(busybox.length).toBeGreaterThan(100_000);
  const layer = await layerTar([
    e('bin/'),
    e('bin/busybox', { content: busybox, mode: 0o755 }),
    e('bin/sh -> busybox'),
    e('bin/id -> busybox'),
    e('etc/'),
    e('etc/passwd', { content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app user:/home/app:/bin/sh\n' }),
    e('etc/group', { content: 'root:x:0:\napp:x:2345:\nextra:x:3000:other,app\nnot-app:x:3001:other\n' }),
    e('home/'),
    e('home/app/', { uid: 1234, gid: 2345 }),
  ]);
  return writeTemp(await imageArchive([layer], { config }));
}

describe('config.json', () => {
  it('takes args, env, cwd from the image config; user 0:0; namespaces and mounts for runc', async () => {
    const dir = join(scratchDir(), 'bundle');
    const image = join(NATURAL, 'image.tar');
    const result = await makeBundle(image, dir, { hostname: 'box' });
    const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RuntimeSpec;
    expect(spec).toEqual(result.spec);
    const raw = rawConfig(image).config;
    expect(spec.process.args).toEqual([...((raw.Entrypoint as string[] | null) ?? []), ...((raw.Cmd as string[] | null) ?? [])]);
    expect(spec.process.env).toEqual(['HOSTNAME=box', 'HOME=/', ...(raw.Env as string[])]);
    expect(spec.process.cwd).toBe(raw.WorkingDir);
    expect(spec.process.user).toEqual({ uid: 0, gid: 0 });
    expect(spec.hostname).toBe('box');
    expect(spec.root).toEqual({ path: 'rootfs', readonly: false });
    expect(spec.linux.namespaces.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(spec.mounts.map((m) => `${m.destination} ${m.type}`)).toEqual(
      expect.arrayContaining(['/proc proc', '/dev tmpfs', '/dev/pts devpts', '/dev/shm tmpfs', '/dev/mqueue mqueue', '/sys sysfs']),
    );
    // without root, the owner of opt/tool (123:456) is recorded beside the rootfs
    expect(readdirSync(dir).sort()).toEqual(isRoot ? ['config.json', 'rootfs'] : ['config.json', 'rootfs', 'rootfs.layerfold-skipped.jsonl']);
    expect(existsSync(join(dir, 'rootfs', 'bin', 'busybox'))).toBe(true);
  });

  it('resolves USER through the image\'s /etc/passwd and /etc/group', async () => {
    const dir = join(scratchDir(), 'bundle');
    await makeBundle(await busyboxImage({ User: 'app', WorkingDir: '/work/here', Cmd: ['id'] }), dir);
    const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RuntimeSpec;
    expect(spec.process.user).toEqual({ uid: 1234, gid: 2345, additionalGids: [3000] });
    expect(spec.process.env).toContain('HOME=/home/app');
    expect(spec.process.cwd).toBe('/work/here');
  });

  it('refuses an image with nothing to run and an unknown user, leaving nothing behind', async () => {
    // docker's reasons: "No command specified" (moby#34187); "unable to find user nobody-here: no
    // matching entries in passwd file" (moby/sys/user, as `docker run` reports it)
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ Cmd: null }, 'BAD_LAYOUT', /neither Entrypoint nor Cmd: nothing to run/],
      [{ User: 'nobody-here' }, 'NOT_FOUND', /no user "nobody-here" in the image's \/etc\/passwd/],
    ];
    for (const [config, code, reason] of cases) {
      const base = scratchDir();
      const err = await makeBundle(await busyboxImage(config), join(base, 'bundle')).catch((x: unknown) => x);
      expect(isLayerfoldError(err) && err.code).toBe(code);
      expect((err as Error).message).toMatch(reason);
      expect(readdirSync(base)).toEqual([]);
    }
  });
});

describe('USER resolution (moby/sys/user rules)', () => {
  const passwd = Buffer.from('root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1234:2345::/home/app:/bin/sh\nbroken line\n');
  const group = Buffer.from('root:x:0:\napp:x:2345:\nextra:x:3000:app,other\nwheel:x:10:app\n');
  it.each([
    ['', { uid: 0, gid: 0, additionalGids: [], home: '/root', name: 'root' }],
    ['app', { uid: 1234, gid: 2345, additionalGids: [3000, 10], home: '/home/app', name: 'app' }],
    ['1234', { uid: 1234, gid: 2345, additionalGids: [3000, 10], home: '/home/app', name: 'app' }],
    ['app:extra', { uid: 1234, gid: 3000, additionalGids: [], home: '/home/app', name: 'app' }],
    ['app:77', { uid: 1234, gid: 77, additionalGids: [], home: '/home/app', name: 'app' }],
    ['4321', { uid: 4321, gid: 0, additionalGids: [], home: '/' }],
    ['4321:wheel', { uid: 4321, gid: 10, additionalGids: [], home: '/' }],
  ])('%j', (spec, expected) => {
    expect(resolveUserSpec(spec, passwd, group)).toEqual(expected);
  });

  it('refuses names the image does not know', () => {
    expect(() => resolveUserSpec('ghost', passwd, group)).toThrow(/no user "ghost" in the image's \/etc\/passwd/);
    expect(() => resolveUserSpec('app:ghosts', passwd, group)).toThrow(/no group "ghosts"/);
    expect(() => resolveUserSpec('app', undefined, undefined)).toThrow(/no user "app"/);
    expect(resolveUserSpec('7:8', undefined, undefined)).toEqual({ uid: 7, gid: 8, additionalGids: [], home: '/' });
  });
});

const runcSkip = runcProblem();
describe.skipIf(runcSkip !== undefined)('under runc', () => {
  if (runcSkip) console.log(`skipped: ${runcSkip}`);

  it('runs the fixture image\'s CMD', async (ctx) => {
    const dir = join(scratchDir(), 'bundle');
    await makeBundle(join(NATURAL, 'image.tar'), dir);
    const run = runcRun(dir);
    if (run.status !== 0 && /cgroup|permission denied|operation not permitted/i.test(run.stderr)) {
      runcWorks = `runc cannot start containers here: ${run.stderr.trim().split('\n').pop()}`;
      console.log(`skipped: ${runcWorks}`);
      return ctx.skip();
    }
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('hello from layerfold\n');
  });

  it('USER and WORKDIR take effect', async (ctx) => {
    if (runcWorks) return ctx.skip();
    const dir = join(scratchDir(), 'bundle');
    const image = await busyboxImage({ User: 'app', WorkingDir: '/work/here', Cmd: ['sh', '-c', 'id -u; id -g; id -G; pwd; echo "$HOME"; touch "$HOME/ok" && echo home-writable'] });
    await makeBundle(image, dir);
    const run = runcRun(dir);
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n')).toEqual(['1234', '2345', '2345 3000', '/work/here', '/home/app', 'home-writable', '']);
  });
});
