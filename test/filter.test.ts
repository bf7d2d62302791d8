/**
 * `--include` / `--exclude` (src/tree/filter.ts) against docker's own exports: the filtered export
 * must be docker's export with exactly the entries the filter keeps (each with the same fields and
 * content), the directories above them, in docker's order — and GNU tar and bsdtar read it. The
 * expected side is computed here from docker's export.tar with hand-written predicates, not with
 * the filter's own matcher.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerPairs, impliedDirs } from './support/pairs.js';
import { readFileSync } from 'node:fs';
import { extract as tarExtract } from 'tar-stream';
import { hasCommand, listWith, readWithNodeTar, type ReadBack } from './support/read.js';
import { cli, expectOneLine } from './support/cli.js';
import { scratchDir } from './support/build.js';

type Pred = (path: string) => boolean;

/** Entries as tar-stream reads them (node-tar takes some of docker's PAX symlinks for directories). */
async function readTar(file: string): Promise<ReadBack[]> {
  const out: ReadBack[] = [];
  const ex = tarExtract({ filenameEncoding: 'latin1' } as never);
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const type = ({ file: 'File', directory: 'Directory', link: 'Link', symlink: 'SymbolicLink' } as Record<string, string>)[h.type] ?? h.type;
        const item: ReadBack = { path: h.name, type, mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0, mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000), linkpath: h.linkname ?? '' };
        if (type === 'File') item.content = Buffer.concat(chunks).toString('latin1');
        out.push(item);
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(readFileSync(file));
  await done;
  return out;
}

/** A name typed on a command line in a test: printable ASCII only. */
const typeable = (p: string) => /^[\x21-\x7e]+$/.test(p) && !p.startsWith('-') && !/[*?[\]\\]/.test(p);

const strip = (name: string) => name.replace(/\/$/, '');
const base = (path: string) => path.slice(path.lastIndexOf('/') + 1);
const ancestors = (path: string) => path.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'));
const selfOrAbove = (path: string, pred: Pred) => pred(path) || ancestors(path).some(pred);

/**
 * docker's export entries the filter keeps: excluded (self or above) never; kept when it or a
 * directory above it is included, or when it is a directory above a kept entry. A hardlink whose
 * target is not kept becomes the file carrying the data, and later links point at it.
 */
function expected(entries: ReadBack[], include: Pred | undefined, exclude: Pred): ReadBack[] {
  const paths = entries.map((e) => strip(e.path));
  const direct = new Set(paths.filter((p) => !selfOrAbove(p, exclude) && (include === undefined || selfOrAbove(p, include))));
  const keep = new Set(direct);
  for (const p of direct) for (const a of ancestors(p)) keep.add(a);
  const carrier = new Map<string, string>();
  const out: ReadBack[] = [];
  const byPath = new Map(entries.map((e) => [strip(e.path), e]));
  for (const entry of entries) {
    const p = strip(entry.path);
    if (!keep.has(p)) continue;
    if (entry.type === 'Link' && !keep.has(entry.linkpath)) {
      const first = carrier.get(entry.linkpath);
      if (first === undefined) {
        const target = byPath.get(entry.linkpath)!;
        carrier.set(entry.linkpath, p);
        out.push({ ...target, path: entry.path, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime });
      } else out.push({ ...entry, linkpath: first });
      continue;
    }
    out.push(entry);
  }
  return out;
}

interface Case {
  args: string[];
  include?: Pred;
  exclude: Pred;
}

/** Filters for one image, chosen from what its export holds. */
function casesFor(entries: ReadBack[]): Case[] {
  const paths = entries.map((e) => strip(e.path));
  const tops = [...new Set(paths.map((p) => p.split('/')[0]!))].filter(typeable);
  const deep = paths.find((p) => p.split('/').length >= 3 && typeable(p));
  const link = entries.find((e) => e.type === 'Link' && typeable(e.path) && typeable(e.linkpath));
  const cases: Case[] = [
    { args: ['--include', tops[0]!], include: (p) => p === tops[0], exclude: () => false },
    { args: ['--exclude', `/${tops[tops.length - 1]}/`], exclude: (p) => p === tops[tops.length - 1] },
    { args: ['--exclude', '*.so'], exclude: (p) => base(p).endsWith('.so') },
    { args: ['--include', 'etc/*', '--exclude', 'etc/h*'], include: (p) => /^etc\/[^/]+$/.test(p), exclude: (p) => /^etc\/h[^/]*$/.test(p) },
  ];
  if (deep) {
    const dir = deep.split('/').slice(0, 2).join('/');
    cases.push({ args: ['--include', `./${dir}`, '--exclude', `**/${base(deep)}`], include: (p) => p === dir, exclude: (p) => base(p) === base(deep) });
  }
  if (link) {
    // only the link's own name: its target's data must come with it
    cases.push({ args: ['--include', strip(link.path)], include: (p) => p === strip(link.path), exclude: () => false });
    cases.push({ args: ['--exclude', link.linkpath], exclude: (p) => p === link.linkpath });
  }
  return cases;
}

