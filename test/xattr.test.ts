/**
 * `security.capability` without Debian's `attr`: extract/bundle set it through the optional
 * `@napi-rs/xattr` (checked with libcap's getcap and against the value in docker's export.tar), fall
 * back to setfattr when the package cannot be loaded (said once), and `diff DIR TAR` compares it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { extractRootfs } from '../src/index.js';
import { useXattrAddon, xattrAddon } from '../src/io/xattr.js';
import { scratchDir } from './support/build.js';
import { hasCommand } from './support/read.js';

const isRoot = process.geteuid?.() === 0;
const FIXTURE = 'fixtures/conformance/capability';
const hasAddon = xattrAddon() !== null;

/** The capability docker's export.tar holds for usr/bin/ping, as hex. */
function dockerCapability(): string {
  const m = /SCHILY\.xattr\.security\.capability=([\s\S]*?)\n/.exec(readFileSync(join(FIXTURE, 'export.tar')).toString('latin1'));
  return Buffer.from(m![1]!, 'latin1').toString('hex');
}

/** getfattr's hex value, or getcap's text: whichever real tool is here. */
function capabilityByTool(file: string): string {
  const r = spawnSync('getcap', [file], { encoding: 'utf8' });
  return r.stdout.trim();
}

/** Run `fn` with PATH holding no tools at all (no setfattr, no getfattr). */
async function withoutTools<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = join(scratchDir(), 'empty-bin');
  mkdirSync(process.env.PATH);
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

