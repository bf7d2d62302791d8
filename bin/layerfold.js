#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=1
// The small young generation keeps peak memory near what the merged tree needs (4 MiB: about 40 MB less on a
// 100k-entry image, at the same speed; 2 MiB: 4 MiB less again on it and 2 on the Debian image; 1 MiB:
// 2 less again on both, CPU the same in alternating runs: BENCHMARKS.md). One malloc arena: each thread
// (hash worker, TurboFan's compile threads, libuv's pool) otherwise gets an arena of its own, whose
// freed pages stay resident: ~3 MiB of the 1 GiB image's peak, at the same CPU (BENCHMARKS.md,
// "1 GiB peak RSS, round 3"); glibc reads it at start-up only, hence here; other libcs ignore it.
// `node bin/layerfold.js` works without either.
//
// Start-up is most of a run on a small image (BENCHMARKS.md, "Start-up"), so this file does as little
// as it can before the CLI: `--version` alone is answered from package.json without loading yargs;
// where Node has a compile cache (22.1+), it is kept in a directory of this user's own; and the bundled
// CLI (dist/bundle/cli.js, `npm run build`) is run unless a later `tsc` made it stale.
import { lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === '--version') {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  enableCompileCache();
  const { main } = await import(bundleIsFresh() ? '../dist/bundle/cli.js' : '../dist/cli/main.js');
  await main();
}

function bundleIsFresh() {
  try {
    return statSync(new URL('../dist/bundle/cli.js', import.meta.url)).mtimeMs >= statSync(new URL('../dist/cli/main.js', import.meta.url)).mtimeMs;
  } catch {
    return false;
  }
}

/**
 * V8's code cache for our modules, in `$TMPDIR/layerfold-compile-cache-UID`. Cached code is run as
 * it is, so the directory must be one no other user can write: made with mode 0700, and used only if
 * it is a real directory (not a symlink) owned by this user with no group or other access. Anything
 * else, or an error, and the run simply goes without. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
function enableCompileCache() {
  if (typeof module.enableCompileCache !== 'function' || typeof process.getuid !== 'function') return;
  try {
    const dir = `${tmpdir()}/layerfold-compile-cache-${process.getuid()}`;
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if (e.code !== 'EEXIST') return;
    }
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid() || (st.mode & 0o077) !== 0) return;
    module.enableCompileCache(dir);
  } catch {
    // no cache: slower start, same result
  }
}
