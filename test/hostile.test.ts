/**
 * The hostile corpus: fixtures/hostile/cases.json (made by scripts/make-hostile.js) names each crafted
 * or damaged archive and the outcome it must get. Every command in COMMANDS runs on every case, from
 * from the CLI (the first command also through the library, for the error code), in a sandbox (OUT,
 * TMP and an untouched sibling):
 *  - refuse: exit 2, one line on stderr, the LayerfoldError code the case names, OUT and TMP empty;
 *  - accept: exit 0, every result name relative with no `..`, the names the case lists present (or
 *    absent), TMP empty, nothing written outside OUT.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLayerfoldError, listImage, type ErrorCode } from '../src/index.js';
import { scratchDir } from './support/build.js';
import { COMMANDS, isContainedName, isOneLineRefusal, listTree, PARTIAL, runCli, sandbox, type HostileCommand } from './support/hostile.js';

const DIR = 'fixtures/hostile';

interface Case {
  name: string;
  file: string;
  what: string;
  expect: { outcome: 'refuse'; code: ErrorCode } | { outcome: 'accept'; has: string[]; lacks: string[] };
}

const cases = (JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8')) as { cases: Case[] }).cases;


/** Nothing may appear in the sandbox but what the command writes into OUT. */
function expectContained(root: string, out: string, tmp: string): void {
  expect(readdirSync(tmp), 'TMP must be empty afterwards').toEqual([]);
  expect(listTree(join(root, 'outside'))).toEqual([]);
  expect(readdirSync(root).sort()).toEqual(['out', 'outside', 'tmp']);
  expect(listTree(out).filter((n) => PARTIAL.test(n))).toEqual([]);
}

/**
 * A name for cat and why: the first the case says the result holds; for cat one that is a regular
 * file there (a symlink out of the image is refused by cat, rightly), else none.
 */
async function caseFile(command: HostileCommand, image: string, c: Case): Promise<string | undefined> {
  if (c.expect.outcome !== 'accept') return undefined;
  const named = c.expect.has.filter((n) => !n.endsWith('/'));
  if (!command.needsFile) return named[0];
  const files = new Set<string>();
  await listImage(image, { verify: false }, (entry) => void (entry.type === 'file' && files.add(entry.name)));
  return named.find((n) => files.has(n));
}

async function checkCase(command: HostileCommand, c: Case): Promise<void> {
  const image = join(DIR, c.file);
  const cli = sandbox();
  const file = await caseFile(command, image, c);
  const result = await runCli(command.argv(image, cli.out, cli.tmp, file));
  expectContained(cli.root, cli.out, cli.tmp);
  // The library call behind the CLI, for the error code. Every command reads images through the same
  // flattenImage, so only the first command's calls are repeated through the library (time).
  const lib = sandbox();
  let thrown: unknown;
  const viaLibrary = command === COMMANDS[0];
  if (viaLibrary) {
    try {
      await command.library(image, lib.out, lib.tmp);
    } catch (e) {
      thrown = e;
    }
    expectContained(lib.root, lib.out, lib.tmp);
  }

  const plainTarCase = c.expect.outcome === 'refuse' && (c.expect.code === 'BAD_ARCHIVE' || c.expect.code === 'BAD_LAYOUT');
  if (command.takesPlainTars && plainTarCase && result.code !== 2) {
    expect(result.code, result.stderr).toBe(0); // the same input on both sides: no difference
    return;
  }
  if (command.takesPlainTars && plainTarCase) {
    expect(isOneLineRefusal(result.stderr), result.stderr).toBe(true);
    expect(listTree(cli.out)).toEqual([]);
    return;
  }
  // a command that reads no layer may take a case refused for a layer, and one that names a file
  // must refuse an image without one: either way exit 0, or exit 2 with one line, nothing left
  const layerCase = c.expect.outcome === 'refuse' && command.configOnly;
  const noFile = c.expect.outcome === 'accept' && command.needsFile && file === undefined;
  if ((layerCase || noFile) && result.code === 0) {
    expect(result.stderr).toBe('');
    expect(listTree(cli.out)).toEqual([]);
    return;
  }
  if (layerCase || noFile) {
    expect(result.code, result.stderr).toBe(2);
    expect(isOneLineRefusal(result.stderr), result.stderr).toBe(true);
    expect(listTree(cli.out)).toEqual([]);
    return;
  }
  if (c.expect.outcome === 'refuse') {
    expect(result.code, result.stderr).toBe(2);
    expect(isOneLineRefusal(result.stderr), result.stderr).toBe(true);
    expect(listTree(cli.out), 'OUT must be empty after a refusal').toEqual([]);
    if (!viaLibrary) return;
    expect(isLayerfoldError(thrown), String(thrown)).toBe(true);
    if (isLayerfoldError(thrown)) {
      expect(`${thrown.code}: ${thrown.message}`).toMatch(new RegExp(`^${c.expect.code}: `));
      expect(thrown.message).not.toContain('\n');
    }
    expect(listTree(lib.out)).toEqual([]);
    return;
  }
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  if (viaLibrary) expect(thrown).toBeUndefined();
  const names = await command.resultNames(cli.out, result.stdout, image);
  if (names === null) return;
  expect(names.filter((n) => !isContainedName(n)), 'names that leave the root').toEqual([]);
  for (const name of c.expect.has) expect(names).toContain(name);
  for (const name of c.expect.lacks) expect(names).not.toContain(name);
}

describe('hostile corpus', () => {
  it('covers every file in fixtures/hostile, and every case has a file', () => {
    const files = readdirSync(DIR).filter((f) => f !== 'cases.json').sort();
    expect(cases.map((c) => c.file).sort()).toEqual(files);
  });

  it('is what scripts/make-hostile.js makes (regenerate after changing the script)', () => {
    const dir = scratchDir();
    execFileSync(process.execPath, ['scripts/make-hostile.js', dir], { stdio: 'ignore' });
    for (const f of readdirSync(DIR)) expect(readFileSync(join(dir, f)).equals(readFileSync(join(DIR, f))), f).toBe(true);
  });

  for (const command of COMMANDS) {
    describe(command.name, () => {
      for (const c of cases) {
        it(`${c.name}: ${c.expect.outcome === 'refuse' ? `refused (${c.expect.code})` : 'contained'} — ${c.what}`, async () => {
          await checkCase(command, c);
        });
      }
    });
  }
});
