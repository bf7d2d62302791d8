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
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync, constants as fsc } from 'node:fs';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { LayerfoldError } from '../errors.js';
import { detectCompression } from '../io/compression.js';
import { spoolTo } from '../io/spool.js';
import type { TempSpace } from '../io/temp.js';
import type { NetTimeouts } from './net-guard.js';
import { readDockerManifest } from './docker-manifest.js';
import type { OpenedImage, UnpackProgress } from './image-support.js';
import { readOciLayout } from './oci.js';
import { isSkopeoDirManifest, readSkopeoDir } from './skopeo-dir.js';
import { openContainersStorage, StoreImageSource } from './containers-storage.js';
import { confirmPlatform, type Platform } from './platform.js';
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
  /** docker:// and docker-daemon:: connect, response, idle and speed limits (net-guard.ts). */
  timeouts?: Partial<NetTimeouts>;
  /** docker://: attempts after a transient failure, the first included (default 5). */
  attempts?: number;
  /**
   * docker://: unpack compressed layers as they arrive, for a reader that flattens them; default:
   * keep every blob as stored (config alone, squash --keep copying the kept layers' blobs).
   */
  unpackLayers?: boolean;
}

/** What a transport said about the image in a source: the layout it must be, the image it names. */
interface Selection {
  layout?: 'docker' | 'oci' | 'dir';
  image?: string;
  label: string;
}
const selections = new WeakMap<ImageSource, Selection>();

async function spool(input: Readable, temp: TempSpace, label: string, options: OpenOptions, total?: number): Promise<string> {
  const path = temp.path('archive.tar');
  const report = options.onUnpack;
  await spoolTo(input, path, {
    label,
    ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    ...(report ? { onRead: (read: number, all: number | undefined) => report('archive', read, all) } : {}),
    ...(total !== undefined ? { total } : {}),
  });
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
  if (ref.transport === 'containers-storage') return source; // already the image: findImage takes it as it is
  const layout = ref.transport === 'docker-archive' || ref.transport === 'docker-daemon' ? 'docker' : ref.transport === 'dir' ? 'dir' : 'oci';
  selections.set(source, { layout, label, ...(named !== undefined ? { image: named } : {}) });
  return source;
}

async function openTransport(ref: Exclude<ImageReference, { transport: 'path' }>, label: string, temp: TempSpace, options: OpenOptions): Promise<ImageSource> {
  switch (ref.transport) {
    case 'docker-archive':
    case 'oci-archive': {
      if (statOrMissing(ref.path).isDirectory()) throw new LayerfoldError('USAGE', `${label}: is a directory; an OCI layout directory is oci:${ref.path}, a skopeo copy dir:${ref.path}`);
      return openPath(ref.path, temp, options);
    }
    case 'oci':
      if (!statOrMissing(ref.dir).isDirectory()) throw new LayerfoldError('USAGE', `${label}: is not a directory; an OCI archive is oci-archive:${ref.dir}`);
      return new DirectorySource(ref.dir);
    case 'dir':
      if (!statOrMissing(ref.dir).isDirectory()) throw new LayerfoldError('USAGE', `${label}: is not a directory (dir: names what skopeo copy … dir:PATH wrote)`);
      return new DirectorySource(ref.dir);
    case 'docker-daemon': {
      // loaded on demand: http/https and the registry client cost start-up time every other command would pay
      const { daemonSaveStream } = await import('./daemon.js');
      const { NetTimeoutError } = await import('./net-guard.js');
      const stream = await daemonSaveStream(ref.name, options.env, options.timeouts);
      const path = await spool(stream, temp, label, options).catch((e: unknown) => {
        if (e instanceof NetTimeoutError) throw new NetTimeoutError(`${label}: the Docker engine at ${e.message}`);
        throw e;
      });
      return archiveAt(path, label);
    }
    case 'containers-storage':
      return openContainersStorage(ref.store, label, temp, options.env);
    case 'docker': {
      const dir = temp.path('registry-layout');
      const { pullToLayout } = await import('./registry/pull.js');
      const report = options.onUnpack;
      const unpacked = await pullToLayout(ref.reference, dir, {
        ...(options.platform ? { platform: options.platform } : {}),
        ...(options.creds !== undefined ? { creds: options.creds } : {}),
        ...(options.insecure ? { insecure: true } : {}),
        ...(options.env ? { env: options.env } : {}),
        ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
        ...(options.timeouts ? { timeouts: options.timeouts } : {}),
        ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
        ...(options.unpackLayers ? { unpackLayers: true } : {}),
        ...(report ? { onBytes: (read: number, total: number) => report('layers', read, total) } : {}),
      });
      return new DirectorySource(dir, unpacked);
    }
  }
}

/**
 * `export - < image.tar`: stdin is a regular file, so it is read where it lies, as a path is, instead
 * of spooled (a copy of every byte: on the 1 GiB image 4-5 s of CPU through the stream). Only where it
 * is sound: an uncompressed file (a compressed one is spooled through the decompressor as before),
 * read from its start (Linux's fdinfo says the descriptor's offset: a caller that consumed part of
 * stdin gets the rest spooled, as before), reopened through /proc/self/fd so the source owns its fd.
 * Anything else (a pipe, another OS, a stream without a descriptor) is spooled.
 */
