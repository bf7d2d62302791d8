#!/usr/bin/env node
/**
 * `node gzip-alone.js LAYER.tar OUT.gz`: gzip one file with node's zlib at its default level (6), 1 MiB
 * chunks — what `layerfold squash --compress gzip` does to its layer, without the rest: the baseline
 * its gzip output is measured against.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

const [input, output] = process.argv.slice(2);
await pipeline(createReadStream(input, { highWaterMark: 1 << 20 }), createGzip({ chunkSize: 1 << 20 }), createWriteStream(output));
