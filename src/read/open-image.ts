/**
 * Open whatever the user named — an archive file, `-` for stdin, an OCI layout directory — and find
 * the image in it. The layout is detected from content, never from the file name: `manifest.json`
 * (what `docker load` reads first) wins, else an OCI `index.json`.
 * An archive that is itself gzip/zstd-compressed, or arrives on stdin, is spooled once to a private
 * temporary file so that members can be read in place with positional reads.
 * An input named with a skopeo transport (transports.ts) is dispatched first: `docker-daemon:` is
 * spooled like stdin, `docker://` is pulled into an OCI layout directory in the TempSpace, and the
 * file transports insist on the layout they name.
 */
import { closeSync, createWriteStream, openSync, readSync, statSync, constants as fsc } from 'node:fs';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { LayerfoldError } from '../errors.js';
import { decompressor, detectCompression } from '../io/compression.js';
import type { TempSpace } from '../io/temp.js';
import { readDockerManifest } from './docker-manifest.js';
import type { OpenedImage, UnpackProgress } from './image-support.js';
import { readOciLayout } from './oci.js';
import { platformMatches as platformMatchesLoose, type Platform } from './platform.js';
import { DirectorySource, readJson, TarArchiveSource, type ImageSource } from './source.js';
import { describeReference, parseImageReference, type ImageReference } from './transports.js';

export interface OpenOptions {
  /** NAME:TAG of the image to pick when the archive holds several. */
  image?: string;
  platform?: Platform;
  /** Where stdin reads come from when the input is '-'. */
  stdin?: Readable;
  /** Registry credentials `USER:PASS` for docker:// (default: docker's config file, else anonymous). */
  creds?: string;
  /** docker://: accept any certificate, and plain HTTP. */
  insecure?: boolean;
  /** DOCKER_HOST, DOCKER_CONFIG, SSL_CERT_FILE… (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Refuse a stdin or compressed archive that spools to more bytes than this (--max-size). */
  maxSize?: number;
  /** Bytes read while a piped or compressed archive is spooled. */
  onUnpack?: UnpackProgress;
}

/** What a transport said about the image in a source: the layout it must be, the image it names. */
interface Selection {
  layout?: 'docker' | 'oci';
  image?: string;
  label: string;
}
const selections = new WeakMap<ImageSource, Selection>();

async function spool(input: Readable, temp: TempSpace, label: string, options: OpenOptions, total?: number): Promise<string> {
  const maxSize = options.maxSize ?? Number.MAX_SAFE_INTEGER;
  const report = options.onUnpack;
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
  let read = 0;
  const replay = R.from(
    (async function* () {
      read += head.length;
      if (head.length) yield head;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        read += (next.value as Buffer).length;
        report?.('archive', read, total);
        yield next.value as Buffer;
      }
    })(),
  );
  let spooled = 0;
  const limit = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      spooled += chunk.length;
      if (spooled > maxSize) throw new LayerfoldError('LIMIT', `${label}: the archive unpacks to more than ${maxSize} bytes (--max-size)`);
      yield chunk;
    }
  };
  try {
    if (kind === 'none') await pipeline(replay, limit, createWriteStream(path));
    else await pipeline(replay, decompressor(kind), limit, createWriteStream(path));
  } catch (e) {
    if (e instanceof LayerfoldError) throw e;
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

/** Turn the named input (a path, `-`, or a transport reference) into an ImageSource. */
export async function openSource(input: string, temp: TempSpace, options: OpenOptions = {}): Promise<ImageSource> {
  const ref = parseImageReference(input);
  if (ref.transport === 'path') return openPath(ref.path, temp, options);
  const label = describeReference(ref);
  const named = 'image' in ref ? ref.image : undefined;
  if (named !== undefined && options.image !== undefined && named !== options.image) {
    throw new LayerfoldError('USAGE', `${input}: names image ${named}, but --image says ${options.image}`);
  }
  const source = await openTransport(ref, label, temp, options);
  const layout = ref.transport === 'docker-archive' || ref.transport === 'docker-daemon' ? 'docker' : 'oci';
  selections.set(source, { layout, label, ...(named !== undefined ? { image: named } : {}) });
  return source;
}

async function openTransport(ref: Exclude<ImageReference, { transport: 'path' }>, label: string, temp: TempSpace, options: OpenOptions): Promise<ImageSource> {
  switch (ref.transport) {
    case 'docker-archive':
    case 'oci-archive': {
      if (statOrMissing(ref.path).isDirectory()) throw new LayerfoldError('USAGE', `${label}: is a directory; an OCI layout directory is oci:${ref.path}`);
      return openPath(ref.path, temp, options);
    }
    case 'oci':
      if (!statOrMissing(ref.dir).isDirectory()) throw new LayerfoldError('USAGE', `${label}: is not a directory; an OCI archive is oci-archive:${ref.dir}`);
      return new DirectorySource(ref.dir);
    case 'docker-daemon': {
      // loaded on demand: http/https and the registry client cost start-up time every other command would pay
      const { daemonSaveStream } = await import('./daemon.js');
      const stream = await daemonSaveStream(ref.name, options.env);
      const path = await spool(stream, temp, label, options);
      return archiveAt(path, label);
    }
    case 'docker': {
      const dir = temp.path('registry-layout');
      const { pullToLayout } = await import('./registry/pull.js');
      await pullToLayout(ref.reference, dir, {
        ...(options.platform ? { platform: options.platform } : {}),
        ...(options.creds !== undefined ? { creds: options.creds } : {}),
        ...(options.insecure ? { insecure: true } : {}),
        ...(options.env ? { env: options.env } : {}),
      });
      return new DirectorySource(dir);
    }
  }
}

/** The archive at path, its fd closed again if it is refused (the source owns it only once made). */
function archiveAt(path: string, label: string): TarArchiveSource {
  const fd = openSync(path, fsc.O_RDONLY);
  try {
    return new TarArchiveSource(fd, label);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function statOrMissing(path: string) {
  try {
    return statSync(path);
  } catch {
    throw new LayerfoldError('NOT_FOUND', `${path}: no such file or directory`);
  }
}

async function openPath(input: string, temp: TempSpace, options: OpenOptions): Promise<ImageSource> {
  if (input === '-') {
    const stdin = options.stdin ?? process.stdin;
    const path = await spool(stdin, temp, 'stdin', options);
    return archiveAt(path, 'stdin');
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
    const path = await spool(createReadStream(input), temp, input, options, st.size);
    return archiveAt(path, input);
  }
  return archiveAt(input, input);
}

/** Find the image in a source. */
export async function findImage(source: ImageSource, options: OpenOptions = {}): Promise<OpenedImage> {
  const selection = selections.get(source);
  if (selection) {
    const wanted = selection.layout === 'docker' ? 'manifest.json' : 'index.json';
    if (!source.has(wanted)) {
      const other = selection.layout === 'docker' ? 'an OCI layout? use oci-archive:' : 'a docker save archive? use docker-archive:';
      throw new LayerfoldError('BAD_LAYOUT', `${selection.label}: no ${wanted} (${other})`);
    }
    if (selection.image !== undefined && options.image === undefined) options = { ...options, image: selection.image };
  }
  if (source.has('manifest.json') && selection?.layout !== 'oci') {
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

