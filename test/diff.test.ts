/**
 * `layerfold diff`, run in process through `run(argv, io)`.
 *
 * Real docker pairs (fixtures/conformance, fixtures/docker): the image, flattened on the fly, equals
 * docker's export with --ignore-init; our own export equals it too. Crafted rootfs tars (written with
 * tar-stream, an independent writer) each carry one known difference, and the test checks that diff
 * names exactly that field with the values the test wrote (digests computed here). Directory sides
 * are made by GNU tar extracting the archive, as root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { zstdSync } from '../src/io/compression.js';
import { run } from '../src/cli/main.js';
import { type DiffResult } from '../src/diff/compare.js';
import { flattenImage } from '../src/flatten.js';
import { Dir } from '../src/tree/node.js';
import { walkTree } from '../src/tree/walk.js';
import { e, layerTar, scratchDir, sha256, T0, writeTemp, type EntrySpec } from './support/build.js';
import { hasCommand } from './support/read.js';

const zstdCompress = zstdSync.compress;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function capture(isTTY = false): Writable & { text: string; isTTY?: boolean } {
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      stream.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string; isTTY?: boolean };
  stream.text = '';
  if (isTTY) stream.isTTY = true;
  return stream;
}

async function cli(argv: string[], options: { tty?: boolean; env?: NodeJS.ProcessEnv; stdin?: Buffer } = {}): Promise<CliResult> {
  const stdout = capture(options.tty);
  const stderr = capture();
  const stdin = Readable.from(options.stdin ? [options.stdin] : []);
  const code = await run(argv, { stdin, stdout, stderr, env: options.env ?? {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

async function diffJson(argv: string[]): Promise<{ code: number; result: DiffResult }> {
  const r = await cli([...argv, '--json']);
  expect(r.stderr).toBe('');
  return { code: r.code, result: JSON.parse(r.stdout) as DiffResult };
}

// ---------------------------------------------------------------------------------------------
// Real docker pairs

interface Pair {
  name: string;
  dir: string;
  images: string[];
  created: string;
  /** Why docker and layerfold disagree on this case, when the corpus lists it as a known disagreement. */
  known?: string;
}

const KNOWN_FILE = 'fixtures/cases/_known-disagreements.json';
const KNOWN: Record<string, string> = existsSync(KNOWN_FILE) ? (JSON.parse(readFileSync(KNOWN_FILE, 'utf8')) as Record<string, string>) : {};

function pairs(): Pair[] {
  const out: Pair[] = [];
  for (const root of ['fixtures/conformance', 'fixtures/docker']) {
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      if (!existsSync(join(dir, 'export.tar'))) continue;
      const images = readdirSync(dir).filter((f) => /^image.*\.tar$/.test(f)).map((f) => join(dir, f));
      const pair: Pair = { name: `${root.split('/')[1]}/${name}`, dir, images, created: readFileSync(join(dir, 'created.txt'), 'utf8').trim() };
      if (root === 'fixtures/docker' && KNOWN[name] !== undefined) pair.known = KNOWN[name];
      out.push(pair);
    }
  }
  return out;
}

/** Directories docker made while unpacking (their mtime is a stand-in on our side). */
async function impliedDirs(image: string): Promise<string[]> {
  const flat = await flattenImage(image);
  try {
    return [...walkTree(flat.tree)].filter((x) => x.node instanceof Dir && x.node.implied).map((x) => x.name.replace(/\/$/, ''));
  } finally {
    flat.close();
  }
}

