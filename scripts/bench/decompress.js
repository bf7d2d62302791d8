#!/usr/bin/env node
/**
 * The decompress-alone floor: `node decompress.js gzip|zstd CONCURRENCY FILE…` streams each blob
 * through node's zlib (1 MiB chunks, as layerfold uses it) or zstd-napi and discards the output,
 * CONCURRENCY blobs at a time (zlib and zstd-napi run off the main thread, so 2 uses both cores).
 * No hashing, no writing: the least any tool must do to read those layers.
 */
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { createGunzip } from 'node:zlib';

const [kind, concurrency, ...files] = process.argv.slice(2);
const sink = () => new Writable({ write: (_c, _e, done) => done(), highWaterMark: 1 << 20 });
// zstd as layerfold decodes it: node:zlib where Node has it, else zstd-napi
const zstd = zlib.createZstdDecompress ? () => zlib.createZstdDecompress({ chunkSize: 1 << 20 }) : await import('zstd-napi').then((m) => () => new m.DecompressStream());
const decoder = () => (kind === 'gzip' ? createGunzip({ chunkSize: 1 << 20 }) : zstd());
const queue = [...files];
async function worker() {
  for (let f; (f = queue.shift()); ) await pipeline(createReadStream(f, { highWaterMark: 1 << 20 }), decoder(), sink());
}
await Promise.all(Array.from({ length: Number(concurrency) || 1 }, worker));
