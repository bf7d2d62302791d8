#!/usr/bin/env node
/**
 * `npm run fixtures [-- CASE...] [--out DIR] [--no-docker20]`: regenerates fixtures/docker/<case>/ from
 * fixtures/cases/*.json with real engines — Docker 26.1 (the target format; its export is the
 * reference) and Docker 20.10 (legacy `docker save` for cases marked docker20) — started here as
 * ../shared/docker-engine.md describes and stopped at the end. Cases with `"commit": false` are only
 * built by `npm run test:docker`; "reduced" cases commit their built upper layers over a stub base.
 * Refuses to commit a case folder over 400 KB, to keep the repository small.
 */
import { existsSync, readdirSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCases } from './fixtures/cases.js';
import { ensureTools, removeEngineRoot, startEngine } from './fixtures/engine.js';
import { makeCase, makeReduced } from './fixtures/corpus.js';

const MAX_CASE_BYTES = 400 * 1024;
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const outRoot = outIndex >= 0 ? args.splice(outIndex, 2)[1] : new URL('../fixtures/docker/', import.meta.url).pathname;
const noDocker20 = args.includes('--no-docker20');
const only = args.filter((a) => !a.startsWith('--'));
const log = (line) => console.log(line);

const folderBytes = (dir) => readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);

async function main() {
  const cases = loadCases(only);
  ensureTools(log);
  const engineRoot = mkdtempSync(join('/tmp', 'lf-engines-'));
  const engines = [];
  try {
    const engine = await startEngine('26', join(engineRoot, 'd26'), { log });
    engines.push(engine);
    let engine20 = null;
    if (!noDocker20 && cases.some((c) => c.docker20)) {
      engine20 = await startEngine('20', join(engineRoot, 'd20'), { log });
      engines.push(engine20);
    }
    const ctx = { engine, engine20, log };
    const problems = [];
    for (const c of cases) {
      if (c.commit === false) { log(`${c.name}: generated only (npm run test:docker)`); continue; }
      const started = Date.now();
      const dir = join(outRoot, c.name);
      let outcome;
      if (c.commit === 'reduced') {
        const scratch = mkdtempSync(join(tmpdir(), `lf-${c.name}-`));
        const built = await makeCase(c, scratch, ctx);
        outcome = built.reducedLayers ? `reduced, ${await makeReduced(c, built.reducedLayers, dir, ctx)}` : `build ${built.outcome}, nothing committed`;
        rmSync(scratch, { recursive: true, force: true });
      } else {
        outcome = (await makeCase(c, dir, ctx)).outcome;
      }
      const bytes = existsSync(dir) ? folderBytes(dir) : 0;
      if (bytes > MAX_CASE_BYTES) problems.push(`${c.name}: ${bytes} bytes, over ${MAX_CASE_BYTES}; make it smaller or mark it "commit": false`);
      log(`${c.name}: ${outcome} (${Math.round(bytes / 1024)} KB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
    const stale = readdirSync(outRoot).filter((d) => existsSync(join(outRoot, d, 'docker-version.txt')) && !loadCases().some((c) => c.name === d));
    if (stale.length) log(`folders with no case file (left alone): ${stale.join(', ')}`);
    if (problems.length) throw new Error(problems.join('\n'));
  } finally {
    for (const e of engines) await e.stop();
    removeEngineRoot(engineRoot);
  }
}

main().catch((err) => {
  console.error(`make-fixtures: ${err.message}`);
  process.exitCode = 2;
});
