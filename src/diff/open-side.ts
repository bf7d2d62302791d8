/**
 * Turn what the user named into the entries of one side, recognising its kind from content, never
 * from its name:
 * - a directory holding `index.json` is an OCI layout (an image); any other directory is a rootfs;
 * - a file (or `-`, stdin) starting with gzip or zstd magic bytes is decompressed once to a private
 *   temporary file (src/io/temp.ts: removed at the end, on error and on a signal), so that headers
 *   and contents are then read with positional reads;
 * - a tar holding a top-level `manifest.json`, or `index.json` and `oci-layout`, is an image archive
 *   (flattened on the fly); any other tar is a rootfs tar;
 * - a skopeo-style transport reference (`docker-archive:`, `oci:`, `docker://`…) is an image.
 */
import { closeSync, createReadStream, createWriteStream, existsSync, openSync, readSync, statSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { addContext, LayerfoldError } from '../errors.js';
import { decompressor, detectCompression, type Compression } from '../io/compression.js';
import type { TempSpace } from '../io/temp.js';
import type { FlattenOptions } from '../flatten.js';
import { parseImageReference } from '../read/transports.js';
import { readDirectorySide } from './dir-side.js';
import type { SideEntries, SideKind } from './entries.js';
import { readImageSide } from './image-side.js';
import { readTarSide, tarNames } from './tar-side.js';

/** Where a side's bytes are, once found and decompressed. */
export interface LocatedSide {
  input: string;
  kind: SideKind;
  compression: Compression;
  /** The uncompressed tar (rootfs tars and image archives) or the directory. */
  path: string;
}

export interface SideOptions {
  /** How image sides are flattened. */
  flatten: FlattenOptions;
  /** Compute image sides' init footprint (for --ignore-init). */
  footprint: boolean;
  /** Source of `-`. */
  stdin?: Readable;
}

function head(path: string): Buffer {
  const fd = openSync(path, fsc.O_RDONLY);
  try {
    const buf = Buffer.alloc(4);
    return buf.subarray(0, readSync(fd, buf, 0, 4, 0));
  } finally {
    closeSync(fd);
  }
}

/** Copy a stream to a temp file, decompressing it when its first bytes say so. */
async function spool(input: Readable, temp: TempSpace, label: string): Promise<{ path: string; compression: Compression }> {
  const iterator = input[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let first = Buffer.alloc(0);
  while (first.length < 4) {
    const next = await iterator.next();
    if (next.done) break;
    chunks.push(Buffer.from(next.value as Buffer));
    first = Buffer.concat(chunks);
  }
  const compression = detectCompression(first);
  const { Readable: R } = await import('node:stream');
  const replay = R.from(
    (async function* () {
      if (first.length > 0) yield first;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value as Buffer;
      }
    })(),
  );
  const path = temp.path('side.tar');
  try {
    if (compression === 'none') await pipeline(replay, createWriteStream(path));
    else await pipeline(replay, decompressor(compression), createWriteStream(path));
  } catch (e) {
    throw new LayerfoldError('BAD_ARCHIVE', `${label}: could not read the ${compression === 'none' ? '' : `${compression}-compressed `}input: ${(e as Error).message}`);
  }
  return { path, compression };
}

async function plainTar(input: string, temp: TempSpace, stdin: Readable | undefined): Promise<{ path: string; compression: Compression }> {
  if (input === '-') return spool(stdin ?? process.stdin, temp, 'stdin');
  const compression = detectCompression(head(input));
  if (compression === 'none') return { path: input, compression };
  return spool(createReadStream(input), temp, input);
}

function isImageTar(path: string): boolean {
  const names = tarNames(path);
  return names.has('manifest.json') || (names.has('index.json') && names.has('oci-layout'));
}

/** Find what `input` is and where its uncompressed bytes are. */
export async function locateSide(input: string, temp: TempSpace, stdin?: Readable): Promise<LocatedSide> {
  // docker-archive:, oci-archive:, oci:, docker-daemon:, docker:// name an image whatever they hold
  if (parseImageReference(input).transport !== 'path') return { input, kind: 'image', compression: 'none', path: input };
  if (input !== '-') {
    let st;
    try {
      st = statSync(input);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new LayerfoldError('NOT_FOUND', `${input}: no such file or directory`);
      throw new LayerfoldError('IO', `${input}: ${(e as Error).message}`, { cause: e });
    }
    if (st.isDirectory()) {
      const kind: SideKind = existsSync(join(input, 'index.json')) ? 'image' : 'directory';
      return { input, kind, compression: 'none', path: input };
    }
  }
  const { path, compression } = await plainTar(input, temp, stdin);
  try {
    return { input, kind: isImageTar(path) ? 'image' : 'rootfs-tar', compression, path };
  } catch (e) {
    throw addContext(input === '-' ? 'stdin' : input, e);
  }
}

/** The entries of a located side. */
export async function readSide(side: LocatedSide, options: SideOptions): Promise<SideEntries> {
  const label = side.input === '-' ? 'stdin' : side.input;
  const base = { input: side.input, kind: side.kind, compression: side.compression };
  if (side.kind === 'rootfs-tar') return { ...base, ...readTarSide(side.path, label), xattrsKnown: true };
  if (side.kind === 'directory') return { ...base, ...readDirectorySide(side.path, label) };
  try {
    const image = await readImageSide(side.path, { ...options.flatten, footprint: options.footprint });
    return { ...base, ...image, xattrsKnown: true };
  } catch (e) {
    throw addContext(label, e);
  }
}
