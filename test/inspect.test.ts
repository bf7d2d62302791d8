/**
 * inspect, ls and why on the real docker pairs (fixtures/conformance, fixtures/docker).
 *
 * Every expected value is computed here independently of layerfold:
 * - the layers are read from image.tar with node-tar (entry counts, file bytes per layer);
 * - what survives is read from docker's own export.tar (node-tar), each surviving file attributed to
 *   the uppermost layer holding an entry at its path — for a non-directory that is the layer that made
 *   it, since any later entry at the path would have replaced it;
 * - `ls --long` is compared with GNU tar's listing of docker's export.tar;
 * - `why`'s model is checked against the merged tree for every path any layer mentions.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { describe, expect, it } from 'vitest';
import { run, type CliIO } from '../src/cli/main.js';
import { pairHistory } from '../src/inspect/history.js';
import { inspectImage } from '../src/inspect/inspect.js';
import { displayName, formatListLine, modeString } from '../src/inspect/render.js';
import { explainPath, explainTreePaths, type WhyStepKind } from '../src/inspect/why.js';
import { isLayerfoldError } from '../src/index.js';
import { flattenImage } from '../src/flatten.js';
import { parseTime } from '../src/time.js';
import { listImage } from '../src/inspect/ls.js';
import { PassThrough } from 'node:stream';
import { hasCommand } from './support/read.js';
import { dockerPairs, type DockerPair } from './support/pairs.js';
import { e, imageArchive, layerTar, writeTemp } from './support/build.js';

const pairs = dockerPairs;
type Pair = DockerPair;

const fixture = (name: string): Pair => pairs().find((p) => p.name === name)!;

interface Member {
  path: string;
  type: string;
  size: number;
  linkpath: string;
  data: Buffer;
}

/** All entries of a tar, with data, read by node-tar. */
async function readTar(data: Buffer): Promise<Member[]> {
  const out: Member[] = [];
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => out.push({ path: entry.path, type: entry.type, size: entry.size ?? 0, linkpath: entry.linkpath ?? '', data: Buffer.concat(chunks) }));
      },
    });
    parser.on('error', reject);
    parser.on('close', () => resolve());
    parser.end(data);
  });
  return out;
}

/**
 * Go's filepath.Clean under the root, enough for these fixtures. node-tar decodes names as UTF-8, a
 * raw header and a PAX path differently when the bytes are not UTF-8: runs of non-ASCII become one
 * '?' on both sides so layer entries and export entries still meet.
 */
function clean(name: string): string {
  return cleanParts(name.replace(/[^\x00-\x7f]+/g, '?'));
}

