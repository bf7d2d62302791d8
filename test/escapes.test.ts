/**
 * Terminal escapes from an image: entry names, a tag, Env, Labels, WorkingDir, User, ports, volumes,
 * StopSignal and history holding ESC, a CSI in its C1 form (U+009B, bytes c2 9b), CR, an OSC title,
 * BEL, DEL. No text output of ls, why, diff, config or inspect may carry one raw; names are escaped
 * as GNU tar -tv escapes them in a UTF-8 locale (compared with the real tar); every --json output
 * parses back to the exact values, with DEL and C1 escaped as \u.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { displayName, displayText, jsonText } from '../src/escape.js';
import { layerTar, scratchDir, writeTemp } from './support/build.js';
import { cli } from './support/cli.js';
import { hasCommand } from './support/read.js';

const ESC = '\u001b';
const CSI = '\u009b';
const EVIL = [`${ESC}[2J${ESC}]0;pwned\u0007`, `${CSI}31m`, 'over\rwrite', 'del\u007f'];
/** Entry names as raw bytes (latin1): ESC, CR, OSC+BEL, the C1 CSI in UTF-8 (c2 9b), a bare 9b byte. */
const NAMES = ['a\x1b[31mred', 'csi\xc2\x9b2J', 'cr\rx', 'osc\x1b]0;t\x07', 'raw\x9b', 'e\xc3\xa9', 'bs\\x', 'del\x7f'];

/** Any byte a terminal obeys: C0 but newline, DEL, and C1 in UTF-8 (c2 80…c2 9f). */
function rawControls(out: Buffer): string[] {
  const found: string[] = [];
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    if ((b < 0x20 && b !== 0x0a) || b === 0x7f) found.push(`${i}:${b.toString(16)}`);
    if (b === 0xc2 && out[i + 1]! >= 0x80 && out[i + 1]! <= 0x9f) found.push(`${i}:c2${out[i + 1]!.toString(16)}`);
  }
  return found;
}

let image: string;
let plain: string;
let config: Record<string, unknown>;

async function archive(names: string[], cfg: Record<string, unknown>, tag: string, createdBy: string): Promise<string> {
  const layer = await layerTar([
    { path: 'etc/', type: 'dir' },
    { path: 'etc/motd', content: 'hi' },
    ...names.map((n) => ({ path: Buffer.from(n, 'latin1').toString('utf8'), content: 'x' })),
    { path: 'link', type: 'symlink' as const, linkname: `${ESC}]0;t\u0007` },
  ]);
  const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const c = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: cfg, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: createdBy }] }));
  const hex = createHash('sha256').update(c).digest('hex');
  return writeTemp(
    await layerTar([
      { path: 'l1/layer.tar', content: layer },
      { path: `${hex}.json`, content: c },
      { path: 'manifest.json', content: JSON.stringify([{ Config: `${hex}.json`, RepoTags: [tag], Layers: ['l1/layer.tar'] }]) },
    ]),
  );
}

beforeAll(async () => {
  config = {
    Entrypoint: [`/bin/${ESC}x`],
    Cmd: [EVIL[1]],
    Env: EVIL.map((v, i) => `V${i}=${v}`),
    WorkingDir: `/w${CSI}`,
    User: `u${ESC}[8m`,
    ExposedPorts: { [`80${ESC}/tcp`]: {} },
    Volumes: { [`/v${CSI}`]: {} },
    Labels: { [`k${ESC}`]: EVIL[0], plain: EVIL[2] },
    StopSignal: `SIG${CSI}`,
  };
  // names as UTF-8 text (tar-stream writes UTF-8): the ones that are valid UTF-8
  image = await archive(NAMES.filter((n) => Buffer.from(Buffer.from(n, 'latin1').toString('utf8'), 'utf8').equals(Buffer.from(n, 'latin1'))), config, `evil${ESC}]0;t\u0007:1`, `RUN echo ${EVIL.join(' ')}`);
  plain = await archive([], { Cmd: ['/bin/sh'] }, 'plain:1', 'RUN true');
});

describe('the shared escapes', () => {
  it('names as GNU tar shows them, C1 in UTF-8 included; text the same way; JSON exact', () => {
    expect(displayName('csi\xc2\x9b2J')).toBe('csi\\302\\2332J');
    expect(displayName('raw\x9b')).toBe('raw\\233');
    expect(displayName('a\x1b[31m\r\x07')).toBe('a\\033[31m\\r\\a');
    expect(displayText(`x${CSI}y\u007f`)).toBe('x\\302\\233y\\177');
    expect(jsonText({ a: `x${CSI}${ESC}\u007f` })).toBe('{"a":"x\\u009b\\u001b\\u007f"}');
    expect(JSON.parse(jsonText({ a: `x${CSI}${ESC}\u007f` }))).toEqual({ a: `x${CSI}${ESC}\u007f` });
  });
});