/** Fields compared (Docker 20.10 writes type bits into the mode field, and this project does not); the mtime of a directory docker made while unpacking is its load time, which no archive records. */
const fieldsOf = (implied: Set<string>) => (e: ReadBack) => ({ ...e, mode: e.mode & 0o7777, mtime: implied.has(e.path) ? 0 : e.mtime, content: e.content === undefined ? undefined : e.content.length });

describe('export --include / --exclude against docker export', () => {
  for (const pair of dockerPairs()) {
    it(`${pair.id}: each filter keeps exactly what it says, in docker order`, async () => {
      const docker = await readTar(pair.exportTar);
      const fields = fieldsOf(await impliedDirs(pair.image, pair.createdSecs));
      for (const c of casesFor(docker)) {
        const out = join(scratchDir(), 'part.tar');
        const r = await cli(['export', pair.image, `--docker-init=${pair.created}`, '-o', out, ...c.args]);
        const want = expected(docker, c.include, c.exclude);
        if (want.length === 0 && c.include !== undefined) continue;
        expect(r.stderr, c.args.join(' ')).toBe('');
        const got = await readTar(out);
        expect(got.map(fields), c.args.join(' ')).toEqual(want.map(fields));
        expect(got.map((g) => g.content), c.args.join(' ')).toEqual(want.map((w) => w.content));
      }
    });
  }
});

describe('filtered exports read back', () => {
  const pair = dockerPairs().find((p) => p.name === 'build-busybox-realistic') ?? dockerPairs()[0]!;
  for (const tool of ['tar', 'bsdtar'] as const) {
    it.skipIf(!hasCommand(tool))(`${tool} lists what node-tar lists`, async () => {
      const out = join(scratchDir(), 'part.tar');
      const r = await cli(['export', pair.image, '-o', out, '--include', 'bin', '--include', 'etc', '--exclude', 'etc/passwd']);
      expect(r.code).toBe(0);
      const names = (await readWithNodeTar(out)).map((e) => e.path);
      expect(names.length).toBeGreaterThan(0);
      expect(names).not.toContain('etc/passwd');
      expect(listWith(tool, out)).toEqual([...names, 'exit 0']);
    });
  }
});

describe('filter errors and other commands', () => {
  const pair = dockerPairs().find((p) => p.name === 'natural-docker26')!;
  it('a plain --include naming nothing is one line, exit 2, nothing written', async () => {
    const out = join(scratchDir(), 'part.tar');
    const r = await cli(['export', pair.image, '-o', out, '--include', 'no/such/dir']);
    expectOneLine(r, /--include "no\/such\/dir": no such path in the image/);
    expect(existsSync(out)).toBe(false);
  });

  it('ls takes the same filter as export (same names, same order)', async () => {
    const args = ['--include', 'opt', '--include', 'bin/c*', '--exclude', '**/b.so'];
    const out = join(scratchDir(), 'part.tar');
    expect((await cli(['export', pair.image, '-o', out, ...args])).code).toBe(0);
    const ls = await cli(['ls', pair.image, ...args]);
    expect(ls.code).toBe(0);
    const names = ls.stdout.toString('latin1').split('\n').filter((l) => l !== '').map((l) => l.trim().split(/\s+/).slice(1).join(' ').replace(/ -> .*$/, ''));
    expect(names).toEqual((await readWithNodeTar(out)).map((e) => e.path));
    expect(names).toContain('bin/cat');
    expect(names).not.toContain('bin/ls');
    expect(names.some((n) => n.endsWith('b.so'))).toBe(false);
  });
});