function cleanParts(name: string): string {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

const layerCache = new Map<string, ReturnType<typeof readLayers>>();
const layersOf = (image: string) => {
  if (!layerCache.has(image)) layerCache.set(image, readLayers(image));
  return layerCache.get(image)!;
};

/**
 * Pairs layerfold refuses (names or links that leave the root) are conformance.test.ts's business:
 * there is no tree to inspect.
 */
const refusedCache = new Map<string, Promise<boolean>>();
function refused(image: string): Promise<boolean> {
  if (!refusedCache.has(image)) refusedCache.set(image, isRefused(image));
  return refusedCache.get(image)!;
}

async function isRefused(image: string): Promise<boolean> {
  try {
    (await flattenImage(image)).close();
    return false;
  } catch (e) {
    if (isLayerfoldError(e)) return true;
    throw e;
  }
}

/** The layer tars of a `docker save` archive (manifest.json), bottom first, with their config. */
async function readLayers(image: string): Promise<{ layers: Array<Member[] & { data: Buffer }>; config: { history?: Array<{ created_by?: string; empty_layer?: boolean }> } }> {
  const members = await readTar(readFileSync(image));
  const byPath = new Map(members.map((m) => [clean(m.path), m]));
  const member = (p: string): Buffer => {
    let m = byPath.get(clean(p))!;
    if (m.type === 'SymbolicLink') m = byPath.get(clean(join(p, '..', m.linkpath)))!;
    return m.data;
  };
  const manifest = JSON.parse(member('manifest.json').toString()) as Array<{ Config: string; Layers: string[] }>;
  const layers = await Promise.all(manifest[0]!.Layers.map(async (l) => Object.assign(await readTar(member(l)), { data: member(l) })));
  return { layers, config: JSON.parse(member(manifest[0]!.Config).toString()) };
}

/**
 * A tar's entries as GNU tar lists them (C locale: every non-ASCII byte as an octal escape, the
 * same way for a raw header name and a PAX path): type letter, size, clean path.
 */
function gnuEntries(data: Buffer): Array<{ type: string; size: number; path: string }> {
  const out = execFileSync('tar', ['--numeric-owner', '-tvf', '-'], { input: data, encoding: 'latin1', env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' }, maxBuffer: 1 << 28, stdio: ['pipe', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l !== '').map((line) => {
    const m = /^(\S)\S*\s+\S+\s+(\S+)\s+\S+\s+\S+\s(.*)$/.exec(line)!;
    let name = m[3]!;
    if (m[1] === 'l') name = name.slice(0, name.lastIndexOf(' -> '));
    if (m[1] === 'h') name = name.slice(0, name.lastIndexOf(' link to '));
    return { type: m[1]!, size: Number(m[2]!.includes(',') ? 0 : m[2]), path: cleanParts(name) };
  });
}

const isMarker = (path: string) => path.split('/').pop()!.startsWith('.wh.');

/** Paths `docker create` writes; docker's export shows its own files there, not the image's. */
const INIT_PATHS = ['.dockerenv', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'etc/mtab', 'dev/console'];

describe('inspect: per-layer bytes against node-tar and docker export', () => {
  // init-* and workdir-* images put files where `docker create` writes its own, so docker's
  // export cannot say which of the image's bytes survive there; every other pair can, but two whose
  // layers GNU tar (this test's reader) reads otherwise than Go: it lists `mode-typebits`'s regular
  // entry `dirlike/` as a directory, and refuses `uid-2pow32`'s uid past 32 bits.
  const gnuReadsOtherwise = new Set(['mode-typebits', 'uid-2pow32']);
  // and one where an entry lands elsewhere than its name says (written through a same-layer symlink)
  const moved = new Set(['same-layer-symlink-parent']);
  const usable = pairs().filter((p) => !/^(init-|workdir-)/.test(p.name) && !gnuReadsOtherwise.has(p.name) && !moved.has(p.name));

  it.skipIf(!hasCommand('tar')).each(usable.map((p) => [p.name, p]))('%s', async (_name, pair) => {
    if (await refused(pair.image)) return;
    const { layers: layerTars } = await layersOf(pair.image);
    const layers = layerTars.map((l) => gnuEntries(l.data));
    const exported = gnuEntries(readFileSync(pair.exportTar)).filter((m) => !INIT_PATHS.includes(m.path));
    const topLayerOf = (path: string) => {
      for (let i = layers.length - 1; i >= 0; i--) if (layers[i]!.some((m) => m.path === path)) return i;
      return -1;
    };
    const surviving = new Array<number>(layers.length).fill(0);
    for (const m of exported) if (m.type === '-') surviving[topLayerOf(m.path)]! += m.size;
    const report = await inspectImage(pair.image);
    expect(report.layers).toHaveLength(layers.length);
    layers.forEach((entries, i) => {
      const own = entries.filter((m) => m.path !== '');
      const fileBytes = own.filter((m) => m.type === '-' && !isMarker(m.path)).reduce((a, m) => a + m.size, 0);
      const layer = report.layers[i]!;
      expect({ i, entries: layer.entries, fileBytes: layer.fileBytes, surviving: layer.survivingBytes, wasted: layer.wastedBytes }).toEqual({
        i,
        entries: own.length,
        fileBytes,
        surviving: surviving[i],
        wasted: fileBytes - surviving[i]!,
      });
    });
    const all = report.layers.reduce((a, l) => a + l.fileBytes, 0);
    expect(report.totals.fileBytes).toBe(all);
    expect(report.totals.efficiency).toBeCloseTo(all === 0 ? 1 : surviving.reduce((a, b) => a + b, 0) / all, 12);
  });

  it('finds wasted bytes where layers overwrite and delete (natural-docker26)', async () => {
    const report = await inspectImage(fixture('natural-docker26').image);
    // layer 1: a.so ("lib\n", hard-linked as a.so.1) and README ("doc\n"); layer 2 rewrites a.so.1
    // ("patched\n") and removes share/; layer 3 replaces lib/ wholesale (opaque) with b.so ("v2\n").
    expect(report.layers.map((l) => [l.fileBytes, l.survivingBytes, l.wastedBytes])).toEqual([
      [report.layers[0]!.fileBytes, report.layers[0]!.fileBytes, 0],
      [8, 0, 8],
      [8, 0, 8],
      [3, 3, 0],
    ]);
    expect(report.layers[3]!.opaqueMarkers).toBe(1);
  });
});

describe('inspect: history pairing and layout facts', () => {
  it('pairs history with layers skipping empty_layer entries (natural-docker26)', async () => {
    const pair = fixture('natural-docker26');
    const { config } = await layersOf(pair.image);
    const history = config.history!;
    const made = history.filter((h) => !h.empty_layer);
    const report = await inspectImage(pair.image);
    expect(history.some((h) => h.empty_layer)).toBe(true);
    expect(report.layers.map((l) => l.createdBy ?? null)).toEqual(made.map((h) => h.created_by ?? 'Imported from -'));
    expect(report.history.filter((s) => s.layer === null).map((s) => s.createdBy)).toEqual(history.filter((h) => h.empty_layer).map((h) => h.created_by));
    expect(report.config.workingDir).toBe('/opt/tool');
    expect(report.config.env).toContain('MODE=prod');
  });

  it('stops pairing where history or layers run out', () => {
    const paired = pairHistory([{ created_by: 'a' }, { created_by: 'env', empty_layer: true }, { created_by: 'b' }, { created_by: 'c' }], 2);
    expect(paired.byLayer.map((s) => s?.createdBy)).toEqual(['a', 'b']);
    expect(paired.steps.map((s) => s.layer)).toEqual([0, null, 1, null]);
    expect(pairHistory([], 2).byLayer).toEqual([undefined, undefined]);
  });

  it('shows compressed blobs beside their diff_id (OCI gzip and zstd)', async () => {
    for (const [file, kind] of [['image-oci-gzip.tar', 'gzip'], ['image-oci-zstd.tar', 'zstd']] as const) {
      const report = await inspectImage(join('fixtures/conformance/natural-docker20', file));
      const plain = await inspectImage('fixtures/conformance/natural-docker20/image.tar');
      expect(report.layout).toBe('oci-archive');
      for (const [i, l] of report.layers.entries()) {
        expect(l.compression).toBe(kind);
        expect(l.blobDigest).toMatch(/^sha256:/);
        expect(l.blobDigest).not.toBe(l.diffId);
        expect(l.storedSize).toBeLessThan(l.size);
        expect([l.diffId, l.size, l.survivingBytes, l.entries]).toEqual([plain.layers[i]!.diffId, plain.layers[i]!.size, plain.layers[i]!.survivingBytes, plain.layers[i]!.entries]);
      }
    }
  });
});

function captureIO(tty = false): { io: CliIO; out: () => Buffer; err: () => string } {
  const out: Buffer[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(Buffer.from(c)));
  const stderr = new PassThrough();
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  Object.assign(stderr, { isTTY: tty });
  return { io: { stdin: new PassThrough(), stdout, stderr, env: {} }, out: () => Buffer.concat(out), err: () => err.join('') };
}

const squash = (line: string) => line.trim().split(/\s+/).join(' ');

describe('ls', () => {
  const gnu = hasCommand('tar');
  const listing = (file: string) =>
    execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' }, maxBuffer: 1 << 28 })
      .split('\n')
      .filter((l) => l !== '');

  it.skipIf(!gnu).each(pairs().map((p) => [p.name, p]))('ls --long %s matches GNU tar -tv of docker export', async (_n, pair) => {
    if (await refused(pair.image)) return;
    const ours: string[] = [];
    const implied = new Set<string>();
    await listImage(pair.image, { dockerInit: parseTime(pair.created, 'created') }, (entry, layerCount) => {
      ours.push(formatListLine(entry, layerCount, true));
      if (entry.implied) implied.add(displayName(entry.name));
    });
    const docker = listing(pair.exportTar);
    // Implied directories carry a stand-in mtime (README: Implied directories): compare without it.
    const maskTime = (fields: string[]) => (implied.has(fields.slice(5).join(' ')) ? [...fields.slice(0, 3), ...fields.slice(5)] : fields);
    expect(ours.map((l) => maskTime(squash(l).split(' ').slice(1)).join(' '))).toEqual(docker.map((l) => maskTime(squash(l).split(' ')).join(' ')));
  });

  it('names the layer each entry comes from', async () => {
    const pair = fixture('natural-docker26');
    const { layers } = await layersOf(pair.image);
    const cap = captureIO();
    expect(await run(['ls', pair.image, '--json'], cap.io)).toBe(0);
    const entries = JSON.parse(cap.out().toString()) as Array<{ name: string; type: string; layer: number }>;
    for (const e of entries.filter((x) => x.type !== 'dir')) {
      let top = -1;
      for (let i = layers.length - 1; i >= 0 && top < 0; i--) if (layers[i]!.some((m) => clean(m.path) === e.name)) top = i;
      expect([e.name, e.layer]).toEqual([e.name, top]);
    }
    expect(entries.find((e) => e.name === 'opt/tool/lib/b.so')?.layer).toBe(3);
  });

  it('limits the listing to PATH subtrees, in export order', async () => {
    const pair = fixture('natural-docker26');
    const cap = captureIO();
    expect(await run(['ls', pair.image, '/opt/tool', 'var/spool'], cap.io)).toBe(0);
    const names = cap.out().toString().trim().split('\n').map((l) => l.trim().split(/\s+/)[1]);
    expect(names).toEqual(['opt/tool/', 'opt/tool/current', 'opt/tool/lib/', 'opt/tool/lib/b.so', 'var/spool/', 'var/spool/q/']);
    const missing = captureIO();
    expect(await run(['ls', pair.image, 'no/such'], missing.io)).toBe(2);
    expect(missing.err()).toMatch(/"no\/such": no such path in the image/);
  });

  it('shows modes and odd names as tar does', () => {
    expect(modeString('file', 0o4755)).toBe('-rwsr-xr-x');
    expect(modeString('dir', 0o1777)).toBe('drwxrwxrwt');
    expect(modeString('file', 0o2644)).toBe('-rw-r-Sr--');
    expect(displayName('caf\xc3\xa9')).toBe('café');
    expect(displayName('\xff\xfe')).toBe('\\377\\376');
    expect(displayName('a\nb\\c')).toBe('a\\nb\\\\c');
  });
});

describe('why', () => {
  const kinds = async (pair: string, path: string) => (await explainPath(fixture(pair).image, path)).steps.map((s) => [s.layer, s.kind] as [number, WhyStepKind]);

  it('follows a whiteout of an ancestor (whiteout-nested)', async () => {
    expect(await kinds('whiteout-nested', 'a/b/c/d')).toEqual([[1, 'added'], [2, 'whiteout']]);
    const r = await explainPath(fixture('whiteout-nested').image, '/a/b/c/d');
    expect(r.steps[1]!.entry).toMatch(/a\/b\/\.wh\.c$/);
    expect(r.steps[1]!.other).toBe('a/b/c');
    expect(r.final).toBeNull();
    expect((await explainPath(fixture('whiteout-nested').image, 'a/b/e')).final?.type).toBe('file');
  });

  it('follows an opaque directory (opaque-toplevel)', async () => {
    expect(await kinds('opaque-toplevel', 'srv/y/z')).toEqual([[1, 'added'], [2, 'opaque']]);
    const newFile = await explainPath(fixture('opaque-toplevel').image, 'srv/new');
    expect(newFile.steps.map((s) => s.kind)).toEqual(['added']);
    expect(newFile.final?.layer).toBe(2);
  });

  it('follows type swaps and what goes with a replaced directory (type-swaps)', async () => {
    expect(await kinds('type-swaps', 'd2p')).toEqual([[1, 'added'], [2, 'replaced']]);
    expect(await kinds('type-swaps', 'd2p/in')).toEqual([[1, 'added'], [2, 'removed-with-ancestor']]);
    const f2l = await explainPath(fixture('type-swaps').image, 'f2l');
    expect(f2l.steps.map((s) => [s.kind, s.before?.type, s.after?.type])).toEqual([['added', undefined, 'file'], ['replaced', 'file', 'symlink']]);
    expect(f2l.final?.linkname).toBe('etc');
  });

  it('follows hard links (hardlink-modified-later, natural-docker26)', async () => {
    expect(await kinds('hardlink-modified-later', 'k1')).toEqual([[1, 'added'], [1, 'link-added']]);
    expect(await kinds('hardlink-modified-later', 'k2')).toEqual([[1, 'hardlinked'], [2, 'changed']]);
    const k2 = await explainPath(fixture('hardlink-modified-later').image, 'k2');
    expect(k2.steps[0]!.other).toBe('k1');
    expect(k2.steps[1]!.changed).toEqual(['size']);
    const so = await explainPath(fixture('natural-docker26').image, '/opt/tool/lib/a.so.1');
    expect(so.steps.map((s) => [s.layer, s.kind])).toEqual([[1, 'hardlinked'], [2, 'changed'], [3, 'opaque']]);
    expect(so.steps[0]!.createdBy).toMatch(/ln \/opt\/tool\/lib\/a.so \/opt\/tool\/lib\/a.so.1/);
    expect(so.steps[0]!.diffId).toMatch(/^sha256:e0c8dc38/);
  });

  it('a name made again over a whiteout in the same layer is no longer a whiteout: a hardlink to it joins it', async () => {
    const image = writeTemp(await imageArchive([await layerTar([e('h'), e('a')]), await layerTar([e('.wh.a'), e('a', { content: 'new' }), { path: 'h', type: 'link', linkname: 'a' }])]));
    const report = await explainPath(image, 'h');
    expect(report.steps.map((s) => [s.layer, s.kind])).toEqual([[0, 'added'], [1, 'hardlinked']]);
    expect(report.final?.size).toBe(3);
  });

  it('follows a path deleted and made again (whiteout-then-recreate)', async () => {
    expect(await kinds('whiteout-then-recreate', 'cfg')).toEqual([[1, 'added'], [2, 'whiteout'], [3, 'added']]);
    expect(await kinds('whiteout-then-recreate', 'cfg/old')).toEqual([[1, 'added'], [2, 'whiteout']]);
  });

  // Every path any layer names (and what its whiteouts name), every pair, no exception: the state the
  // last step leaves is the merged tree's final state, so no change to a path goes unreported.
  it.each(pairs().map((p) => [p.name, p]))("the steps end in the merged tree's final state for every path (%s)", async (_n, pair) => {
    if (await refused(pair.image)) return;
    // Every name as the layers store it (raw bytes, so names that are not UTF-8 too), cleaned here.
    const names: string[] = [];
    (await flattenImage(pair.image, { onEntry: (_layer, entry) => names.push(entry.name) })).close();
    const paths = new Set<string>();
    for (const name of names) {
      const p = cleanParts(name);
      if (p === '') continue;
      const parts = p.split('/');
      for (let i = 1; i <= parts.length; i++) paths.add(parts.slice(0, i).join('/'));
      const base = parts.pop()!;
      if (base.startsWith('.wh.') && base !== '.wh..wh..opq') paths.add([...parts, base.slice(4)].join('/'));
    }
    const reports = await explainTreePaths(pair.image, [...paths]);
    const ends = reports.map((r) => ({ path: r.path, last: r.steps.length === 0 ? null : (r.steps[r.steps.length - 1]!.after ?? null), final: r.final }));
    expect(ends.filter((x) => JSON.stringify(x.last) !== JSON.stringify(x.final))).toEqual([]);
  });

  it('a layer writing through its own symlink: the steps are where the link leads (rule 4b)', async () => {
    const through = fixture('same-layer-symlink-parent').image;
    expect(await kinds('same-layer-symlink-parent', 'real/new')).toEqual([[1, 'added']]);
    expect(await kinds('same-layer-symlink-parent', 'real/new2')).toEqual([[1, 'added']]);
    const viaLink = await explainPath(through, 'lnk/new');
    expect([viaLink.steps, viaLink.final]).toEqual([[], null]);
    const h = await explainPath(fixture('hardlink-via-symlink').image, 'h');
    expect(h.steps.map((s) => [s.layer, s.kind, s.other])).toEqual([[1, 'hardlinked', 'real/file']]);
    expect(await kinds('hardlink-via-symlink', 'real/file')).toEqual([[1, 'added'], [1, 'link-added']]);
  });

  it('says when no layer touches the path', async () => {
    const cap = captureIO();
    expect(await run(['why', fixture('type-swaps').image, '/nowhere'], cap.io)).toBe(0);
    expect(cap.out().toString()).toBe('nowhere\n  no layer touches this path\nfinal: not in the rootfs\n');
  });
});
