/**
 * Wide trees in the read commands (issue 20, item 7): what keeps `diff`, `ls` and `inspect --json`
 * of a million-entry directory within bounds, guarded on small trees:
 * - diff reads a directory side as it compares it (a stream), and an image side too when it is read
 *   last against a held one: at most one side is held in a list;
 * - the list a held side lives in keeps each field in a narrow column, a wider value (a uid past
 *   2^32, a size past 4 GiB, a fractional or negative mtime) beside it, each given back as it came;
 * - the streamed sides' hard-link groups, complete only at their end, are still compared as sets.
 * The full-size runs (1,000,000 files) are scripts/hostile-bounds.js, by hand; BENCHMARKS.md has them.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { wideEntries, writeTreeImage } from '../scripts/bench/shapes.js';
import { run } from '../src/cli/main.js';
import type { DiffResult } from '../src/diff/compare.js';
import { blankEntry, EntryList } from '../src/diff/entries.js';
import { scratchDir } from './support/build.js';
import { hasCommand } from './support/read.js';

const WIDE = 2_000;
/** The name wideEntries gives file `i`. */
const fileName = (i: number) => `wide/f${i.toString(36).padStart(5, '0')}`;

function capture(): Writable & { text: string } {
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      stream.text += chunk.toString('utf8');
      done();
    },
  }) as Writable & { text: string };
  stream.text = '';
  return stream;
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = capture();
  const stderr = capture();
  const code = await run(argv, { stdin: process.stdin, stdout, stderr, env: {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A WIDE-file image, its rootfs tar (our export) and that tar unpacked by GNU tar. */
async function wideCase(): Promise<{ image: string; tar: string; dir: string }> {
  const work = scratchDir();
  const image = join(work, 'wide.tar');
  await writeTreeImage(image, wideEntries(WIDE));
  const tar = join(work, 'rootfs.tar');
  expect((await cli(['export', image, '-o', tar])).code).toBe(0);
  const dir = join(work, 'rootfs');
  mkdirSync(dir);
  execFileSync('tar', ['-C', dir, '--same-owner', '--numeric-owner', '-xf', tar]);
  return { image, tar, dir };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('diff holds at most one side in a list', () => {
  it.skipIf(!hasCommand('tar'))('a directory is never held; an image is held unless it is read last, against a held tar or image', async () => {
    const { image, tar, dir } = await wideCase();
    const add = vi.spyOn(EntryList.prototype, 'add');
    const counted = async (a: string, b: string): Promise<number> => {
      add.mockClear();
      const r = await cli(['diff', a, b, '--ignore', 'mtime,xattrs']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return add.mock.calls.length;
    };
    const entries = WIDE + 1; // the files and their directory
    expect(await counted(dir, dir)).toBe(0);
    expect(await counted(image, dir)).toBe(entries);
    expect(await counted(dir, image)).toBe(entries);
    expect(await counted(image, image)).toBe(entries);
    expect(await counted(image, tar)).toBe(entries);
    expect(await counted(tar, image)).toBe(entries);
    expect(await counted(tar, dir)).toBe(entries);
  });

  it.skipIf(!hasCommand('tar'))('a difference far into a streamed side is found as it was when both were held', async () => {
    const { image, dir } = await wideCase();
    rmSync(join(dir, fileName(1500)));
    writeFileSync(join(dir, fileName(WIDE - 1)), 'x');
    writeFileSync(join(dir, 'wide/g'), '');
    const r = await cli(['diff', image, dir, '--json', '--ignore', 'mtime,xattrs']);
    const result = JSON.parse(r.stdout) as DiffResult;
    expect(result.onlyInA).toEqual([{ path: fileName(1500), type: 'file' }]);
    expect(result.onlyInB).toEqual([{ path: 'wide/g', type: 'file' }]);
    expect(result.differ.map((d) => [d.path, d.fields.map((f) => f.field)])).toEqual([[fileName(WIDE - 1), ['size', 'digest']]]);
    expect([result.a.entries, result.b.entries, result.same]).toEqual([WIDE + 1, WIDE + 1, WIDE - 1]);
  });
});

describe('hard-link groups of two streamed sides', () => {
  const fixture = 'fixtures/conformance/hardlink-group-materialize';

  it.skipIf(!hasCommand('tar'))('the image against its docker export unpacked by GNU tar: equal; a link made a copy: both names differ', async () => {
    const dir = join(scratchDir(), 'rootfs');
    mkdirSync(dir);
    execFileSync('tar', ['-C', dir, '--same-owner', '--numeric-owner', '-xf', join(fixture, 'export.tar')]);
    const image = join(fixture, 'image.tar');
    const same = await cli(['diff', image, dir, '--ignore-init', '--ignore', 'mtime,xattrs']);
    expect(same.stdout + same.stderr).toBe('');
    expect(same.code).toBe(0);
    // g/l2 (a hard link to g/l1 in docker's export) becomes a file of its own, same bytes
    copyFileSync(join(dir, 'g/l1'), join(dir, 'g/l2.new'));
    rmSync(join(dir, 'g/l2'));
    execFileSync('mv', [join(dir, 'g/l2.new'), join(dir, 'g/l2')]);
    const r = await cli(['diff', image, dir, '--ignore-init', '--ignore', 'mtime,xattrs', '--json']);
    const result = JSON.parse(r.stdout) as DiffResult;
    expect(result.differ).toEqual([
      { path: 'g/l1', type: 'file', fields: [{ field: 'hardlinks', a: ['g/l1', 'g/l2'], b: ['g/l1'] }] },
      { path: 'g/l2', type: 'file', fields: [{ field: 'hardlinks', a: ['g/l1', 'g/l2'], b: ['g/l2'] }] },
    ]);
    expect(result.fieldCounts).toEqual({ hardlinks: 2 });
  });
});

describe('a held list gives each field back as it came', () => {
  it('narrow columns, and the values past them', () => {
    const list = new EntryList();
    const wide = [
      { uid: 2 ** 32 + 5, gid: 2 ** 32 - 1, size: 5 * 2 ** 30, mtime: -1.5, mode: 0o7777 },
      { uid: 0, gid: 0, size: 0, mtime: 2 ** 40, mode: 0 },
      { uid: 4_294_967_294, gid: 65_534, size: 4_294_967_295, mtime: -(2 ** 31), mode: 0o755 },
      { uid: 1, gid: 2, size: 3, mtime: 2 ** 31 - 1, mode: 0o644 },
    ];
    const made = wide.map((fields, i) => {
      const entry = Object.assign(blankEntry(`p${i}`, 'file'), fields, { digest: `${i}`.repeat(64).slice(0, 64) });
      list.add(entry);
      return entry;
    });
    made.forEach((entry, i) => expect(list.at(i)).toEqual(entry));
  });
});

describe('inspect --json is written in pieces, the same text', () => {
  it('jsonPieces joined is JSON.stringify(value, null, 2) with DEL and C1 escaped (jsonText)', async () => {
    const { jsonPieces } = await import('../src/inspect/render.js');
    const { jsonText } = await import('../src/escape.js');
    const many = Array.from({ length: 700 }, (_, i) => (i % 7 === 0 ? `p\u009b${i}\u007f` : `wide/f${i}`));
    const value = {
      name: 'x\u001b]0;t\u0007',
      gone: undefined,
      n: Infinity,
      layers: [
        { index: 0, changes: { added: many, modified: [], deleted: ['a"b\\c\n'] }, empty: {} },
        { index: 1, list: [undefined, null, 1.5, [[], {}], many.slice(0, 300)], labels: Object.fromEntries(many.map((p, i) => [`k${i}`, p])) },
      ],
      tail: [],
    };
    expect([...jsonPieces(value, 2)].join('')).toBe(jsonText(value, 2));
    expect([...jsonPieces(many, 2)].join('')).toBe(jsonText(many, 2));
  });
});

describe('a big listing waits for a slow reader', () => {
  it('ls --json and inspect --json never queue more than about a chunk (64 KiB) on a stream that drains slowly', async () => {
    const image = join(scratchDir(), 'wide10k.tar');
    await writeTreeImage(image, wideEntries(10_000));
    for (const argv of [['ls', image, '--json'], ['inspect', image, '--json']]) {
      let most = 0;
      let total = 0;
      // a pipe whose reader takes a chunk a millisecond: write() says false past 16 KiB queued
      const slow = new Writable({
        write(chunk: Buffer, _enc, done) {
          total += chunk.length;
          setTimeout(done, 1);
        },
      });
      const write = slow.write.bind(slow);
      slow.write = ((chunk: string | Buffer, ...rest: never[]) => {
        const ok = write(chunk, ...rest);
        most = Math.max(most, slow.writableLength);
        return ok;
      }) as typeof slow.write;
      const code = await run(argv, { stdin: process.stdin, stdout: slow, stderr: capture(), env: {} });
      expect(code).toBe(0);
      await new Promise((resolve) => slow.end(resolve));
      expect(total).toBeGreaterThan(200_000);
      expect(most).toBeLessThan(140_000);
    }
  });
});

describe('a long comparison gives the event loop turns', () => {
  it('40,000 paths against 40,000: a setImmediate queued before it runs before it ends (SIGINT / SIGTERM are met mid-diff)', async () => {
    const { compareSides } = await import('../src/diff/compare.js');
    const side = (input: string) => {
      const entries = new EntryList();
      for (let i = 0; i < 40_000; i++) entries.add(blankEntry(`p${i.toString(36).padStart(4, '0')}`, 'file'));
      return { input, kind: 'rootfs-tar' as const, compression: 'none' as const, entries, xattrsKnown: true };
    };
    let turned = false;
    setImmediate(() => (turned = true));
    const result = await compareSides(side('a'), side('b'));
    const turnedDuring = turned;
    expect(result.same).toBe(40_000);
    expect(turnedDuring, 'the comparison ran to its end in one synchronous piece').toBe(true);
  });
});