function sink(): Writable & { text: string } {
  const w = new Writable({ write: (c: Buffer, _e, cb) => ((w.text += c.toString()), cb()) }) as Writable & { text: string };
  w.text = '';
  return w;
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const code = await run(argv, { stdin: Readable.from([]), stdout, stderr, env: {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

afterEach(() => useXattrAddon(true));

describe.skipIf(!isRoot || !hasAddon || !hasCommand('getcap'))('security.capability through @napi-rs/xattr (root)', () => {
  it('extract sets it with no setfattr on PATH (getcap shows it; the value is docker\'s)', async () => {
    const dir = join(scratchDir(), 'rootfs');
    const result = await withoutTools(() => extractRootfs(join(FIXTURE, 'image.tar'), dir));
    expect(result.skipped.capability).toBe(0);
    expect(result.missingTools).toBeUndefined();
    expect(result.note).toBeUndefined();
    expect(capabilityByTool(join(dir, 'usr/bin/ping'))).toBe(`${join(dir, 'usr/bin/ping')} cap_net_raw=ep`);
    if (hasCommand('getfattr')) {
      const hex = spawnSync('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'security.capability', join(dir, 'usr/bin/ping')], { encoding: 'utf8' }).stdout;
      expect(hex).toContain(`security.capability=0x${dockerCapability()}`);
    }
    // the staging link is gone, and no name but the image's was left
    expect(readdirSync(dir).sort()).toEqual(['bin', 'etc', 'lib', 'tmp', 'usr', 'var']);
  });

  it('diff DIR export.tar compares it: equal after extract, a difference once removed by hand (setcap -r)', async () => {
    const dir = join(scratchDir(), 'rootfs');
    await extractRootfs(join(FIXTURE, 'image.tar'), dir);
    const tar = join(FIXTURE, 'export.tar');
    const before = await cli(['diff', dir, tar, '--ignore-init', '--ignore', 'mtime', '--json']);
    expect(before.stderr).toBe('');
    const differBefore = (JSON.parse(before.stdout) as { differ: Array<{ path: string }> }).differ;
    expect(differBefore.map((c) => c.path)).not.toContain('usr/bin/ping');
    expect(spawnSync('setcap', ['-r', join(dir, 'usr/bin/ping')]).status).toBe(0);
    const after = await cli(['diff', dir, tar, '--ignore-init', '--ignore', 'mtime']);
    expect(after.stdout).toMatch(new RegExp(`~ usr/bin/ping  xattrs \\{\\} → \\{security\\.capability=${dockerCapability().slice(0, 24)}`));
    expect(after.code).toBe(1);
  });
});

describe.skipIf(!isRoot)('without the addon (it cannot be loaded on some platforms)', () => {
  it.skipIf(!hasCommand('setfattr'))('extract falls back to setfattr on /proc/self/fd/3 and says so once', async () => {
    useXattrAddon(false);
    const dir = join(scratchDir(), 'rootfs');
    const result = await extractRootfs(join(FIXTURE, 'image.tar'), dir);
    expect(result.skipped.capability).toBe(0);
    expect(result.note).toBe('@napi-rs/xattr turned off; security.capability is set with setfattr instead');
    if (hasCommand('getcap')) expect(capabilityByTool(join(dir, 'usr/bin/ping'))).toBe(`${join(dir, 'usr/bin/ping')} cap_net_raw=ep`);
  });

  it('with neither the addon nor setfattr, the capability is skipped and recorded, naming both', async () => {
    useXattrAddon(false);
    const dir = join(scratchDir(), 'rootfs');
    const r = await withoutTools(() => cli(['extract', join(FIXTURE, 'image.tar'), dir]));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`layerfold: @napi-rs/xattr (an optional dependency) and setfattr (Debian package attr) not installed: skipped 1 file capability; recorded in ${dir}.layerfold-skipped.jsonl\n`);
  });

  it('diff of a directory says xattrs are not compared, and why', async () => {
    useXattrAddon(false);
    const dir = join(scratchDir(), 'rootfs');
    await extractRootfs(join(FIXTURE, 'image.tar'), dir);
    const r = await cli(['diff', dir, join(FIXTURE, 'export.tar'), '-q']);
    expect(r.stderr).toBe(`layerfold: note: xattrs not compared: ${dir} is a directory (@napi-rs/xattr turned off)\n`);
  });
});

describe.skipIf(!isRoot)('capabilities on a directory, a symlink, a fifo (docker exports them)', () => {
  const pairs: Array<[string, string]> = [
    ['cap-on-dir', 'capd'],
    ['cap-on-symlink', 'capl'],
    ['cap-on-fifo', 'capf'],
  ];
  const modes = [...(hasAddon ? [['@napi-rs/xattr', true] as const] : []), ...(hasCommand('setfattr') ? [['setfattr', false] as const] : [])];
  for (const [how, addon] of modes) {
    it.each(pairs)(`%s through ${how}: the value docker's export.tar holds (getfattr -h), and diff finds none`, async (pair, name) => {
      useXattrAddon(addon);
      const base = join('fixtures/docker', pair);
      const created = readFileSync(join(base, 'created.txt'), 'utf8').trim();
      const dir = join(scratchDir(), 'rootfs');
      const result = await extractRootfs(join(base, 'image.tar'), dir, { dockerInit: Date.parse(created) / 1000 });
      expect(result.skipped.capability).toBe(0);
      const tarBytes = readFileSync(join(base, 'export.tar')).toString('latin1');
      const value = Buffer.from(/SCHILY\.xattr\.security\.capability=([\s\S]*?)\n/.exec(tarBytes)![1]!, 'latin1').toString('hex');
      if (hasCommand('getfattr')) {
        const got = spawnSync('getfattr', ['-h', '--absolute-names', '-e', 'hex', '-n', 'security.capability', join(dir, name)], { encoding: 'utf8' });
        expect(got.stdout).toContain(`security.capability=0x${value}`);
      }
      useXattrAddon(true);
      const r = await cli(['diff', join(base, 'image.tar'), dir, `--docker-init=${created}`]);
      expect(r.stdout).toBe('');
      expect(r.code).toBe(0);
      expect(readdirSync(dir).filter((n) => n.startsWith('.layerfold'))).toEqual([]);
    });
  }
});

describe.skipIf(!hasAddon || !hasCommand('tar'))('a directory entry whose path is not UTF-8', () => {
  it('is left out of the xattr comparison, with a note (the package takes UTF-8 paths only)', async () => {
    const base = scratchDir();
    const dir = join(base, 'rootfs');
    mkdirSync(dir);
    const name = Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9])]); // latin1 "café"
    writeFileSync(name, 'x');
    writeFileSync(join(dir, 'plain'), 'y');
    const tar = join(base, 'rootfs.tar');
    expect(spawnSync('tar', ['--numeric-owner', '-C', dir, '-cf', tar, '.']).status).toBe(0);
    const r = await cli(['diff', tar, dir, '--ignore', 'mtime']);
    expect(r.stderr).toBe('layerfold: note: xattrs not compared for 1 entry of a directory whose path is not UTF-8\n');
    expect(r.code).toBe(0);
  });
});
