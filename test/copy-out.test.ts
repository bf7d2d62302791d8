/**
 * `cat` and `cp` (src/write/copy-out.ts, tree/resolve.ts) against docker's exports: every regular
 * file `cat` gives equals its bytes in docker's export.tar; `cp` of every top-level directory equals
 * that subtree of docker's export unpacked by GNU tar (lstat, not our reader); symlinked sources
 * (`/link`, `/link/`, `/link/.`, -L; to `/`, chained, dangling, climbing above the root, looping) do
 * what a real `docker cp` did, as recorded in fixtures/docker/cp-links/ by scripts/record-cp-links.js.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { catFile } from '../src/write/copy-out.js';
import { splitSource } from '../src/cli/cp-command.js';
import { dockerPairs, impliedDirs } from './support/pairs.js';
import { readWithNodeTar, type ReadBack } from './support/read.js';
import { gnuExtract, snapshot, type SnapEntry } from './support/dir-snapshot.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';
import { tarMembers, treeRows } from '../scripts/cp-rows.js';

const isRoot = process.geteuid?.() === 0;

async function catBytes(image: string, path: string, dockerInit?: number): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await catFile(image, path, out, dockerInit === undefined ? {} : { dockerInit });
  return Buffer.concat(chunks);
}

/** Each regular file's content in docker's export, a hardlink taking its target's. */
function filesOf(entries: ReadBack[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of entries) {
    if (entry.content !== undefined) files.set(entry.path, entry.content);
    else if (entry.type === 'Link' && files.has(entry.linkpath)) files.set(entry.path, files.get(entry.linkpath)!);
  }
  return files;
}

const utf8Name = (latin1: string) => Buffer.from(latin1, 'latin1').toString('utf8');
const roundTrips = (latin1: string) => Buffer.from(utf8Name(latin1), 'utf8').toString('latin1') === latin1;

describe('cat equals docker export', () => {
  for (const pair of dockerPairs().filter((p) => p.id.startsWith('conformance/') || /build-|hardlink|cap|sparse-(gnu|bsdtar)/.test(p.name))) {
    it(`${pair.id}: every regular file`, async () => {
      const files = filesOf(await readWithNodeTar(pair.exportTar));
      let checked = 0;
      for (const [path, content] of files) {
        if (!roundTrips(path)) continue; // a name typed on a command line is UTF-8
        expect((await catBytes(pair.image, `/${utf8Name(path)}`, pair.createdSecs)).toString('latin1'), path).toBe(content);
        checked++;
      }
      expect(checked).toBeGreaterThan(0);
    });
  }
});


describe.skipIf(!isRoot)('cp of every top-level directory equals GNU tar\'s unpacking of docker export', () => {
  for (const pair of dockerPairs().filter((p) => p.id.startsWith('conformance/') || /build-busybox/.test(p.name))) {
    it(pair.id, async () => {
      const ref = gnuExtract(pair.exportTar);
      const implied = new Set([...(await impliedDirs(pair.image, pair.createdSecs))].map((n) => n.slice(0, -1)));
      const tops = readdirSync(ref, { withFileTypes: true }).filter((d) => d.isDirectory() && /^[\x21-\x7e]+$/.test(d.name)).map((d) => d.name);
      expect(tops.length).toBeGreaterThan(0);
      for (const top of tops) {
        const dest = join(scratchDir(), 'out');
        mkdirSync(dest);
        const r = await cli(['cp', `${pair.image}:/${top}`, dest, `--docker-init=${pair.created}`]);
        expect(r.stderr, top).toBe('');
        expect(r.code).toBe(0);
        const strip = (x: SnapEntry) => (implied.has(`${top}/${x.name}`) ? { ...x, mtime: 0 } : x);
        expect(snapshot(join(dest, top), { capabilities: true }).map(strip), top).toEqual(snapshot(join(ref, top), { capabilities: true }).map(strip));
        expect(readdirSync(dest)).toEqual([top]);
      }
    });
  }
});

