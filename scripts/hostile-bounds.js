#!/usr/bin/env node
/**
 * Issue 20's large shapes at full size, run by hand (not in npm test: they take minutes): every command
 * on each input, each run under /usr/bin/time -v, checked against what must hold — exit 0 with a
 * contained result or exit 2 with one line, nothing left in the output or temp directory, within 60 s
 * and 500 MB of peak RSS. Prints one row per run and exits 1 if any run breaks a bound.
 *
 *   npm run build && node scripts/hostile-bounds.js [WORKDIR] [--only NAME] [--commands export,ls]
 *
 * WORKDIR (default /tmp/layerfold-hostile-bounds) holds the generated inputs (kept between runs) and
 * the outputs (removed after each run). `diff` runs on the image against itself, against its own
 * export (diff-tar) and against that export unpacked by GNU tar (diff-dir), both made once and kept;
 * `inspect` in its three modes (inspect, inspect-json, inspect-wasted). `--commands diff` takes all
 * of a command's variants.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deepEntries, repeatedLayerImage, repeatedManifestImage, wideEntries, writeBuffer, writeTreeImage } from './bench/shapes.js';

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args.splice(i, 2)[1];
};
const only = flag('--only');
const commandsWanted = flag('--commands')?.split(',');
const WORK = resolve(args[0] ?? '/tmp/layerfold-hostile-bounds');
const BIN = new URL('../bin/layerfold.js', import.meta.url).pathname;
const LIMIT_S = 60;
const LIMIT_MB = 500;

const INPUTS = [
  { name: 'wide-1m', file: 'wide-1m.tar', why: 'wide/f00001', make: (p) => writeTreeImage(p, wideEntries(1_000_000)) },
  { name: 'deep-2040', file: 'deep-2040.tar', why: `${'d/'.repeat(2040)}file`, make: (p) => writeTreeImage(p, deepEntries(2040)) },
  { name: 'layers-300k', file: 'layers-300k.tar.gz', why: 'x', make: (p) => writeBuffer(p, repeatedLayerImage(300_000)) },
  { name: 'manifest-30mb-x3000', file: 'manifest-x3000.tar.gz', why: 'hello', make: (p) => writeBuffer(p, repeatedManifestImage({ copies: 3000, manifestBytes: 30e6 })) },
  { name: 'names-100k', file: 'names-100k.tar.gz', why: 'hello', make: (p) => writeBuffer(p, repeatedManifestImage({ copies: 100_000, names: true })), image: 'hostile:99999' },
];

/**
 * The image's own export as a tar and as a directory (GNU tar unpacks it), made once and kept, for
 * `diff` against each: what a user checks a rootfs with.
 */
function exported(img, kind) {
  const tar = `${img}.rootfs.tar`;
  if (!existsSync(tar)) {
    const run = spawnSync(process.execPath, [BIN, 'export', img, '-o', tar], { stdio: 'ignore' });
    if (run.status !== 0) return img; // refused: diff then meets the same refusal
  }
  if (kind === 'tar') return tar;
  const dir = `${img}.rootfs`;
  if (!existsSync(dir)) {
    mkdirSync(`${dir}.partial`, { recursive: true });
    spawnSync('tar', ['-xf', tar, '-C', `${dir}.partial`], { stdio: 'inherit' });
    renameSync(`${dir}.partial`, dir);
  }
  return dir;
}

const COMMANDS = {
  export: (img, out) => ['export', img, '-o', join(out, 'rootfs.tar')],
  extract: (img, out) => ['extract', img, join(out, 'root')],
  bundle: (img, out) => ['bundle', img, join(out, 'bundle')],
  diff: (img) => ['diff', img, img],
  'diff-tar': (img) => ['diff', img, exported(img, 'tar')],
  'diff-dir': (img) => ['diff', exported(img, 'dir'), img],
  inspect: (img) => ['inspect', img],
  'inspect-json': (img) => ['inspect', img, '--json'],
  'inspect-wasted': (img) => ['inspect', img, '--wasted'],
  ls: (img) => ['ls', img],
  why: (img, _out, input) => ['why', img, input.why],
  config: (img) => ['config', img],
};

function measure(argv, tmp) {
  // timeout(1) inside time(1): a run past the bound is killed itself, not only time(1) above it
  const run = spawnSync('/usr/bin/time', ['-v', 'timeout', '-s', 'KILL', String(LIMIT_S * 3), process.execPath, BIN, ...argv, '--tmpdir', tmp], { encoding: 'latin1', maxBuffer: 1 << 30 });
  const stderr = run.stderr ?? '';
  const timeAt = stderr.lastIndexOf('\tCommand being timed');
  const own = (timeAt < 0 ? stderr : stderr.slice(0, timeAt)).replace(/^Command (exited with non-zero status|terminated by signal) \d+\n/m, '');
  const stats = timeAt < 0 ? '' : stderr.slice(timeAt);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stats)?.[1] ?? NaN) / 1024;
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stats);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  const code = Number(/Exit status: (\d+)/.exec(stats)?.[1] ?? run.status);
  return { code, own, rss, seconds };
}

async function main() {
  mkdirSync(WORK, { recursive: true });
  let failures = 0;
  console.log(['input', 'command', 'exit', 'seconds', 'peak MB', 'left', 'stderr'].join('\t'));
  for (const input of INPUTS) {
    if (only && input.name !== only) continue;
    const img = join(WORK, input.file);
    if (!existsSync(img)) await input.make(img);
    for (const [name, argvOf] of Object.entries(COMMANDS)) {
      if (commandsWanted && !commandsWanted.includes(name) && !commandsWanted.includes(name.split('-')[0])) continue;
      const out = join(WORK, 'out');
      const tmp = join(WORK, 'tmp');
      rmSync(out, { recursive: true, force: true });
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(out);
      mkdirSync(tmp);
      const argv = argvOf(img, out, input);
      if (input.image && !name.startsWith('diff')) argv.push('--image', input.image);
      const r = measure(argv, tmp);
      const left = [...readdirSync(out), ...readdirSync(tmp).map((n) => `tmp/${n}`)];
      const lines = r.own.split('\n').filter((l) => l !== '');
      const refusal = r.code === 2 && lines.length === 1 && lines[0].startsWith('layerfold: ') && !/\n\s+at /.test(r.own);
      const bad = [];
      if (r.code === 2 && !refusal) bad.push('not one line');
      if (r.code === 2 && left.length > 0) bad.push('left output');
      if (![0, 1, 2].includes(r.code)) bad.push(`exit ${r.code}`);
      if (left.some((n) => n.startsWith('tmp/'))) bad.push('left temp');
      if (!(r.seconds <= LIMIT_S)) bad.push('too slow');
      if (!(r.rss <= LIMIT_MB)) bad.push('too much memory');
      if (bad.length) failures++;
      const said = r.code === 0 ? '' : (lines[0] ?? '').replace(/(d\/){8,}/g, '…/').slice(0, 200);
      console.log([input.name, name, r.code, r.seconds.toFixed(1), r.rss.toFixed(0), left.length ? left.slice(0, 3).join(',') : '-', `${bad.length ? `FAIL(${bad.join(', ')}) ` : ''}${said}`].join('\t'));
      rmSync(out, { recursive: true, force: true });
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  process.exitCode = failures ? 1 : 0;
}

await main();
