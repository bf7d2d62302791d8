#!/usr/bin/env node
/**
 * `npm run fuzz`: the property of test/fuzz.test.ts run long. Each round uses a fresh seed (printed,
 * with the replay command when a round fails); rounds continue until FUZZ_MINUTES have passed.
 * Usage: node scripts/fuzz.js [runs-per-round, default 2000; a tenth as many hostile shapes, a hundredth as
 * many mutated copies of each fixtures/hostile case, each through every command]; FUZZ_MINUTES (default 10).
 */
import { spawnSync } from 'node:child_process';

const runs = Number(process.argv[2] ?? 2000);
const minutes = Number(process.env.FUZZ_MINUTES ?? 10);
const deadline = Date.now() + minutes * 60_000;
let round = 0;
while (Date.now() < deadline) {
  const seed = Math.floor(Math.random() * 2 ** 31);
  round++;
  console.log(`fuzz round ${round}: ${runs} cases, FUZZ_SEED=${seed}`);
  const result = spawnSync('npx', ['vitest', 'run', 'test/fuzz.test.ts', '-t', 'mutated images|hostile shapes|hostile seed'], {
    stdio: 'inherit',
    env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_SHAPE_RUNS: String(Math.max(1, Math.round(runs / 10))), FUZZ_HOSTILE_RUNS: String(Math.max(1, Math.round(runs / 100))), FUZZ_HOSTILE_STRIDE: '1', FUZZ_SEED: String(seed) },
  });
  if (result.status !== 0) {
    console.error(`fuzz: round ${round} failed; replay with FUZZ_RUNS=${runs} FUZZ_SEED=${seed} npx vitest run test/fuzz.test.ts (add FUZZ_PATH from the output)`);
    process.exit(1);
  }
}
console.log(`fuzz: ${round} rounds of ${runs} cases, no failure`);
