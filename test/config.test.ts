/**
 * `layerfold config`: the fields as the raw config blob holds them (read with GNU tar alone), the text
 * form, `--json`, and `--shell DIR`, whose line is run by sh as root against an extracted rootfs.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli as runCli } from './support/cli.js';
import { extractRootfs } from '../src/index.js';
import { shellQuote } from '../src/config-view.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { hasCommand } from './support/read.js';

const NATURAL = 'fixtures/conformance/natural-docker26';
const isRoot = process.geteuid?.() === 0;

/** The shared in-process CLI runner, with stdout as text. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await runCli(argv);
  return { code: r.code, out: r.stdout.toString(), err: r.stderr };
}

function rawConfig(image: string): Record<string, unknown> {
  const manifest = JSON.parse(spawnSync('tar', ['-xOf', image, 'manifest.json'], { encoding: 'utf8' }).stdout) as Array<{ Config: string }>;
  return (JSON.parse(spawnSync('tar', ['-xOf', image, manifest[0]!.Config], { encoding: 'utf8' }).stdout) as { config: Record<string, unknown> }).config;
}

const FULL = {
  Entrypoint: ['/bin/sh', '-c'],
  Cmd: ['echo "$GREETING" it\'s; pwd'],
  Env: ['PATH=/bin', 'GREETING=hello world', 'EMPTY='],
  WorkingDir: '/srv/app',
  User: '1234:5678',
  ExposedPorts: { '80/tcp': {}, '53/udp': {} },
  Volumes: { '/data': {} },
  Labels: { 'org.example.a': 'b c' },
};

async function busyboxImage(config: Record<string, unknown>): Promise<string> {
  const busybox = spawnSync('tar', ['-xOf', join(NATURAL, 'export.tar'), 'bin/busybox'], { maxBuffer: 1 << 26 }).stdout as Buffer;
  const layer = await layerTar([e('bin/'), e('bin/busybox', { content: busybox, mode: 0o755 }), e('bin/sh -> busybox'), e('bin/id -> busybox'), e('srv/'), e('srv/app/'), e('etc/'), e('etc/passwd', { content: 'root:x:0:0::/root:/bin/sh\nweb:x:33:44::/srv:/bin/sh\n' }), e('etc/group', { content: 'web:x:44:\nlogs:x:55:web\n' })]);
  return writeTemp(await imageArchive([layer], { config }));
}

describe('layerfold config', () => {
  it('--json gives the fields exactly as the image config holds them', async () => {
    const image = join(NATURAL, 'image.tar');
    const raw = rawConfig(image);
    const { code, out } = await cli(['config', image, '--json']);
    expect(code).toBe(0);
    const keys = ['Entrypoint', 'Cmd', 'Env', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels'];
    expect(JSON.parse(out)).toEqual(Object.fromEntries(keys.map((k) => [k, raw[k] === '' || raw[k] === undefined ? null : raw[k]])));
  });

  it('reads the image from stdin for -, as config, extract and bundle all say they do', async () => {
    const bytes = readFileSync(join(NATURAL, 'image.tar'));
    const viaFile = await cli(['config', join(NATURAL, 'image.tar'), '--json']);
    const viaStdin = await runCli(['config', '-', '--json'], { stdin: bytes });
    expect(viaStdin.stderr).toBe('');
    expect(viaStdin.stdout.toString()).toBe(viaFile.out);
    const dir = join(scratchDir(), 'rootfs');
    const extracted = await runCli(['extract', '-', dir], { stdin: bytes });
    expect(extracted.code).toBe(0);
    expect(readdirSync(dir)).toContain('bin');
    const bundle = join(scratchDir(), 'bundle');
    const made = await runCli(['bundle', '-', bundle], { stdin: bytes });
    expect(made.code).toBe(0);
    expect(readdirSync(bundle).sort()).toEqual(isRoot ? ['config.json', 'rootfs'] : ['config.json', 'rootfs', 'rootfs.layerfold-skipped.jsonl']);
  });

  it('prints every field as text', async () => {
    const { code, out } = await cli(['config', writeTemp(await imageArchive([await layerTar([e('f')])], { config: FULL }))]);
    expect(code).toBe(0);
    expect(out).toBe(
      [
        'Entrypoint:   ["/bin/sh","-c"]',
        'Cmd:          ["echo \\"$GREETING\\" it\'s; pwd"]',
        'Env:          PATH=/bin',
        '              GREETING=hello world',
        '              EMPTY=',
        'WorkingDir:   /srv/app',
        'User:         1234:5678',
        'ExposedPorts: 80/tcp',
        '              53/udp',
        'Volumes:      /data',
        'Labels:       org.example.a=b c',
        '',
      ].join('\n'),
    );
  });

  it('--json and --shell together is a usage error', async () => {
    const { code, err } = await cli(['config', join(NATURAL, 'image.tar'), '--json', '--shell', '/x']);
    expect(code).toBe(2);
    expect(err).toMatch(/--json and --shell/);
  });

  it('quotes words so that sh reads them back unchanged', () => {
    const words = ['plain', 'a b', "it's", '$HOME', '`id`', '"q"', '', '*', 'x=y', '-n', 'tab\there', 'new\nline', '\\', "''"];
    const child = spawnSync('sh', ['-c', `printf '%s\\0' ${words.map(shellQuote).join(' ')}`], { encoding: 'utf8' });
    expect(child.stdout.split('\0').slice(0, -1)).toEqual(words);
  });
});

describe.skipIf(!isRoot || !hasCommand('chroot'))('config --shell DIR runs the image\'s command (as root)', () => {
  it('the fixture image: its CMD, in its WorkingDir, with its Env', async () => {
    const dir = join(scratchDir(), 'rootfs');
    await extractRootfs(join(NATURAL, 'image.tar'), dir);
    const { code, out } = await cli(['config', join(NATURAL, 'image.tar'), '--shell', dir]);
    expect(code).toBe(0);
    expect(out).toMatch(/^env -i /);
    const child = spawnSync('sh', ['-c', out], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe('hello from layerfold\n');
  });

  it('USER (resolved in the image), WORKDIR, Env with spaces and quotes', async () => {
    const image = await busyboxImage({ User: 'web', WorkingDir: '/srv/app', Env: ['PATH=/bin', 'GREETING=hello "big" world\'s'], Entrypoint: ['/bin/sh', '-c'], Cmd: ['id -u; id -g; id -G; pwd; echo "$GREETING"; echo "$HOME"'] });
    const dir = join(scratchDir(), 'root fs');
    await extractRootfs(image, dir);
    const { out } = await cli(['config', image, '--shell', dir]);
    const child = spawnSync('sh', ['-c', out], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout.split('\n')).toEqual(['33', '44', '44 55', '/srv/app', 'hello "big" world\'s', '/srv', '']);
  });
});
