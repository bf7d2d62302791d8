/**
 * Timing for the benchmark: every command runs as `nice -n 10 /usr/bin/time -f '%e %U %S %M' sh -c CMD`
 * (GNU time from Debian's `time` package), so wall, user, sys and peak RSS come from the kernel's
 * rusage of the whole command tree, the same way for layerfold and for every peer. A measurement is
 * one untimed warm-up (page cache, lazily built state) and then the median of N timed runs; a
 * `prepare` command (removing the previous output) and a `sync` run untimed before each, so that no
 * run pays for writing back what the one before it wrote.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

export const TIME = '/usr/bin/time';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function sh(cmd, options = {}) {
  return execFileSync('sh', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** One timed run: {wall, user, sys, cpu} in seconds, rss in bytes. Throws with stderr on failure. */
export function timeOnce(cmd, { env } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lf-bench-time-'));
  const out = join(dir, 'time');
  try {
    const r = spawnSync('nice', ['-n', '10', TIME, '-f', '%e %U %S %M', '-o', out, 'sh', '-c', cmd], {
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
      env: env ?? process.env,
      maxBuffer: 1 << 26,
    });
    if (r.status !== 0) throw new Error(`failed (${r.status}): ${cmd}\n${(r.stderr ?? '').slice(-2000)}`);
    const fields = readFileSync(out, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    const [wall, user, sys, rssKiB] = fields;
    return { wall, user, sys, cpu: user + sys, rss: rssKiB * 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Median of `runs` timed runs after `warmup` untimed ones. `extra(run)` may add fields measured
 * outside the command (e.g. an engine's CPU); they are medianed too.
 * @returns {{wall, user, sys, cpu, rss, runs: number, samples: object[]}}
 */
export function measure(cmd, { runs = 5, warmup = 1, prepare, env, around } = {}) {
  const samples = [];
  for (let i = 0; i < warmup + runs; i++) {
    if (prepare) sh(prepare);
    // No dirty pages from the run before: their writeback would land on this run, whoever it is.
    sh('sync');
    const before = around?.before();
    const sample = timeOnce(cmd, { env });
    if (around) Object.assign(sample, around.after(before));
    if (i >= warmup) samples.push(sample);
  }
  const result = { runs, samples };
  for (const key of Object.keys(samples[0])) result[key] = median(samples.map((s) => s[key]));
  return result;
}

export function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The machine, for the report. */
export function machine() {
  const cpu = cpus();
  let model = cpu[0]?.model ?? 'unknown';
  try {
    const lscpu = sh('lscpu');
    model = /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? model;
  } catch {
    // lscpu missing: os.cpus() model
  }
  let disk = 'unknown';
  try {
    disk = sh(`df -h --output=source,fstype,size ${tmpdir()} | tail -1`).trim().replace(/\s+/g, ' ');
  } catch {
    // df missing
  }
  let kernel = '';
  try {
    kernel = sh('uname -r').trim();
  } catch {
    // uname missing
  }
  return {
    cpu: model,
    cores: cpu.length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    kernel,
    disk,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  };
}

/** CPU seconds (self + waited-for children) of a process, from /proc/PID/stat. */
export function processCpu(pid) {
  if (!pid || !existsSync(`/proc/${pid}/stat`)) return 0;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  const hz = Number(sh('getconf CLK_TCK').trim()) || 100;
  return ticks / hz;
}
