/**
 * bin/layerfold.js, run as a program (its shebang, not `node bin/layerfold.js`), runs Node with the
 * settings its peak memory was measured with (BENCHMARKS.md, "1 GiB peak RSS, round 3"): one glibc
 * malloc arena and a 1 MiB semi-space. A probe module (NODE_OPTIONS --import) reports what the
 * process was started with.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'layerfold-shebang-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs Node with one malloc arena and a 1 MiB semi-space', () => {
  const probe = join(dir, 'probe.mjs');
  writeFileSync(probe, "import { writeSync } from 'node:fs';\nwriteSync(2, JSON.stringify({ arena: process.env.MALLOC_ARENA_MAX, execArgv: process.execArgv }) + '\\n');\n");
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--import ${probe}` };
  delete env.MALLOC_ARENA_MAX; // the shebang must set it, not the test's environment
  const r = spawnSync(resolve('bin/layerfold.js'), ['--version'], { encoding: 'utf8', env, timeout: 30_000 });
  expect(r.status).toBe(0);
  const seen = JSON.parse(r.stderr.trim().split('\n')[0]!) as { arena?: string; execArgv: string[] };
  expect(seen.arena).toBe('1');
  expect(seen.execArgv).toContain('--max-semi-space-size=1');
});
