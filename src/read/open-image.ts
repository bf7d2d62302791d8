/**
 * Open whatever the user named — an archive file, `-` for stdin, an OCI layout directory — and find
 * the image in it. The layout is detected from content, never from the file name: `manifest.json`
 * (what `docker load` reads first) wins, else an OCI `index.json`.
 * An archive that is itself gzip/zstd-compressed, or arrives on stdin, is spooled once to a private
 * temporary file so that members can be read in place with positional reads.
 */
import { closeSync, createWriteStream, openSync, readSync, statSync, constants as fsc } from 'node:fs';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { LayerfoldError } from '../errors.js';
import { decompressor, detectCompression } from '../io/compression.js';
import type { TempSpace } from '../io/temp.js';
import { readDockerManifest } from './docker-manifest.js';
import type { OpenedImage } from './image-support.js';
import { readOciLayout } from './oci.js';
import { platformMatches as platformMatchesLoose, type Platform } from './platform.js';
import { DirectorySource, readJson, TarArchiveSource, type ImageSource } from './source.js';

export interface OpenOptions {
  /** NAME:TAG of the image to pick when the archive holds several. */
  image?: string;
  platform?: Platform;
  /** Where stdin reads come from when the input is '-'. */
  stdin?: Readable;
}

async function spool(input: Readable, temp: TempSpace, label: string): Promise<string> {
  const path = temp.path('archive.tar');
  // Peek at the first bytes to see whether the stream itself is compressed.
  const chunks: Buffer[] = [];
  let head = Buffer.alloc(0);
  const iterator = input[Symbol.asyncIterator]();
  while (head.length < 4) {
    const next = await iterator.next();
    if (next.done) break;
    chunks.push(next.value as Buffer);
    head = Buffer.concat(chunks);
  }
  const kind = detectCompression(head);
  const { Readable: R } = await import('node:stream');
  const replay = R.from(
    (async function* () {
      if (head.length) yield head;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value as Buffer;
      }
    })(),
  );
  try {
    if (kind === 'none') await pipeline(replay, createWriteStream(path));
    else await pipeline(replay, decompressor(kind), createWriteStream(path));
  } catch (e) {
    throw new LayerfoldError('BAD_ARCHIVE', `${label}: could not read the ${kind === 'none' ? '' : `${kind}-compressed `}archive: ${(e as Error).message}`);
  }
  return path;
}

function headOf(path: string): Buffer {
  const fd = openSync(path, fsc.O_RDONLY);
  try {
    const buf = Buffer.alloc(4);
    const n = readSync(fd, buf, 0, 4, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Turn the named input into an ImageSource (an indexed archive or a layout directory). */
export async function openSource(input: string, temp: TempSpace, options: OpenOptions = {}): Promise<ImageSource> {
  if (input === '-') {
    const stdin = options.stdin ?? process.stdin;
    const path = await spool(stdin, temp, 'stdin');
    return new TarArchiveSource(openSync(path, fsc.O_RDONLY), 'stdin');
  }
  let st;
  try {
    st = statSync(input);
  } catch {
    throw new LayerfoldError('NOT_FOUND', `${input}: no such file or directory`);
  }
  if (st.isDirectory()) return new DirectorySource(input);
  if (st.size === 0) throw new LayerfoldError('BAD_ARCHIVE', `${input}: empty file, not an image archive`);
  const kind = detectCompression(headOf(input));
  if (kind !== 'none') {
    const path = await spool(createReadStream(input), temp, input);
    return new TarArchiveSource(openSync(path, fsc.O_RDONLY), input);
  }
  return new TarArchiveSource(openSync(input, fsc.O_RDONLY), input);
}

/** Find the image in a source. */
export function findImage(source: ImageSource, options: OpenOptions = {}): OpenedImage {
  if (source.has('manifest.json')) {
    const image = readDockerManifest(source, readJson(source, 'manifest.json'), options.image);
    if (options.platform && image.platform) {
      const [os, architecture, variant] = image.platform.split('/');
      const have = { os: os!, architecture: architecture!, ...(variant ? { variant } : {}) };
      // A manifest.json save holds one platform per image; --platform only confirms it.
      if (!platformMatchesLoose(options.platform, have)) {
        throw new LayerfoldError('NOT_FOUND', `no image for platform ${[options.platform.os, options.platform.architecture, options.platform.variant].filter(Boolean).join('/')}; the archive has: ${image.platform}`);
      }
    }
    return image;
  }
  if (source.has('index.json')) {
    const layout = source.kind === 'directory' ? 'oci-directory' : 'oci-archive';
    return readOciLayout(source, layout, readJson(source, 'index.json'), {
      ...(options.image !== undefined ? { image: options.image } : {}),
      ...(options.platform ? { platform: options.platform } : {}),
    });
  }
  const hint = source.kind === 'archive' && source.has('etc/passwd') ? ' (it looks like a root filesystem tar, not an image)' : '';
  throw new LayerfoldError('BAD_LAYOUT', `not an image archive: no manifest.json or index.json${hint}`);
}

