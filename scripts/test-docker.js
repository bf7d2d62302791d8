#!/usr/bin/env node
/**
 * `npm run test:docker [-- CASE...] [--budget-minutes N]`: live conformance. Builds every case of
 * fixtures/cases into a temporary directory with whatever engine runs (DOCKER_HOST, else
 * /var/run/docker.sock, else a Docker 26.1 — or 20.10 — started here and stopped at the end) and
 * checks each pair: every saved layout exported with --docker-init=<created> equals docker's export
 * byte for byte except implied-directory mtimes, `layerfold diff IMAGE export.tar --ignore-init` exits
 * 0 once that command exists, and images docker refused are refused. Disagreements are listed, never
 * skipped; those explained in fixtures/cases/_known-disagreements.json are listed as known and do not
 * fail the run. Cases not reached within the time budget are listed too. Exit 0 agreed, 1 not, 2 error.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES_DIR, loadCases } from './fixtures/cases.js';
import { ensureTools, removeEngineRoot, serverVersion, startEngine } from './fixtures/engine.js';
import { makeCase, makeReduced } from './fixtures/corpus.js';
import { checkImage, checkRefusal, parseCreated } from './fixtures/compare.js';

const args = process.argv.slice(2);
const budgetIndex = args.indexOf('--budget-minutes');
const budgetMinutes = budgetIndex >= 0 ? Number(args.splice(budgetIndex, 2)[1]) : 30;
const checkEngineOnly = args.includes('--check-engine');
const only = args.filter((a) => !a.startsWith('--'));
const log = (line) => console.log(line);

async function findEngine(scratch) {
  for (const host of [process.env.DOCKER_HOST, 'unix:///var/run/docker.sock'].filter(Boolean)) {
    const version = serverVersion(host);
    if (version) return { host, version, stop: async () => {} };
  }
  try {
    return await startEngine('26', join(scratch, 'engine'), { log });
  } catch (err) {
    log(`Docker 26 did not start (${err.message.split('\n')[0]}); trying Docker 20.10`);
    return startEngine('20', join(scratch, 'engine20'), { log });
  }
}

async function checkPair(dir, engine, scratch) {
  const images = readdirSync(dir).filter((f) => /^image.*\.tar$/.test(f)).sort();
  if (!existsSync(join(dir, 'export.tar'))) return checkRefusal(join(dir, 'image.tar'), scratch);
  const created = parseCreated(dir);
  const problems = [];
  for (const image of images) {
    for (const p of await checkImage(join(dir, image), join(dir, 'export.tar'), created, engine.version, scratch)) problems.push(`${image}: ${p}`);
  }
  return problems;
}

/** --check-engine: can an engine be found or started? (used by .ci/run before the live run) */
async function checkEngine() {
  const scratch = mkdtempSync(join(tmpdir(), 'lf-engine-check-'));
  try {
    const engine = await findEngine(scratch);
    log(`test:docker: Docker ${engine.version} answers on ${engine.host}`);
    await engine.stop();
  } finally {
    removeEngineRoot(scratch);
  }
}

async function main() {
  if (checkEngineOnly) return checkEngine();
  const cases = loadCases(only);
  const known = JSON.parse(readFileSync(join(CASES_DIR, '_known-disagreements.json'), 'utf8'));
  ensureTools(log);
  const scratch = mkdtempSync(join(tmpdir(), 'lf-test-docker-'));
  const engine = await findEngine(scratch);
  const deadline = Date.now() + budgetMinutes * 60000;
  const results = { agreed: [], disagreed: [], known: [], notReached: [], failed: [] };
  try {
    log(`test:docker: ${cases.length} cases on Docker ${engine.version} (${engine.host}), budget ${budgetMinutes} min`);
    for (const c of cases) {
      if (Date.now() > deadline) { results.notReached.push(c.name); continue; }
      const pairs = [];
      const dir = join(scratch, 'cases', c.name);
      try {
        const made = await makeCase(c, dir, { engine, log });
        pairs.push([c.name, dir]);
        if (made.reducedLayers) {
          const reducedDir = join(scratch, 'cases', `${c.name}-reduced`);
          await makeReduced(c, made.reducedLayers, reducedDir, { engine, log });
          pairs.push([`${c.name}-reduced`, reducedDir]);
        }
      } catch (err) {
        results.failed.push(c.name);
        log(`FAILED   ${c.name}: the engine could not make it: ${err.message.split('\n')[0]}`);
        continue;
      }
      for (const [name, pairDir] of pairs) {
        const problems = await checkPair(pairDir, engine, scratch).catch((err) => [`check failed: ${err.message}`]);
        const outcome = existsSync(join(pairDir, 'export.tar')) ? 'exported' : 'refused';
        if (!problems.length) { results.agreed.push(name); log(`ok       ${name} (${outcome})`); continue; }
        const bucket = known[c.name] ? results.known : results.disagreed;
        bucket.push(name);
        log(`${known[c.name] ? 'KNOWN   ' : 'DISAGREE'} ${name} (${outcome})${known[c.name] ? `: ${known[c.name]}` : ''}`);
        for (const p of problems) log(`           ${p}`);
      }
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await engine.stop();
    removeEngineRoot(scratch);
  }
  log(`test:docker: ${results.agreed.length} agreed, ${results.disagreed.length} disagreed${results.disagreed.length ? ` (${results.disagreed.join(', ')})` : ''}, `
    + `${results.known.length} known disagreements${results.known.length ? ` (${results.known.join(', ')})` : ''}`);
  if (results.failed.length) log(`test:docker: FAILED to make: ${results.failed.join(', ')}`);
  if (results.notReached.length) log(`test:docker: NOT RUN (time budget of ${budgetMinutes} min spent): ${results.notReached.join(', ')}`);
  process.exitCode = results.disagreed.length || results.failed.length ? 1 : 0;
}

main().catch((err) => {
  console.error(`test:docker: ${err.message}`);
  process.exitCode = 2;
});