describe('cp destinations, as docker cp', () => {
  let image = '';
  beforeAll(async () => {
    image = writeTemp(
    await imageArchive([
      await layerTar([
        e('etc/', { type: 'dir', mode: 0o755 }),
        e('etc/passwd', { content: 'root:x:0:0::/root:/bin/sh\n' }),
        e('etc/conf/', { type: 'dir' }),
        e('etc/conf/a', { content: 'a\n' }),
        e('etc/link', { type: 'symlink', linkname: 'passwd' }),
        e('etc/abs', { type: 'symlink', linkname: '/etc/conf/a' }),
        e('etc/escape', { type: 'symlink', linkname: '../../../../host-secret' }),
        e('etc/dirlink', { type: 'symlink', linkname: 'conf' }),
      ]),
    ]),
    );
  });

  it('a file into an existing directory keeps its name; to a new name takes that name', async () => {
    const dir = scratchDir();
    expect((await cli(['cp', `${image}:/etc/passwd`, dir])).code).toBe(0);
    expect(readFileSync(join(dir, 'passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect((await cli(['cp', `${image}:/etc/conf/a`, join(dir, 'renamed')])).code).toBe(0);
    expect(readFileSync(join(dir, 'renamed'), 'utf8')).toBe('a\n');
    expect(readdirSync(dir).sort()).toEqual(['passwd', 'renamed']);
  });

  it('a directory to a new name is that directory; SRC/. into an existing one copies its contents', async () => {
    const dir = scratchDir();
    expect((await cli(['cp', `${image}:/etc/conf`, join(dir, 'c')])).code).toBe(0);
    expect(readdirSync(join(dir, 'c'))).toEqual(['a']);
    mkdirSync(join(dir, 'd'));
    writeFileSync(join(dir, 'd', 'mine'), 'x');
    expect((await cli(['cp', `${image}:/etc/conf/.`, join(dir, 'd')])).code).toBe(0);
    expect(readdirSync(join(dir, 'd')).sort()).toEqual(['a', 'mine']);
  });

  it('the last symlink is copied as a link, or followed with -L', async () => {
    const dir = scratchDir();
    expect((await cli(['cp', `${image}:/etc/link`, join(dir, 'l')])).code).toBe(0);
    expect(spawnSync('readlink', [join(dir, 'l')], { encoding: 'utf8' }).stdout.trim()).toBe('passwd');
    expect((await cli(['cp', '-L', `${image}:/etc/abs`, join(dir, 'f')])).code).toBe(0);
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('a\n');
    expect((await cli(['cp', `${image}:/etc/dirlink/a`, join(dir, 'through')])).code).toBe(0);
    expect(readFileSync(join(dir, 'through'), 'utf8')).toBe('a\n');
  });

  it('- writes a tar named from the source, as docker cp does', async () => {
    const r = await cli(['cp', `${image}:/etc/conf`, '-']);
    expect(r.code).toBe(0);
    expect((await readWithNodeTar(r.stdout)).map((x) => x.path)).toEqual(['conf/', 'conf/a']);
  });

  it('cat follows symlinks inside the image, absolute ones from its root', async () => {
    expect((await catBytes(image, '/etc/link')).toString()).toBe('root:x:0:0::/root:/bin/sh\n');
    expect((await catBytes(image, 'etc/abs')).toString()).toBe('a\n');
  });

  it('refuses, in one line, paths that are missing, directories for cat, or lead out of the image', async () => {
    expectOneLine(await cli(['cat', image, '/etc/escape']), /symlink on the path leads above the image's root/);
    // cp resolves as docker cp does, in the image's scope: ../../../../host-secret from /etc is /host-secret
    expectOneLine(await cli(['cp', `${image}:/etc/escape/x`, scratchDir()]), /no such file or directory in the image \("\/host-secret" is missing\)/);
    expectOneLine(await cli(['cp', '-L', `${image}:/etc/escape`, scratchDir()]), /no such file or directory in the image \("\/host-secret" is missing\)/);
    expectOneLine(await cli(['cat', image, '/etc']), /is a directory in the image/);
    expectOneLine(await cli(['cat', image, '/etc/nope']), /no such file or directory in the image/);
    expectOneLine(await cli(['cat', image, '/etc/passwd/x']), /is not a directory in the image/);
    const dest = join(scratchDir(), 'missing', 'x');
    expectOneLine(await cli(['cp', `${image}:/etc/passwd`, dest]), /no such directory/);
    expect(existsSync(join(dest, '..'))).toBe(false);
  });

  it('splits IMAGE:/PATH at its last ":/" (references hold colons)', () => {
    expect(splitSource('docker://localhost:5000/app:1:/etc/passwd')).toEqual({ image: 'docker://localhost:5000/app:1', path: '/etc/passwd' });
    expect(splitSource('docker-daemon:app:latest:/')).toEqual({ image: 'docker-daemon:app:latest', path: '/' });
    expect(() => splitSource('image.tar')).toThrow(/IMAGE:\/PATH/);
  });
});

/** One `docker cp` run, as scripts/record-cp-links.js recorded it. */
interface CpRecord {
  command: string;
  path: string;
  follow: boolean;
  dest: '-' | 'out' | 'ex';
  code: number;
  stderr: string;
  /** DEST `-`: the tar's members, name|type|link; else the tree under DEST's parent, path|f/d/l|link. */
  written: string[];
}

describe.each(['fixtures/docker/cp-links', 'fixtures/docker/cp-links-docker20'])('symlinked sources, as a real docker cp copies them (%s)', (dir) => {
  const { records } = JSON.parse(readFileSync(join(dir, 'recorded.json'), 'utf8')) as { records: CpRecord[] };
  const created = readFileSync(join(dir, 'created.txt'), 'utf8').trim();
  const image = join(dir, 'image.tar');

  /**
   * docker's client refuses, part way and with exit 1, to unpack a link whose target leads out of the
   * directory it unpacks into ("invalid symlink"); layerfold writes links as the image has them (as
   * extract does: a link's target is text, never followed while writing). Expected there: the tar
   * docker gave for DEST `-`, laid out as docker lays it out under DEST.
   */
  function unpackedAs(record: CpRecord): string[] {
    const tarred = records.find((r) => r.path === record.path && r.follow === record.follow && r.dest === '-')!;
    const type = { directory: 'd', file: 'f', symlink: 'l' } as Record<string, string>;
    const rows = tarred.written.map((m) => {
      const [name, kind, link] = m.split('|') as [string, string, string];
      const clean = name.replace(/\/$/, '');
      const rest = clean.includes('/') ? clean.slice(clean.indexOf('/')) : '';
      const top = record.dest === 'out' ? 'out' : clean.startsWith('.') ? 'ex' : `ex/${clean.split('/')[0]}`;
      return `${top}${rest}|${type[kind]}|${link}`;
    });
    return [...new Set([...(record.dest === 'ex' ? ['ex|d|'] : []), ...rows])].sort();
  }

  it(`records every form: /link, /link/, /link/., -L, to each kind of DEST (${readFileSync(join(dir, 'docker-version.txt'), 'utf8').trim()})`, () => {
    expect(records.length).toBeGreaterThanOrEqual(90);
    expect(records.filter((r) => r.code !== 0).length).toBeGreaterThan(10);
  });

  it.each(records.map((r) => [r.command, r] as const))('%s', async (_command, record) => {
    const at = scratchDir();
    if (record.dest === 'ex') mkdirSync(join(at, 'ex'));
    const dest = record.dest === '-' ? '-' : join(at, record.dest);
    const r = await cli(['cp', ...(record.follow ? ['-L'] : []), `${image}:${record.path}`, dest, '--docker-init', created]);
    if (record.code !== 0 && !record.stderr.startsWith('invalid symlink')) {
      // docker: "Could not find the file", "not a directory", "too many levels of symbolic links"
      expectOneLine(r, /no such file or directory in the image|not a directory in the image|too many levels of symbolic links/);
      expect(treeRows(at)).toEqual(record.written);
      return;
    }
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    if (record.dest === '-') expect(await tarMembers(r.stdout)).toEqual(record.written);
    else if (record.code === 0) expect(treeRows(at).sort()).toEqual([...record.written].sort());
    else {
      expect(treeRows(at).sort()).toEqual(unpackedAs(record));
      for (const row of record.written) expect(treeRows(at)).toContain(row); // what docker wrote before it stopped
    }
  });
});