describe.each(pairs().filter((p) => p.known === undefined))('docker pair $name', (pair) => {
  const dockerExport = () => join(pair.dir, 'export.tar');

  it.each(pair.images.map((p) => [p.split('/').pop()!, p]))('%s (no --docker-init) equals docker export with --ignore-init', async (_label, image) => {
    const r = await cli(['diff', image, dockerExport(), '--ignore-init']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('the image with --docker-init=<created> equals docker export with nothing ignored', async () => {
    const r = await cli(['diff', pair.images[0]!, dockerExport(), `--docker-init=${pair.created}`]);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
  });

  it('our export with --docker-init equals docker export, but for the mtime of implied directories', async () => {
    const ours = join(scratchDir(), 'ours.tar');
    expect((await cli(['export', pair.images[0]!, `--docker-init=${pair.created}`, '-o', ours])).code).toBe(0);
    const implied = await impliedDirs(pair.images[0]!);
    const { code, result } = await diffJson(['diff', ours, dockerExport()]);
    // The load time docker gave those directories is in no archive: they may differ in mtime only.
    for (const d of result.differ) {
      expect(implied).toContain(d.path);
      expect(d.fields.map((f) => f.field)).toEqual(['mtime']);
    }
    expect([result.onlyInA, result.onlyInB]).toEqual([[], []]);
    expect(code).toBe(result.differ.length === 0 ? 0 : 1);
    if (implied.length === 0) expect(code).toBe(0);
    else if (code === 1) expect((await cli(['diff', ours, dockerExport(), '--ignore', 'mtime'])).code).toBe(0);
  });
});

describe.each(pairs().filter((p) => p.known !== undefined))('known disagreement $name', (pair) => {
  it('is found by diff --ignore-init ($known)', async () => {
    expect((await cli(['diff', pair.images[0]!, join(pair.dir, 'export.tar'), '--ignore-init'])).code).toBe(1);
  });
});

describe('--ignore-init against docker exports', () => {
  it('without --ignore-init, the init paths docker created are reported only in B', async () => {
    const { code, result } = await diffJson(['diff', 'fixtures/docker/workdir-symlink/image.tar', 'fixtures/docker/workdir-symlink/export.tar']);
    expect(code).toBe(1);
    expect(result.onlyInB.map((x) => x.path)).toEqual(['.dockerenv', 'dev', 'dev/console', 'dev/pts', 'dev/shm', 'etc/hostname', 'etc/hosts', 'etc/mtab', 'etc/resolv.conf', 'proc', 'real', 'real/d', 'real/d/e', 'sys']);
    expect(result.differ).toEqual([{ path: 'etc', type: 'dir', fields: [{ field: 'mtime', a: T0, b: expect.any(Number) }] }]);
  });

  it('tar against tar: etc/ and dev/ keep mode and owner, only their mtime is ignored (init-odd-dirs)', async () => {
    const ours = join(scratchDir(), 'noinit.tar');
    expect((await cli(['export', 'fixtures/docker/init-odd-dirs/image.tar', '-o', ours])).code).toBe(0);
    expect((await cli(['diff', ours, 'fixtures/docker/init-odd-dirs/export.tar', '--ignore-init'])).code).toBe(0);
    // a changed mode of etc/ is not something docker create does
    const passwd = execFileSync('tar', ['-xOf', 'fixtures/docker/init-odd-dirs/export.tar', 'etc/passwd']);
    const tar = await layerTar([e('dev/', { mode: 0o711, uid: 3 }), e('etc/', { mode: 0o755, uid: 5, gid: 6 }), e('etc/passwd', { content: passwd })]);
    const { result } = await diffJson(['diff', writeTemp(tar, 'odd.tar'), 'fixtures/docker/init-odd-dirs/export.tar', '--ignore-init']);
    expect(result.differ).toEqual([{ path: 'etc', type: 'dir', fields: [{ field: 'mode', a: '0755', b: '0700' }] }]);
  });

  it('tar against tar: an etc symlink replaced by a 0755 0:0 directory is ignored (init-etc-symlink)', async () => {
    const ours = join(scratchDir(), 'noinit.tar');
    expect((await cli(['export', 'fixtures/docker/init-etc-symlink/image.tar', '-o', ours])).code).toBe(0);
    expect((await cli(['diff', ours, 'fixtures/docker/init-etc-symlink/export.tar'])).code).toBe(1);
    expect((await cli(['diff', ours, 'fixtures/docker/init-etc-symlink/export.tar', '--ignore-init'])).code).toBe(0);
  });

  it('implied directories: mtime ignored only while it is a stand-in (no --implied-mtime)', async () => {
    const image = 'fixtures/conformance/implicit-parents/image.tar';
    const dockerExport = 'fixtures/conformance/implicit-parents/export.tar';
    const implied = await impliedDirs(image);
    expect(implied.length).toBeGreaterThan(0);
    const { code, result } = await diffJson(['diff', image, dockerExport, '--ignore-init', '--implied-mtime=2001-01-01T00:00:00Z']);
    expect(code).toBe(1);
    expect(result.differ.map((d) => d.path).sort()).toEqual([...implied].sort());
    for (const d of result.differ) expect(d.fields).toEqual([{ field: 'mtime', a: 978307200, b: expect.any(Number) }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Crafted differences

const BASE: EntrySpec[] = [
  e('bin/'),
  e('bin/sh', { content: '#!shell\n', mode: 0o755 }),
  { path: 'bin/ash', type: 'link', linkname: 'bin/sh' },
  e('bin/sh2', { content: '#!shell\n', mode: 0o755 }),
  e('dev/'),
  { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { path: 'dev/fifo', type: 'fifo', mode: 0o600 },
  e('etc/'),
  e('etc/passwd', { content: 'root:x:0:0::/root:/bin/sh\n' }),
  e('etc/shadow', { content: 'root:*::0:::::\n', mode: 0o640, gid: 42 }),
  e('etc/localtime -> /usr/share/zoneinfo/UTC'),
  e('usr/'),
  e('usr/bin/'),
  e('usr/bin/ping', { content: 'ping', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': 'cap-v2' } }),
];

function variant(change: (specs: EntrySpec[]) => EntrySpec[]): EntrySpec[] {
  return change(BASE.map((s) => ({ ...s })));
}

function edit(path: string, extra: Partial<EntrySpec>): (specs: EntrySpec[]) => EntrySpec[] {
  return (specs) => specs.map((s) => (s.path === path ? { ...s, ...extra } : s));
}

async function tarFile(specs: EntrySpec[], name = 'rootfs.tar'): Promise<string> {
  return writeTemp(await layerTar(specs), name);
}

describe('crafted differences are each named with the right field', () => {
  const cases: Array<[string, (s: EntrySpec[]) => EntrySpec[], string, unknown]> = [
    ['mode', edit('etc/passwd', { mode: 0o600 }), 'etc/passwd', [{ field: 'mode', a: '0644', b: '0600' }]],
    ['uid', edit('etc/passwd', { uid: 1000 }), 'etc/passwd', [{ field: 'uid', a: 0, b: 1000 }]],
    ['gid', edit('etc/shadow', { gid: 0 }), 'etc/shadow', [{ field: 'gid', a: 42, b: 0 }]],
    ['content digest (same size)', edit('etc/passwd', { content: 'ROOT:x:0:0::/root:/bin/sh\n' }), 'etc/passwd', [{ field: 'digest', a: `sha256:${sha256(Buffer.from('root:x:0:0::/root:/bin/sh\n'))}`, b: `sha256:${sha256(Buffer.from('ROOT:x:0:0::/root:/bin/sh\n'))}` }]],
    ['size', edit('etc/passwd', { content: 'root:x:0:0::/root:/bin/bash\n' }), 'etc/passwd', [{ field: 'size', a: 26, b: 28 }, { field: 'digest', a: expect.any(String), b: `sha256:${sha256(Buffer.from('root:x:0:0::/root:/bin/bash\n'))}` }]],
    ['link target', edit('etc/localtime', { linkname: '/usr/share/zoneinfo/CET' }), 'etc/localtime', [{ field: 'link', a: '/usr/share/zoneinfo/UTC', b: '/usr/share/zoneinfo/CET' }]],
    ['mtime', edit('usr/bin/', { mtime: T0 + 60 }), 'usr/bin', [{ field: 'mtime', a: T0, b: T0 + 60 }]],
    ['device numbers', edit('dev/null', { devminor: 5 }), 'dev/null', [{ field: 'device', a: '1,3', b: '1,5' }]],
    ['type', edit('dev/fifo', { type: 'file', content: '' }), 'dev/fifo', [{ field: 'type', a: 'fifo', b: 'file' }]],
    ['xattr', edit('usr/bin/ping', { pax: { 'SCHILY.xattr.security.capability': 'cap-v3' } }), 'usr/bin/ping', [{ field: 'xattrs', a: { 'security.capability': Buffer.from('cap-v2').toString('hex') }, b: { 'security.capability': Buffer.from('cap-v3').toString('hex') } }]],
  ];

  it.each(cases)('%s', async (_name, change, path, fields) => {
    const a = await tarFile(BASE, 'a.tar');
    const b = await tarFile(variant(change), 'b.tar');
    const { code, result } = await diffJson(['diff', a, b]);
    expect(code).toBe(1);
    expect(result.onlyInA).toEqual([]);
    expect(result.onlyInB).toEqual([]);
    expect(result.differ).toEqual([{ path, type: expect.any(String), fields }]);
  });

  it('equal tars exit 0 and print nothing', async () => {
    const r = await cli(['diff', await tarFile(BASE, 'a.tar'), await tarFile(BASE, 'b.tar')]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('a missing entry is only in A, an added one only in B', async () => {
    const b = await tarFile(variant((s) => [...s.filter((x) => x.path !== 'etc/shadow'), e('etc/group', { content: 'root:x:0:\n' })]), 'b.tar');
    const { code, result } = await diffJson(['diff', await tarFile(BASE, 'a.tar'), b]);
    expect(code).toBe(1);
    expect(result.onlyInA).toEqual([{ path: 'etc/shadow', type: 'file' }]);
    expect(result.onlyInB).toEqual([{ path: 'etc/group', type: 'file' }]);
    expect(result.differ).toEqual([]);
  });

  it('hard-link groups are compared as sets of names: which name comes first does not matter', async () => {
    const swapped = variant((s) =>
      s.flatMap((x) => {
        if (x.path === 'bin/sh') return [{ ...x, path: 'bin/ash' }];
        if (x.path === 'bin/ash') return [{ path: 'bin/sh', type: 'link' as const, linkname: 'bin/ash' }];
        return [x];
      }),
    );
    expect((await cli(['diff', await tarFile(BASE, 'a.tar'), await tarFile(swapped, 'b.tar')])).code).toBe(0);
  });

  it('a hard-link group change is reported on each name whose group changed', async () => {
    // bin/ash becomes a copy of bin/sh, and bin/sh2 a link to bin/sh
    const regrouped = variant((s) =>
      s.map((x) => {
        if (x.path === 'bin/ash') return e('bin/ash', { content: '#!shell\n', mode: 0o755 });
        if (x.path === 'bin/sh2') return { path: 'bin/sh2', type: 'link' as const, linkname: 'bin/sh' };
        return x;
      }),
    );
    const { code, result } = await diffJson(['diff', await tarFile(BASE, 'a.tar'), await tarFile(regrouped, 'b.tar')]);
    expect(code).toBe(1);
    expect(result.differ).toEqual([
      { path: 'bin/ash', type: 'file', fields: [{ field: 'hardlinks', a: ['bin/ash', 'bin/sh'], b: ['bin/ash'] }] },
      { path: 'bin/sh', type: 'file', fields: [{ field: 'hardlinks', a: ['bin/ash', 'bin/sh'], b: ['bin/sh', 'bin/sh2'] }] },
      { path: 'bin/sh2', type: 'file', fields: [{ field: 'hardlinks', a: ['bin/sh2'], b: ['bin/sh', 'bin/sh2'] }] },
    ]);
  });
});

describe('output', () => {
  const pairOfTars = async () => {
    const b = variant((s) => [...edit('etc/passwd', { mode: 0o600, uid: 7 })(s).filter((x) => x.path !== 'dev/fifo'), e('opt/')]);
    return [await tarFile(BASE, 'a.tar'), await tarFile(b, 'b.tar')] as const;
  };

  it('--json has the documented shape', async () => {
    const [a, b] = await pairOfTars();
    const { code, result } = await diffJson(['diff', a, b]);
    expect(code).toBe(1);
    expect(Object.keys(result).sort()).toEqual(['a', 'b', 'differ', 'equal', 'fieldCounts', 'ignored', 'notes', 'onlyInA', 'onlyInB', 'same'].sort());
    expect(result.a).toEqual({ input: a, kind: 'rootfs-tar', compression: 'none', entries: BASE.length });
    expect(result.equal).toBe(false);
    expect(result.onlyInA).toEqual([{ path: 'dev/fifo', type: 'fifo' }]);
    expect(result.onlyInB).toEqual([{ path: 'opt', type: 'dir' }]);
    expect(result.differ).toEqual([{ path: 'etc/passwd', type: 'file', fields: [{ field: 'mode', a: '0644', b: '0600' }, { field: 'uid', a: 0, b: 7 }] }]);
    expect(result.same).toBe(BASE.length - 2);
    expect(result.fieldCounts).toEqual({ mode: 1, uid: 1 });
  });

  it('--stat prints counts only, as text or JSON', async () => {
    const [a, b] = await pairOfTars();
    const text = await cli(['diff', a, b, '--stat']);
    expect(text.code).toBe(1);
    expect(text.stdout).toBe(`1 only in A, 1 only in B, 1 differ (mode 1, uid 1), ${BASE.length - 2} the same\n`);
    const json = await cli(['diff', a, b, '--stat', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ onlyInA: 1, onlyInB: 1, differ: 1, same: BASE.length - 2, fields: { mode: 1, uid: 1 }, equal: false });
  });

  it('text reads like diff, coloured only on a terminal without NO_COLOR', async () => {
    const [a, b] = await pairOfTars();
    const plain = await cli(['diff', a, b]);
    expect(plain.stdout.split('\n')).toEqual([
      `--- A: ${a} (rootfs tar)`,
      `+++ B: ${b} (rootfs tar)`,
      '- dev/fifo',
      '~ etc/passwd  mode 0644 → 0600, uid 0 → 7',
      '+ opt/',
      `1 only in A, 1 only in B, 1 differ (mode 1, uid 1), ${BASE.length - 2} the same`,
      '',
    ]);
    expect(plain.stdout).not.toContain('\x1b[');
    const tty = await cli(['diff', a, b], { tty: true });
    expect(tty.stdout).toContain('\x1b[31m- dev/fifo\x1b[0m');
    expect(tty.stdout).toContain('\x1b[32m+ opt/\x1b[0m');
    const noColor = await cli(['diff', a, b], { tty: true, env: { NO_COLOR: '1' } });
    expect(noColor.stdout).toBe(plain.stdout);
  });

  it('--ignore drops fields (comma lists, repeated); an unknown field is a usage error', async () => {
    const b = await tarFile(variant(edit('etc/passwd', { mtime: T0 + 1, uid: 3, gid: 4 })), 'b.tar');
    const a = await tarFile(BASE, 'a.tar');
    expect((await cli(['diff', a, b, '--ignore', 'mtime,uid'])).code).toBe(1);
    expect((await cli(['diff', a, b, '--ignore', 'mtime,uid', '--ignore', 'gid'])).code).toBe(0);
    const bad = await cli(['diff', a, b, '--ignore', 'colour']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^layerfold: --ignore colour: not a field; fields are type, mode/);
  });

  it('--order also compares the order of entries', async () => {
    const reordered = [...BASE.filter((x) => x.path !== 'etc/passwd'), BASE.find((x) => x.path === 'etc/passwd')!];
    const a = await tarFile(BASE, 'a.tar');
    const b = await tarFile(reordered, 'b.tar');
    expect((await cli(['diff', a, b])).code).toBe(0);
    const { code, result } = await diffJson(['diff', a, b, '--order']);
    expect(code).toBe(1);
    const at = BASE.findIndex((x) => x.path === 'etc/passwd');
    expect(result.order).toEqual({ index: at, a: 'etc/passwd', b: BASE[at + 1]!.path.replace(/\/$/, '') });
    expect(result.differ).toEqual([]);
  });
});

describe('--bytes', () => {
  const bytesJson = async (a: string, b: string, extra: string[] = []) => {
    const r = await cli(['diff', '--bytes', a, b, '--json', ...extra]);
    return { code: r.code, result: JSON.parse(r.stdout) as { equal: boolean; difference?: Record<string, unknown> } };
  };

  it('equal archives exit 0 (compressed ones compared decompressed)', async () => {
    const tar = await layerTar(BASE);
    const a = writeTemp(tar, 'a.tar');
    expect((await cli(['diff', '--bytes', a, writeTemp(gzipSync(tar), 'b.tar.gz')])).code).toBe(0);
  });

  it('names the entry and header field of the first difference, with both values', async () => {
    const a = await tarFile(BASE, 'a.tar');
    const b = await tarFile(variant(edit('etc/passwd', { mtime: T0 + 1, uid: 5 })), 'b.tar');
    const { code, result } = await bytesJson(a, b);
    expect(code).toBe(1);
    // uid (offset 108) comes before mtime (136) in the header
    expect(result.difference).toMatchObject({ entry: 'etc/passwd', region: 'header', field: 'uid' });
    expect(result.difference!.a).toMatch(/^0 /);
    expect(result.difference!.b).toMatch(/^5 /);
    const text = await cli(['diff', '--bytes', a, await tarFile(variant(edit('etc/passwd', { mtime: T0 + 1 })), 'c.tar')]);
    expect(text.stdout).toContain('entry "etc/passwd", header field mtime');
    expect(text.stdout).toContain(`- A: ${T0} (`);
    expect(text.stdout).toContain(`+ B: ${T0 + 1} (`);
  });

  it('reports the type flag, not the checksum it changes', async () => {
    const a = await tarFile([e('f'), { path: 'l', type: 'symlink', linkname: 'f', mode: 0o644 }], 'a.tar');
    const b = await tarFile([e('f'), { path: 'l', type: 'link', linkname: 'f', mode: 0o644 }], 'b.tar');
    const { result } = await bytesJson(a, b);
    expect(result.difference).toMatchObject({ entry: 'l', region: 'header', field: 'typeflag', a: '"2"', b: '"1"' });
  });

  it('names PAX records, content and length differences', async () => {
    const a = await tarFile(BASE, 'a.tar');
    const xattr = await bytesJson(a, await tarFile(variant(edit('usr/bin/ping', { pax: { 'SCHILY.xattr.security.capability': 'cap-v3' } })), 'b.tar'));
    expect(xattr.result.difference).toMatchObject({ entry: 'usr/bin/ping', region: 'pax', field: 'SCHILY.xattr.security.capability', a: '"cap-v2"', b: '"cap-v3"' });
    const content = await bytesJson(a, await tarFile(variant(edit('etc/passwd', { content: 'root:x:0:0::/root:/bin/zz\n' })), 'c.tar'));
    expect(content.result.difference).toMatchObject({ entry: 'etc/passwd', region: 'data', field: 'content', detail: 'byte 23 of its data' });
    const longer = await bytesJson(a, await tarFile([...BASE, e('zz', { content: 'z' })], 'd.tar'));
    expect(longer.result.difference).toMatchObject({ region: 'end', field: 'end-of-archive' });
  });

  it('an image side is exported first: a real pair with implied directories differs in their mtime', async () => {
    const dir = 'fixtures/conformance/capability';
    const created = readFileSync(join(dir, 'created.txt'), 'utf8').trim();
    const { code, result } = await bytesJson(join(dir, 'image.tar'), join(dir, 'export.tar'), [`--docker-init=${created}`]);
    expect(code).toBe(1);
    expect(await impliedDirs(join(dir, 'image.tar'))).toContain('usr');
    expect(result.difference).toMatchObject({ entry: 'usr/', region: 'header', field: 'mtime' });
    const equal = 'fixtures/conformance/hardlink-group-materialize';
    const same = await cli(['diff', '--bytes', join(equal, 'image.tar'), join(equal, 'export.tar'), `--docker-init=${readFileSync(join(equal, 'created.txt'), 'utf8').trim()}`]);
    expect(same.code).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Kinds of side

const ROOT = process.getuid?.() === 0;

function extract(tar: string): string {
  const dir = join(scratchDir(), 'rootfs');
  mkdirSync(dir);
  // security.capability too: a directory side reads it, as docker export does
  execFileSync('tar', ['-C', dir, '--same-owner', '--numeric-owner', '--xattrs', '--xattrs-include=security.capability', '-xf', tar]);
  return dir;
}

describe('sides', () => {
  it.skipIf(!ROOT || !hasCommand('tar'))('a directory extracted by GNU tar equals its tar (xattrs compared through @napi-rs/xattr)', async () => {
    for (const name of ['conformance/natural-docker26', 'conformance/special-nodes', 'conformance/hardlink-group-materialize', 'conformance/perms-ids']) {
      const tar = join('fixtures', name, 'export.tar');
      const dir = extract(tar);
      const r = await cli(['diff', tar, dir]);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it.skipIf(!ROOT || !hasCommand('tar'))('a directory side: differences and hard-link groups are read from lstat', async () => {
    const tar = await tarFile(BASE, 'a.tar');
    const dir = extract(tar);
    execFileSync('chmod', ['0600', join(dir, 'etc/passwd')]);
    execFileSync('ln', ['-f', join(dir, 'bin/sh'), join(dir, 'bin/sh2')]);
    writeFileSync(join(dir, 'etc/new'), 'n');
    const { code, result } = await diffJson(['diff', tar, dir, '--ignore', 'mtime']);
    expect(code).toBe(1);
    expect(result.onlyInB).toEqual([{ path: 'etc/new', type: 'file' }]);
    expect(result.differ.map((d) => [d.path, d.fields.map((f) => f.field)])).toEqual([
      ['bin/ash', ['hardlinks']],
      ['bin/sh', ['hardlinks']],
      ['bin/sh2', ['hardlinks']],
      ['etc/passwd', ['mode']],
      // the kernel refused GNU tar's setxattr of the 6-byte 'cap-v2' (not a capability): DIR has none
      ['usr/bin/ping', ['xattrs']],
    ]);
    expect(result.b.kind).toBe('directory');
  });

  it('gzip and zstd sides are recognised by magic bytes, whatever their names', async () => {
    const pair = 'fixtures/conformance/natural-docker26';
    const tar = readFileSync(join(pair, 'export.tar'));
    for (const [kind, bytes] of [['gzip', gzipSync(tar)], ['zstd', zstdCompress(tar)]] as const) {
      const side = writeTemp(bytes, 'export.bin');
      const { code, result } = await diffJson(['diff', join(pair, 'image.tar'), side, '--ignore-init']);
      expect(code).toBe(0);
      expect(result.b).toMatchObject({ kind: 'rootfs-tar', compression: kind });
    }
    // a compressed image archive is still an image
    const image = writeTemp(gzipSync(readFileSync(join(pair, 'image.tar'))), 'image.bin');
    const { code, result } = await diffJson(['diff', image, join(pair, 'export.tar'), '--ignore-init']);
    expect(code).toBe(0);
    expect(result.a).toMatchObject({ kind: 'image', compression: 'gzip' });
  });

  it.skipIf(!hasCommand('tar'))('an OCI layout directory and a transport reference are images; - reads stdin', async () => {
    const pair = 'fixtures/conformance/natural-docker20';
    const layout = join(scratchDir(), 'layout');
    mkdirSync(layout);
    execFileSync('tar', ['-C', layout, '-xf', join(pair, 'image-oci-zstd.tar')]);
    const { code, result } = await diffJson(['diff', layout, join(pair, 'export.tar'), '--ignore-init']);
    expect(result.a.kind).toBe('image');
    expect(code).toBe(0);
    const r = await cli(['diff', '-', join(pair, 'image.tar'), '--ignore-init'], { stdin: readFileSync(join(pair, 'export.tar')) });
    expect(r.code).toBe(0);
    const transport = await diffJson(['diff', `oci-archive:${join(pair, 'image-oci-gzip.tar')}`, join(pair, 'export.tar'), '--ignore-init']);
    expect([transport.code, transport.result.a.kind]).toEqual([0, 'image']);
  });

  it('errors exit 2 with one line: a missing file, a file that is not a tar, an image docker refuses', async () => {
    const missing = await cli(['diff', 'no/such.tar', 'fixtures/conformance/natural-docker26/export.tar']);
    expect(missing).toEqual({ code: 2, stdout: '', stderr: 'layerfold: no/such.tar: no such file or directory\n' });
    const junk = await cli(['diff', writeTemp(Buffer.alloc(1024, 'x'), 'junk.tar'), 'fixtures/conformance/natural-docker26/export.tar']);
    expect(junk.code).toBe(2);
    expect(junk.stderr).toMatch(/^layerfold: .*junk\.tar: invalid tar header at offset 0: .*\n$/);
    const refused = await cli(['diff', 'fixtures/docker/duplicate-path/image.tar', 'fixtures/conformance/natural-docker26/export.tar']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    // docker's reason, fixtures/docker/duplicate-path/load-error.txt
    expect(refused.stderr).toContain(`("${readFileSync('fixtures/docker/duplicate-path/load-error.txt', 'utf8').trim()}")`);
    expect((await cli(['diff', '--bytes', scratchDir(), 'fixtures/conformance/natural-docker26/export.tar'])).code).toBe(2);
  });

  it('--docker-init takes the image\'s VOLUMEs as export --docker-init does: an image docker create refuses is refused (volume-over-file)', async () => {
    const image = 'fixtures/docker/volume-over-file/image.tar';
    const other = 'fixtures/conformance/natural-docker26/export.tar';
    const exported = await cli(['export', image, '--docker-init=2024-01-01T00:00:00Z', '-o', join(scratchDir(), 'x.tar')]);
    const diffed = await cli(['diff', image, other, '--docker-init=2024-01-01T00:00:00Z']);
    expect(exported.code).toBe(2);
    expect(exported.stderr).toMatch(/cannot mount volume over existing file; docker create fails/);
    // the same reason, named by its side
    expect(diffed).toEqual({ code: 2, stdout: '', stderr: exported.stderr.replace('layerfold: ', `layerfold: ${image}: `) });
  });
});