describe('every text output escapes what a terminal obeys', () => {
  it.each([
    ['ls', () => ['ls', image]],
    ['ls --long', () => ['ls', '-l', image]],
    ['why (a name with ESC)', () => ['why', image, '/a\x1b[31mred']],
    ['why (a symlink to an OSC)', () => ['why', image, '/link']],
    ['diff', () => ['diff', image, plain]],
    ['config', () => ['config', image]],
    ['inspect', () => ['inspect', image]],
  ])('%s', async (_what, argv) => {
    const r = await cli(argv());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(argv()[0] === 'diff' ? 1 : 0);
    expect(rawControls(r.stdout)).toEqual([]);
    expect(r.stdout.length).toBeGreaterThan(0);
  });

  it('config shows each value escaped, nothing lost', async () => {
    const text = (await cli(['config', image])).stdout.toString();
    expect(text).toContain('V0=\\033[2J\\033]0;pwned\\a');
    expect(text).toContain('V2=over\\rwrite');
    expect(text).toContain('WorkingDir:   /w\\302\\233');
    expect(text).toContain('Entrypoint:   ["/bin/\\u001bx"]');
    expect(text).toContain('Cmd:          ["\\u009b31m"]');
  });

  it.skipIf(!hasCommand('tar'))('ls --long names are what GNU tar -tv prints for the same export (LC_ALL=C.UTF-8)', async () => {
    const out = join(scratchDir(), 'rootfs.tar');
    expect((await cli(['export', image, '-o', out])).code).toBe(0);
    const tar = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', out], { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } }).toString('utf8').trim().split('\n');
    const ours = (await cli(['ls', '-l', image])).stdout.toString('utf8').trim().split('\n');
    // our lines are tar's with the layer column in front
    const squeeze = (l: string) => l.replace(/ +/g, ' ');
    expect(ours.map((l) => squeeze(l.replace(/^\s*\S+\s+/, '')))).toEqual(tar.map(squeeze));
    expect(tar.some((l) => l.endsWith('csi\\302\\2332J'))).toBe(true);
  });
});

describe('outputs added later take the same escapes', () => {
  it('inspect --wasted: a path with ESC and a C1 CSI, in two layers', async () => {
    const name = `w${ESC}]0;t\u0007${CSI}`;
    const layer = await layerTar([{ path: name, content: 'one' }]);
    const again = await layerTar([{ path: name, content: 'two!' }]);
    const { imageArchive } = await import('./support/build.js');
    const r = await cli(['inspect', '--wasted', writeTemp(await imageArchive([layer, again]))]);
    expect(r.stderr).toBe('');
    expect(rawControls(r.stdout)).toEqual([]);
    expect(r.stdout.toString()).toMatch(/w\\033\]0;t\\a(\\302)?\\233/); // as tar-stream stored the name: UTF-8 or one byte
  });

  it('config --docker-import refuses a value with a control character (one line); --json is exact', async () => {
    const r = await cli(['config', image, '--docker-import']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/holds a control character/);
    expect(rawControls(Buffer.from(r.stderr))).toEqual([]);
  });
});

describe('--json is exact, and carries nothing raw either', () => {
  it.each([
    ['ls', () => ['ls', '--json', image]],
    ['why', () => ['why', '--json', image, '/csi\u009b2J']],
    ['diff', () => ['diff', '--json', image, plain]],
    ['config', () => ['config', '--json', image]],
    ['inspect', () => ['inspect', '--json', image]],
  ])('%s', async (name, argv) => {
    const r = await cli(argv());
    expect(r.stderr).toBe('');
    expect(rawControls(r.stdout)).toEqual([]);
    const json = JSON.parse(r.stdout.toString('utf8')) as unknown;
    if (name === 'config') expect(json).toMatchObject({ Env: config.Env, WorkingDir: config.WorkingDir, User: config.User, Labels: config.Labels, Cmd: config.Cmd });
    if (name === 'ls') expect((json as Array<{ name: string }>).map((e) => e.name)).toContain('csi\u009b2J');
  });
});

describe('errors naming image text stay one escaped line', () => {
  it('a path that is not there', async () => {
    const r = await cli(['ls', image, `/no${CSI}such${ESC}`]);
    expect(r.code).toBe(2);
    expect(rawControls(Buffer.from(r.stderr))).toEqual([]);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