function stdinFileInPlace(stdin: Readable): string | undefined {
  const fd = (stdin as { fd?: unknown }).fd;
  if (typeof fd !== 'number') return undefined;
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size === 0) return undefined;
    if (!/^pos:\s+0$/m.test(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))) return undefined;
    const path = `/proc/self/fd/${fd}`;
    return detectCompression(headOf(path)) === 'none' ? path : undefined;
  } catch {
    return undefined;
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
    const inPlace = stdinFileInPlace(stdin);
    if (inPlace !== undefined) return archiveAt(inPlace, 'stdin');
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

/**
 * Whether top-level names say "an image" rather than "a root filesystem" (diff decides side kinds with
 * it, for directories and tars alike): `manifest.json` (docker save, its unpacked directory, skopeo's
 * dir:) or `index.json` with `oci-layout` (an OCI layout; `index.json` alone is a plausible file of a
 * rootfs). `has` must answer for regular files only.
 */
export function holdsImageLayout(has: (name: string) => boolean): boolean {
  return has('manifest.json') || (has('index.json') && has('oci-layout'));
}

/** The layouts' own metadata files: an error about one of them reads "LAYOUT (FILE): what". */
const LAYOUT_FILE = /^(manifest\.json|index\.json|version|[a-f0-9]{64}\.manifest\.json): /;

/**
 * Run a layout reader so that its errors name the layout it recognised ("docker-archive (manifest.json):
 * expected a non-empty list of images", "oci layout: blobs/sha256/…: content is…"); codes are kept.
 */
function inLayout<T>(layout: string, read: () => T): T {
  const name = (e: unknown): never => {
    if (!(e instanceof LayerfoldError) || e.code === 'USAGE') throw e;
    const file = LAYOUT_FILE.exec(e.message);
    const message = file ? `${layout} (${file[1]}): ${e.message.slice(file[0].length)}` : `${layout}: ${e.message}`;
    const wrapped = new LayerfoldError(e.code, message, { cause: e.cause, exitCode: e.exitCode });
    wrapped.stack = e.stack;
    throw wrapped;
  };
  try {
    const result = read();
    // an async reader (the OCI walk yields to the event loop) fails later: name its layout too
    return (result instanceof Promise ? result.catch(name) : result) as T;
  } catch (e) {
    return name(e);
  }
}

/** Which layout a source with a manifest.json is, before that file is parsed: a dir: copy has a `version` file. */
function manifestLayoutName(source: ImageSource, selection: Selection | undefined): string {
  if (selection?.layout === 'dir') return 'skopeo dir';
  if (selection?.layout === 'docker') return 'docker-archive';
  return source.has('version') && !source.has('repositories') ? 'skopeo dir' : 'docker-archive';
}

function checkSelection(source: ImageSource, selection: Selection): void {
  const wanted = selection.layout === 'oci' ? 'index.json' : 'manifest.json';
  if (source.has(wanted)) return;
  const other = {
    docker: 'an OCI layout? use oci-archive:',
    oci: source.has('version') ? 'a skopeo copy? use dir:' : 'a docker save archive? use docker-archive:',
    dir: source.has('index.json') ? 'an OCI layout? use oci:' : 'is it what skopeo copy … dir: wrote?',
  }[selection.layout ?? 'oci'];
  throw new LayerfoldError('BAD_LAYOUT', `${selection.label}: no ${wanted} (${other})`);
}

/** Find the image in a source. */
export async function findImage(source: ImageSource, options: OpenOptions = {}): Promise<OpenedImage> {
  if (source instanceof StoreImageSource) {
    if (options.image !== undefined) throw new LayerfoldError('USAGE', `containers-storage: names its image after the store; --image ${options.image} cannot pick another`);
    return source.opened(options.platform);
  }
  const selection = selections.get(source);
  if (selection) {
    checkSelection(source, selection);
    if (selection.image !== undefined && options.image === undefined) options = { ...options, image: selection.image };
  }
  const wanted = {
    ...(options.image !== undefined ? { image: options.image } : {}),
    ...(options.platform ? { platform: options.platform } : {}),
  };
  if (source.has('manifest.json') && selection?.layout !== 'oci') {
    const manifest = inLayout(manifestLayoutName(source, selection), () => readJson(source, 'manifest.json'));
    // docker save's manifest.json is a list of images; a dir: copy's is one image manifest
    if (isSkopeoDirManifest(manifest)) {
      if (selection?.layout === 'docker') throw new LayerfoldError('BAD_LAYOUT', `${selection.label}: manifest.json is one image manifest, not docker save's list of images (a skopeo copy? use dir:)`);
      return inLayout('skopeo dir', () => readSkopeoDir(source, manifest, wanted));
    }
    if (selection?.layout === 'dir') throw new LayerfoldError('BAD_LAYOUT', `${selection.label}: manifest.json is docker save's list of images, not one image manifest (a docker save archive? use docker-archive:)`);
    const image = inLayout('docker-archive', () => readDockerManifest(source, manifest, options.image));
    // A manifest.json save holds one platform per image; --platform only confirms it.
    confirmPlatform(options.platform, image.platform, 'the archive has:');
    return image;
  }
  if (source.has('index.json')) {
    const layout = source.kind === 'directory' ? 'oci-directory' : 'oci-archive';
    return inLayout(source.kind === 'directory' ? 'oci layout' : 'oci-archive', () => readOciLayout(source, layout, readJson(source, 'index.json'), wanted));
  }
  const hint = source.kind === 'archive' && source.has('etc/passwd') ? ' (it looks like a root filesystem tar, not an image)' : '';
  throw new LayerfoldError('BAD_LAYOUT', `not an image archive: no manifest.json or index.json${hint}`);
}
