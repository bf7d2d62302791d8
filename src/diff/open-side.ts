/**
 * Turn what the user named into the entries of one side, recognising its kind from content, never
 * from its name:
 * - a directory or a tar whose top-level names say image (`holdsImageLayout`: `manifest.json` of a
 *   docker save or a skopeo dir: copy, or `index.json` with `oci-layout`) is an image, flattened on the
 *   fly; any other directory is a rootfs, any other tar a rootfs tar;
 * - a file (or `-`, stdin) starting with gzip or zstd magic bytes is decompressed once to a private
 *   temporary file (src/io/temp.ts: removed at the end, on error and on a signal), so that headers
 *   and contents are then read with positional reads;
 * - a skopeo-style transport reference (`docker-archive:`, `oci:`, `docker://`…) is an image.
 */
import { closeSync, createReadStream, openSync, readSync, statSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { addContext, LayerfoldError } from '../errors.js';
import { detectCompression, type Compression } from '../io/compression.js';
import { spoolTo } from '../io/spool.js';
import type { TempSpace } from '../io/temp.js';
import type { FlattenOptions } from '../flatten.js';
import { holdsImageLayout } from '../read/open-image.js';
import { parseImageReference } from '../read/transports.js';
import { readDirectorySide, streamDirectorySide } from './dir-side.js';
import type { DiffEntry, SideEntries, SideKind, SideStream } from './entries.js';
import { readImageSide, streamImageSide } from './image-side.js';
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

/** Copy a stream to a temp file, decompressing it when its first bytes say so, within --max-size. */
async function spool(input: Readable, temp: TempSpace, label: string, maxSize: number | undefined): Promise<{ path: string; compression: Compression }> {
  const path = temp.path('side.tar');
  const compression = await spoolTo(input, path, { label, noun: 'input', ...(maxSize !== undefined ? { maxSize } : {}) });
  return { path, compression };
}

async function plainTar(input: string, temp: TempSpace, stdin: Readable | undefined, maxSize: number | undefined): Promise<{ path: string; compression: Compression }> {
  if (input === '-') return spool(stdin ?? process.stdin, temp, 'stdin', maxSize);
  const compression = detectCompression(head(input));
  if (compression === 'none') return { path: input, compression };
  return spool(createReadStream(input), temp, input, maxSize);
}

function isImageTar(path: string): boolean {
  const names = tarNames(path);
  return holdsImageLayout((name) => names.has(name));
}

function isImageDir(dir: string): boolean {
  return holdsImageLayout((name) => {
    try {
      return statSync(join(dir, name)).isFile();
    } catch {
      return false;
    }
  });
}

/** Find what `input` is and where its uncompressed bytes are. */
export async function locateSide(input: string, temp: TempSpace, stdin?: Readable, maxSize?: number): Promise<LocatedSide> {
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
      const kind: SideKind = isImageDir(input) ? 'image' : 'directory';
      return { input, kind, compression: 'none', path: input };
    }
  }
  const { path, compression } = await plainTar(input, temp, stdin, maxSize);
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

/** Errors met while the entries are read name the side, as readSide's do. */
function* labelled(entries: Iterable<DiffEntry>, label: string): Generator<DiffEntry> {
  try {
    yield* entries;
  } catch (e) {
    throw addContext(label, e);
  }
}

/** The entries of an image or directory side, read as they are compared (diff.ts says which sides). */
export async function streamSide(side: LocatedSide, options: SideOptions): Promise<SideStream> {
  const label = side.input === '-' ? 'stdin' : side.input;
  const base = { input: side.input, kind: side.kind, compression: side.compression };
  if (side.kind === 'directory') return { ...base, ...streamDirectorySide(side.path, label), close: () => {} };
  if (side.kind !== 'image') throw new Error(`a ${side.kind} side is not read as a stream`);
  try {
    const image = await streamImageSide(side.path, { ...options.flatten, footprint: options.footprint });
    return { ...base, ...image, entries: labelled(image.entries, label), xattrsKnown: true };
  } catch (e) {
    throw addContext(label, e);
  }
}
