#!/usr/bin/env node
/**
 * Time to first byte of `layerfold export IMAGE -o -`: spawns it with stdout piped, discards the
 * bytes, prints JSON {first, total, bytes} in seconds: when the first output byte arrived and when
 * the process ended. Streaming means first ≪ total.
 */
import { spawn } from 'node:child_process';

const [bin, image] = process.argv.slice(2);
const start = process.hrtime.bigint();
const secs = () => Number(process.hrtime.bigint() - start) / 1e9;
const child = spawn('nice', ['-n', '10', process.execPath, bin, 'export', image, '-o', '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
let first;
let bytes = 0;
child.stdout.on('data', (chunk) => {
  first ??= secs();
  bytes += chunk.length;
});
child.on('close', (code) => {
  if (code !== 0) process.exit(code ?? 1);
  console.log(JSON.stringify({ first, total: secs(), bytes }));
});
