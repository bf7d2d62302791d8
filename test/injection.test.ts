/**
 * Nothing from an image may be read by a host tool as an option or a command. `config --shell` prints
 * a line meant for `sudo sh -c "$(…)"`: an Env entry that is an env(1) option (`--split-string=…`,
 * `-S…`) placed after `env -i` ran a host command before the chroot — root on the host. Each attack is
 * first shown to work against this machine's GNU env without `--`, then the printed line is run with
 * sh and must not create the marker (as any user: the attack runs before chroot, which needs root).
 * The rules on odd entries are docker's, seen on Docker 26 with runc: an entry without `=` is dropped,
 * an empty name, a NUL and a relative WorkingDir are refused (runc refuses to start such a container),
 * any other name (`-S x`, `a.b`, `1x`) is passed through as a variable.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractRootfs } from '../src/index.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';
import { hasCommand } from './support/read.js';

const NATURAL = 'fixtures/conformance/natural-docker26';
const isRoot = process.geteuid?.() === 0;

async function busyboxImage(config: Record<string, unknown>, passwd = 'root:x:0:0::/root:/bin/sh\n'): Promise<string> {
  const busybox = spawnSync('tar', ['-xOf', join(NATURAL, 'export.tar'), 'bin/busybox'], { maxBuffer: 1 << 26 }).stdout as Buffer;
  const layer = await layerTar([e('bin/'), e('bin/busybox', { content: busybox, mode: 0o755 }), e('bin/sh -> busybox'), e('bin/env -> busybox'), e('etc/'), e('etc/passwd', { content: passwd }), e('srv/')]);
  return writeTemp(await imageArchive([layer], { config }));
}

async function shellLine(image: string, dir: string): Promise<{ code: number; line: string; stderr: string }> {
  const r = await cli(['config', image, '--shell', dir]);
  return { code: r.code, line: r.stdout.toString(), stderr: r.stderr };
}

const marker = () => join(scratchDir(), 'pwned');
/** Env entries that make GNU env run a host command when they stand where env reads options. */
const attacks = (m: string): string[] => [`--split-string=sh -c 'touch ${m}'`, `-Ssh -c 'touch ${m}' #=`, `-iS sh -c 'touch ${m}' #=`];

