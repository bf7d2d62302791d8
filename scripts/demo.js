#!/usr/bin/env node
// `npm run demo`: flatten a small bundled image and show that the result is what docker exported.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportRootfs } from '../dist/index.js';
import { parseTime } from '../dist/cli/api.js';

const pair = new URL('../fixtures/conformance/natural-docker26/', import.meta.url).pathname;
const created = readFileSync(join(pair, 'created.txt'), 'utf8').trim();
const dir = mkdtempSync(join(tmpdir(), 'layerfold-demo-'));
const out = join(dir, 'rootfs.tar');
try {
  console.log(`layerfold export ${join(pair, 'image.tar')} --docker-init=${created} -o ${out}`);
  const started = process.hrtime.bigint();
  const result = await exportRootfs(join(pair, 'image.tar'), { output: out, dockerInit: parseTime(created, 'created') });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const ours = readFileSync(out);
  const docker = readFileSync(join(pair, 'export.tar'));
  console.log(`wrote ${result.entries} entries, ${ours.length} bytes in ${ms.toFixed(0)} ms`);
  if (ours.equals(docker)) {
    console.log(`byte-identical to the \`docker export\` made by Docker ${readFileSync(join(pair, 'docker-version.txt'), 'utf8').trim()} (${join(pair, 'export.tar')})`);
  } else {
    console.error('DIFFERENT from docker export: this is a bug');
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
