#!/usr/bin/env node
/**
 * Alternating runs, as BENCHMARKS.md's by-hand tables are measured: `node scripts/bench/alternate.js ROUNDS 'label=CMD' …`
 * runs each CMD in turn (nice -n 10, GNU time), ROUNDS times after one warm-up round, and prints the
 * medians of wall, CPU (user + sys) and peak RSS, and the load average before and after. Outputs are
 * expected under /tmp/peers-out* (removed before each run).
 */
import { execSync } from 'node:child_process';
import { loadavg } from 'node:os';
const [rounds, ...specs] = process.argv.slice(2);
const cmds = specs.map((s) => { const i = s.indexOf('='); return { label: s.slice(0, i), cmd: s.slice(i + 1), w: [], c: [], r: [] }; });
const l0 = loadavg()[0];
for (let k = 0; k < Number(rounds) + 1; k++) for (const c of cmds) {
  execSync('rm -f /tmp/peers-out*');
  const out = execSync(`nice -n 10 /usr/bin/time -f '%e %U %S %M' sh -c '${c.cmd.replace(/'/g, `'\\''`)}' 2>&1 >/dev/null | tail -1`, { encoding: 'utf8' }).trim().split(' ').map(Number);
  if (k === 0) continue;
  c.w.push(out[0]); c.c.push(out[1] + out[2]); c.r.push(out[3] / 1024);
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
for (const c of cmds) console.log(`${c.label.padEnd(28)} wall ${med(c.w).toFixed(2)} (min ${Math.min(...c.w).toFixed(2)})  cpu ${med(c.c).toFixed(2)}  rss ${med(c.r).toFixed(0)} MiB`);
console.log(`load ${l0.toFixed(1)} → ${loadavg()[0].toFixed(1)}`);