describe.skipIf(!hasCommand('env'))('config --shell: Env entries that are env(1) options', () => {
  it.each([0, 1, 2])('attack %i really runs a host command through `env -i ENTRY` on this machine', (i) => {
    const m = marker();
    spawnSync('env', ['-i', attacks(m)[i]!, '/bin/true']);
    expect(existsSync(m)).toBe(true);
  });

  it.each([0, 1, 2])('attack %i: the printed line, run by sh, runs nothing on the host', async (i) => {
    const m = marker();
    const image = await busyboxImage({ Env: ['PATH=/bin', attacks(m)[i]!], Entrypoint: ['/bin/env'], Cmd: [] });
    const dir = join(scratchDir(), 'rootfs');
    await extractRootfs(image, dir);
    const { code, line } = await shellLine(image, dir);
    expect(code).toBe(0);
    expect(line).toMatch(/^env -i -- /);
    const child = spawnSync('sh', ['-c', line], { encoding: 'utf8' });
    expect(existsSync(m)).toBe(false);
    if (isRoot) {
      // the entry reached the image's process as a variable, as docker passes it
      expect(child.stderr).toBe('');
      expect(child.stdout.split('\n')).toContain(attacks(m)[i]);
    }
  });

  it('an entry without `=` is dropped (as docker does), never taken by env as the command', async () => {
    const m = marker();
    const image = await busyboxImage({ Env: ['PATH=/bin', `/usr/bin/touch`, m], Entrypoint: ['/bin/env'] });
    const dir = join(scratchDir(), 'rootfs');
    await extractRootfs(image, dir);
    const { line } = await shellLine(image, dir);
    expect(line).not.toContain(m);
    spawnSync('sh', ['-c', line]);
    expect(existsSync(m)).toBe(false);
  });

  it('-u and -C forms are variables too; chroot is an absolute host path and its options end with --', async () => {
    const image = await busyboxImage({ Env: ['PATH=/tmp/evil:/bin', '-uPATH=1', '-C/=2'], Entrypoint: ['/bin/env'], Cmd: [] });
    const dir = join(scratchDir(), '-rootfs');
    await extractRootfs(image, dir);
    const { line } = await shellLine(image, dir);
    expect(line).toMatch(/^env -i -- HOME=\/root PATH=\/tmp\/evil:\/bin -uPATH=1 -C\/=2 \/\S*chroot --userspec=0:0 --groups=0 -- \S*-rootfs \/bin\/env\n$/);
    if (isRoot) {
      const child = spawnSync('sh', ['-c', line], { encoding: 'utf8' });
      expect(child.stdout.split('\n')).toEqual(expect.arrayContaining(['-uPATH=1', '-C/=2', 'PATH=/tmp/evil:/bin']));
    }
  });

  it('a USER whose passwd name looks like an option becomes numbers', async () => {
    const image = await busyboxImage({ User: '--help', Entrypoint: ['/bin/env'] }, 'root:x:0:0::/root:/bin/sh\n--help:x:5:6::/srv:/bin/sh\n');
    const { line } = await shellLine(image, '/x');
    expect(line).toContain(' --userspec=5:6 --groups=6 -- /x /bin/env');
  });

  it.each([
    ['an empty name', { Env: ['=x'] }, /config\.Env\[0\] "=x" has an empty variable name \(runc refuses to start it\)/],
    ['a NUL', { Env: ['A\u0000B=1'] }, /config\.Env\[0\] "A\\u0000B=1" holds a NUL byte/],
    ['a relative WorkingDir', { WorkingDir: 'srv' }, /config\.WorkingDir "srv" is not an absolute path/],
    ['a WorkingDir that is a cd option', { WorkingDir: '-P' }, /config\.WorkingDir "-P" is not an absolute path/],
    ['an ESC in Env', { Env: ['A=\u001b]0;pwned\u0007'] }, /holds a control character \("A=\\u001b\]0;pwned\\u0007"\)/],
    ['a C1 CSI in Cmd', { Cmd: ['/bin/env', '\u009b2J'] }, /holds a control character \("\\u009b2J"\)/],
  ])('%s: one line, exit 2 (config --shell and bundle alike, where runc refuses it)', async (what, config, pattern) => {
    const image = await busyboxImage({ Entrypoint: ['/bin/env'], ...config });
    expectOneLine(await cli(['config', image, '--shell', '/x']), pattern);
    if (!what.includes('ESC') && !what.includes('C1')) {
      const out = scratchDir();
      expectOneLine(await cli(['bundle', image, join(out, 'b')]), pattern);
      expect(readdirSync(out)).toEqual([]);
    }
  });
});

describe('bundle: config.json carries odd Env names as docker does, control characters as JSON escapes', () => {
  it('names like -S x, a.b, 1x pass; a value with ESC and CSI is kept exactly', async () => {
    const env = ['PATH=/bin', '-S sh -c x=1', 'a.b=2', '1x=3', 'T=\u001b[31m\u009b2J'];
    const image = await busyboxImage({ Env: [...env, 'NOEQUALS'], Entrypoint: ['/bin/env'] });
    const dir = join(scratchDir(), 'b');
    expect((await cli(['bundle', image, dir])).code).toBe(0);
    const text = readFileSync(join(dir, 'config.json'), 'utf8');
    expect(text).not.toMatch(/[\u001b\u009b]/); // escaped in the file (\u001b, \u009b), exact once parsed
    const spec = JSON.parse(text) as { process: { env: string[]; cwd: string } };
    expect(spec.process.env).toEqual(['HOSTNAME=layerfold', 'HOME=/root', ...env]);
    expect(spec.process.cwd).toBe('/');
  });
});
