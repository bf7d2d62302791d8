/**
 * The small parser (src/cli/argv.ts) runs ordinary invocations without yargs. Whatever argument list
 * it takes must mean to it exactly what it means to yargs — the parser built from the same table, as
 * every invocation was parsed before — and whatever it is unsure of it must leave to yargs. Checked
 * on generated argument lists made of each command's own option spellings and awkward values.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIELDS } from '../src/diff/compare.js';
import { parseArgv } from '../src/cli/argv.js';
import { COMMANDS, DIFF_FIELDS, GLOBAL_OPTIONS, positionalsOf } from '../src/cli/commands.js';
import { buildParser } from '../src/cli/yargs-cli.js';
import { DASH_MARKER } from '../src/cli/shared.js';

type Parsed = { ran: true; args: Record<string, unknown> } | { ran: false; help: boolean };

/** What yargs makes of argv: the arguments the command's handler gets, or that it showed help / failed. */
async function yargsParse(argv: string[]): Promise<Parsed> {
  let args: Record<string, unknown> | undefined;
  let output = '';
  try {
    await buildParser(argv, '0.0.0', async (_spec, a) => {
      args = a;
    }, 100)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseAsync(argv, {}, (_e, _a, text) => {
        output = text;
      });
  } catch {
    return { ran: false, help: false };
  }
  return args && !output ? { ran: true, args } : { ran: false, help: output.startsWith('layerfold') };
}

/** The keys a command's run() reads: its options, positionals and the global ones. */
function declared(command: string): string[] {
  const spec = COMMANDS[command]!;
  return [...GLOBAL_OPTIONS, ...spec.options].map(([name]) => name).concat(positionalsOf(spec).map((p) => p.name));
}

const WORDS = ['image.tar', 'x', 'usr/lib', '/etc/passwd', 'img.tar:/etc', DASH_MARKER, 'a=b'];
const VALUES = [...WORDS, '12', '0', '0.5', '1e3', '0x10', '08', '80MB', 'gzip', 'none', 'zstd', 'ext4', 'oci', 'true', 'false', '', '--', '-5', '-x'];

/** Argument lists for a command: words (mostly) where positionals go, and its options in all their spellings. */
function argvs(command: string) {
  const spec = COMMANDS[command]!;
  const defs = [...GLOBAL_OPTIONS, ...spec.options];
  const spellings = defs.flatMap(([name, def]) => [`--${name}`, ...(def.type === 'boolean' ? [`--no-${name}`] : []), ...(def.alias ? [`-${def.alias}`] : [])]);
  const option = fc.oneof({ weight: 20, arbitrary: fc.constantFrom(...spellings) }, fc.constantFrom('--help', '-h', '--version', '--nosuch', '-qL', '--no-help', '--'));
  const value = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...VALUES.slice(7, 19)) }, fc.constantFrom(...VALUES));
  const piece = fc.oneof(
    option.map((o) => [o]),
    fc.tuple(option, value).map(([o, v]) => [o, v]),
    fc.tuple(option, value).map(([o, v]) => [`${o}=${v}`]),
  );
  const word = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...WORDS) }, fc.constantFrom(...VALUES));
  const required = positionalsOf(spec).filter((p) => p.required).length;
  return fc
    .tuple(fc.array(word, { minLength: Math.max(0, required - 1), maxLength: required + 1 }), fc.array(piece, { maxLength: 5 }), fc.array(fc.nat(), { minLength: 8, maxLength: 8 }))
    .map(([words, pieces, at]) => {
      // a required option (squash -o) given, mostly, so that lists reach the parser
      const out: string[][] = [...spec.options.filter(([, d]) => d.demandOption && at[7]! % 4 !== 0).map(([name]) => [`--${name}`, 'out']), ...pieces];
      words.forEach((w, i) => out.splice(at[i]! % (out.length + 1), 0, [w]));
      return out.flat();
    });
}

describe('the small parser reads an argument list as yargs does, or leaves it to yargs', () => {
  it.each(Object.keys(COMMANDS))('%s', async (command) => {
    let taken = 0;
    await fc.assert(
      fc.asyncProperty(argvs(command), async (rest) => {
        const argv = [command, ...rest];
        const fast = parseArgv(argv);
        if (fast === undefined) return;
        taken++;
        const slow = await yargsParse(argv);
        if (fast.help) {
          expect(slow).toEqual({ ran: false, help: true });
          return;
        }
        expect(slow.ran).toBe(true);
        if (!slow.ran) return;
        for (const key of declared(command)) expect([key, fast.args[key]]).toEqual([key, slow.args[key]]);
      }),
      { numRuns: 500 },
    );
    expect(taken).toBeGreaterThan(25);
  }, 120_000);

  it('takes the ordinary spellings: -o FILE, -o=FILE, --no-verify, short aliases, repeatable lists, `-`', () => {
    expect(parseArgv(['export', 'i.tar', '-o=out.tar', '--no-verify', '-q'])?.args).toMatchObject({ image_archive: 'i.tar', output: 'out.tar', verify: false, quiet: true });
    expect(parseArgv(['export', DASH_MARKER, '--include', 'usr', 'etc', '--exclude=*.a', '--docker-init=2020-01-01T00:00:00Z'])?.args).toMatchObject({
      image_archive: DASH_MARKER,
      include: ['usr', 'etc'],
      exclude: ['*.a'],
      'docker-init': '2020-01-01T00:00:00Z',
    });
    expect(parseArgv(['ls', 'i.tar', 'etc', 'usr', '-l'])?.args).toMatchObject({ paths: ['etc', 'usr'], long: true });
    expect(parseArgv(['export', '--help'])).toMatchObject({ command: 'export', help: true });
    expect(parseArgv(['--help'])).toMatchObject({ command: '', help: true });
  });

  it('leaves to yargs what it does not take on: unknown and repeated options, --, bad choices, missing positionals', () => {
    for (const argv of [
      ['export', 'i.tar', '--bogus'],
      ['export', 'i.tar', '-o', 'a', '-o', 'b'],
      ['export', '--', '-i.tar'],
      ['export', 'i.tar', '--compress', 'lzma'],
      ['export', 'i.tar', '--verify', 'false'],
      ['why', 'i.tar', '12'],
      ['export'],
      ['export', 'a', 'b'],
      ['export', 'i.tar', '--version'],
      ['completion'],
      ['nosuch'],
      [],
      ['--debug', 'export', 'i.tar'],
    ]) {
      expect([argv, parseArgv(argv)]).toEqual([argv, undefined]);
    }
  });

  it("diff --ignore's help lists diff's fields", () => {
    expect(DIFF_FIELDS).toBe(FIELDS.join(','));
  });
});
