#!/usr/bin/env node
/**
 * `npm run build`'s second step: the CLI as one bundled ES module, `dist/bundle/cli.js`, with yargs and
 * p-limit inside, plus one chunk per lazily imported library part (each command still loads only what
 * it needs). `bin/layerfold.js` runs it when it is at least as new as `dist/cli/main.js` (so that a bare
 * `tsc` never leaves a stale bundle in use) and falls back to `dist/cli/main.js` otherwise.
 *
 * Why (BENCHMARKS.md, "Start-up"): Node resolves, reads and compiles ~80 ES modules for any command;
 * one file costs less. And cliui and wrap-ansi (yargs' layout) pin string-width 7, which segments every
 * help string grapheme by grapheme with Intl.Segmenter and a fresh copy of a 50 KB emoji regex per
 * character; yargs renders the whole help text even for a command that runs (to show it on a later
 * failure). string-width 8, which yargs itself depends on, returns the length of a printable-ASCII
 * string at once; the bundle gives cliui and wrap-ansi that one copy. Same widths for every input
 * the help text has (the help outputs are compared in test/cli-bundle.test.ts).
 *
 * Input is tsc's output (dist/), so the bundle is exactly the code the tests run, only packed — with one
 * module filled in: dist/cli/help-text.js gets every command's `--help` as yargs renders it now, at
 * the widths a run asks for most (100 off a terminal, 110 on a wide one), so that `--help` loads no
 * yargs (src/cli/help-text.ts).
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const OUT = join(ROOT, 'dist/bundle');
// yargs' own import of string-width (its layout shims) decides which copy everyone gets.
const YARGS_SHIMS = join(ROOT, 'node_modules/yargs/lib/platform-shims/esm.mjs');

/** cliui's and wrap-ansi's `string-width` resolved as yargs resolves it. */
const oneStringWidth = {
  name: 'one-string-width',
  async resolveId(source, importer) {
    if (source !== 'string-width' || !importer || importer === YARGS_SHIMS) return null;
    if (!/[\\/]node_modules[\\/](cliui|wrap-ansi)[\\/]/.test(importer)) return null;
    return this.resolve(source, YARGS_SHIMS, { skipSelf: true });
  },
};

/**
 * string-width makes its Intl.Segmenter when it is loaded (~8 ms and 2.6 MiB of ICU data on Node 20),
 * though a printable-ASCII string never reaches it: made on first use instead. Where the source is not
 * the one expected, it is left as it is (slower, same widths).
 */
const lazySegmenter = {
  name: 'lazy-segmenter',
  transform(code, id) {
    if (!/[\\/]node_modules[\\/]string-width[\\/]index\.js$/.test(id)) return null;
    const made = 'const segmenter = new Intl.Segmenter();';
    const used = 'segmenter.segment(';
    if (code.split(made).length !== 2 || code.split(used).length !== 2) return null;
    return code.replace(made, 'let segmenter;').replace(used, '(segmenter ??= new Intl.Segmenter()).segment(');
  },
};

/** The help texts, rendered by the yargs the CLI uses, from the same table (src/cli/commands.ts). */
async function helpTexts() {
  const { COMMANDS } = await import(join(ROOT, 'dist/cli/commands.js'));
  const { helpText } = await import(join(ROOT, 'dist/cli/yargs-cli.js'));
  const texts = {};
  for (const command of ['', ...Object.keys(COMMANDS)]) {
    for (const width of [100, 110]) texts[`${command} ${width}`] = await helpText(command, width);
  }
  return texts;
}

const STARTUP = /[\\/]dist[\\/](cli[\\/](commands|shared|argv)|errors|escape|time|io[\\/]cleanup)\.js$/;
const HELP_MODULE = join(ROOT, 'dist/cli/help-text.js');
const help = await helpTexts();
const precomputedHelp = {
  name: 'precomputed-help',
  load(id) {
    return id === HELP_MODULE ? `export const HELP = ${JSON.stringify(help)};\n` : null;
  },
};

rmSync(OUT, { recursive: true, force: true });
await build({
  input: { cli: join(ROOT, 'dist/cli/main.js') },
  platform: 'node',
  plugins: [oneStringWidth, lazySegmenter, precomputedHelp],
  logLevel: 'warn',
  output: {
    dir: OUT,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].js',
    minify: false,
    // What every command loads before its own module (the table, the small parser, errors) in one
    // chunk, not seven: each ES module file is resolved, read and linked on its own.
    codeSplitting: { groups: [{ name: 'startup', test: STARTUP }] },
  },
});
