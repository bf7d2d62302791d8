/**
 * src/write/safe-path.ts alone: nothing outside the extraction root is created, changed or followed
 * (ARCHITECTURE.md `src/write/safe-path.ts`, rules 1–4 in its header). The expected outcome of each
 * attack is what the kernel does with the path we hand it: a symlink planted under the root must
 * never be traversed, so the file the attack aims at stays untouched.
 */
import { mkdirSync, readFileSync, realpathSync, renameSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLayerfoldError } from '../src/errors.js';
import { checkName, SafeRoot } from '../src/write/safe-path.js';
import { scratchDir } from './support/build.js';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    return isLayerfoldError(e) ? `${e.code}: ${e.message}` : `not a LayerfoldError: ${String(e)}`;
  }
  return 'allowed';
}

function fresh(force = false): { root: SafeRoot; dir: string; outside: string } {
  const base = realpathSync(scratchDir());
  const dir = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(dir);
  mkdirSync(outside);
  writeFileSync(join(outside, 'victim'), 'untouched');
  return { root: new SafeRoot(dir, force), dir, outside };
}

describe('names (rule 1)', () => {
  it.each(['', '/etc/passwd', '../x', 'a/../../x', 'a//b', './a', 'a/.', 'a\0b'])('%j is refused as PATH_ESCAPE', (name) => {
    expect(refusal(() => checkName(name))).toMatch(/^PATH_ESCAPE: .*not a clean relative name; refusing to write it$/);
  });

  it('clean relative names with any bytes pass, and reach the kernel byte for byte', () => {
    const { root, dir } = fresh();
    expect(refusal(() => checkName('a/b c/\xff'))).toBe('allowed');
    expect(root.path('\xff').equals(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff])]))).toBe(true);
  });
});

describe('parents (rule 2)', () => {
  it('a leaf goes only into a directory made here: an existing subdirectory of the root is not one', () => {
    const { root, dir } = fresh();
    mkdirSync(join(dir, 'pre'));
    expect(refusal(() => root.leaf('pre/f'))).toBe('PATH_ESCAPE: "pre/f": its parent is not a directory made in this extraction; refusing to write it');
  });

  it('a directory made here and then swapped for a symlink to outside is caught before a child is placed', () => {
    const { root, dir, outside } = fresh();
    root.mkdir('d');
    renameSync(join(dir, 'd'), join(dir, 'moved'));
    symlinkSync(outside, join(dir, 'd'));
    expect(refusal(() => root.leaf('d/victim'))).toMatch(/^PATH_ESCAPE: "d\/victim": its parent was replaced during the extraction; refusing to write it$/);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('untouched');
  });
});

describe('leaves (rule 3)', () => {
  it('with force, a symlink left in DIR where a leaf goes is removed, not followed', () => {
    const { root, dir, outside } = fresh(true);
    symlinkSync(join(outside, 'victim'), join(dir, 'f'));
    const path = root.leaf('f');
    expect(() => lstatSync(path)).toThrow(/ENOENT/);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('untouched');
  });

  it('without force, a directory already in DIR is refused with the --force hint', () => {
    const { root, dir } = fresh();
    mkdirSync(join(dir, 'd'));
    expect(refusal(() => root.mkdir('d'))).toBe('IO: "d": already exists in the target directory (use --force to replace)');
  });
});

describe('hardlink sources (rule 4)', () => {
  it('must be a leaf made here, by its name in this root', () => {
    const { root } = fresh();
    expect(refusal(() => root.linkSource('etc/shadow'))).toBe('PATH_ESCAPE: "etc/shadow": hardlink source is not an entry made in this directory; refusing to write it');
    root.leaf('made');
    expect(refusal(() => root.linkSource('made'))).toBe('allowed');
  });
});
