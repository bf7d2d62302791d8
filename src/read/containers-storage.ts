/**
 * `containers-storage:[DRIVER@ROOT+RUNROOT]IMAGE`: an image straight from the store podman, buildah and
 * CRI-O keep (containers/storage), without podman running. Only files are read:
 *
 *   ROOT/DRIVER-images/images.json        the images: id, names, digest, top layer, big-data names
 *   ROOT/DRIVER-images/ID/<key>           big data: `manifest`, the config under its digest; a key with
 *                                          characters outside [.0-9a-z] is stored as `=` + base64(key)
 *   ROOT/DRIVER-layers/layers.json        the layers: id, parent, diff-digest (uncompressed), diff-size
 *   ROOT/DRIVER-layers/ID.tar-split.gz    the layer's tar as tar-split JSON lines: `segment` entries hold
 *                                          the header and padding bytes, `file` entries name a file and
 *                                          its size, whose bytes are in the layer's diff directory
 *   ROOT/overlay/ID/diff, ROOT/vfs/dir/ID the diff directory (overlay, vfs)
 *
 * Each layer's tar is reproduced byte for byte (segments verbatim, file data read from the diff
 * directory straight into one 1 MiB write buffer, never held whole) into the TempSpace, once, as a compressed layer is decompressed;
 * then it is an ordinary uncompressed layer: hashed against layers.json's diff-digest and the config's
 * diff_id by layers.ts, and applied as every other layer. The store is read without its locks: run it
 * while nothing writes to the store (an image being pulled or removed at the same time may fail the
 * digest check, never pass it wrongly). RUNROOT is accepted for skopeo's syntax and not needed.
 */
import { closeSync, createReadStream, existsSync, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync, writeSync, constants as fsc } from 'node:fs';
import { homedir } from 'node:os';
import { join, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { LayerfoldError, printable, showName } from '../errors.js';
import type { TempSpace } from '../io/temp.js';
import { cleanPath } from '../tree/paths.js';
import { parseImageConfig } from './config.js';
import { isDigest, whyNotDigest } from './digest.js';
import { normaliseRef, verifyBlobBytes, type LayerRef, type OpenedImage } from './image-support.js';
import { confirmPlatform, formatPlatform, platformOfConfig, type Platform } from './platform.js';
import type { Blob, ImageSource } from './source.js';

export const STORE_DRIVERS = ['overlay', 'vfs'] as const;
export type StoreDriver = (typeof STORE_DRIVERS)[number];

export interface StoreReference {
  driver?: string;
  root?: string;
  runroot?: string;
  /** NAME[:TAG], NAME@DIGEST, an image ID or a unique prefix of one, or @ID. */
  image: string;
}

/** skopeo's syntax: `[DRIVER@ROOT+RUNROOT:OPTIONS]IMAGE`, every part of the bracket optional. */
export function parseStoreReference(rest: string, input: string): StoreReference {
  let image = rest;
  const ref: Omit<StoreReference, 'image'> = {};
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new LayerfoldError('USAGE', `${input}: no ] after [DRIVER@ROOT+RUNROOT`);
    let spec = rest.slice(1, close);
    image = rest.slice(close + 1);
    const colon = spec.indexOf(':');
    if (colon >= 0) spec = spec.slice(0, colon); // driver options: not needed to read the store
    const at = spec.indexOf('@');
    if (at >= 0) {
      ref.driver = spec.slice(0, at);
      spec = spec.slice(at + 1);
    }
    const plus = spec.indexOf('+');
    const root = plus >= 0 ? spec.slice(0, plus) : spec;
    if (plus >= 0 && spec.slice(plus + 1) !== '') ref.runroot = spec.slice(plus + 1);
    if (root !== '') ref.root = root;
    if (ref.driver !== undefined && !(STORE_DRIVERS as readonly string[]).includes(ref.driver)) {
      throw new LayerfoldError('UNSUPPORTED', `${input}: storage driver ${JSON.stringify(ref.driver)}; only ${STORE_DRIVERS.join(' and ')} stores are read`);
    }
  }
  if (image === '') throw new LayerfoldError('USAGE', `${input}: containers-storage: needs an image, e.g. containers-storage:localhost/app:1`);
  return { ...ref, image };
}

/** The store's settings from storage.conf: `key = "value"` lines of its [storage] table (no other TOML). */
function readStorageConf(path: string): { driver?: string; graphroot?: string; rootlessStoragePath?: string } {
  const out: { driver?: string; graphroot?: string; rootlessStoragePath?: string } = {};
  let table = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      table = header[1]!.trim();
      continue;
    }
    const kv = /^([A-Za-z_]+)\s*=\s*"([^"]*)"$/.exec(line);
    if (table !== 'storage' || !kv) continue;
    if (kv[1] === 'driver' && kv[2] !== '') out.driver = kv[2];
    if (kv[1] === 'graphroot') out.graphroot = kv[2];
    if (kv[1] === 'rootless_storage_path') out.rootlessStoragePath = kv[2];
  }
  return out;
}

/**
 * ROOT and DRIVER when the reference leaves them out, as podman finds them: storage.conf
 * (CONTAINERS_STORAGE_CONF, else ~/.config/containers/storage.conf for a user, else
 * /etc/containers/storage.conf), else /var/lib/containers/storage for root and
 * $XDG_DATA_HOME/containers/storage (~/.local/share/…) for a user; under `podman unshare`, the
 * CONTAINERS_GRAPHROOT it sets.
 */
export function storeLocation(ref: StoreReference, env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0, systemConf = '/etc/containers/storage.conf'): { root: string; driver?: string } {
  // inside `podman unshare` the user is uid 0 of a user namespace: podman says so, and where its store is
  if (env._CONTAINERS_ROOTLESS_UID) uid = Number(env._CONTAINERS_ROOTLESS_UID);
  const home = env.HOME ?? homedir();
  const userConf = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'storage.conf');
  const confPath = [env.CONTAINERS_STORAGE_CONF, uid !== 0 ? userConf : undefined, systemConf].find((p): p is string => !!p && existsSync(p));
  const conf = confPath ? readStorageConf(confPath) : {};
  const defaultRoot = uid === 0 ? (conf.graphroot || '/var/lib/containers/storage') : (conf.rootlessStoragePath?.replace('$HOME', home) ?? (confPath === userConf ? conf.graphroot : undefined) ?? join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'containers', 'storage'));
  const driver = ref.driver ?? conf.driver ?? env.STORAGE_DRIVER;
  return { root: ref.root ?? (env.CONTAINERS_GRAPHROOT || defaultRoot), ...(driver ? { driver } : {}) };
}

interface StoreImage {
  id: string;
  names?: string[];
  digest?: string;
  digests?: string[];
  layer?: string;
}

interface StoreLayer {
  id: string;
  parent?: string;
  'diff-digest'?: string;
  'diff-size'?: number;
}

const MAX_METADATA = 256 * 1024 * 1024;

function readStoreJson(path: string, label: string): unknown {
  let text: string;
  try {
    if (statSync(path).size > MAX_METADATA) throw new LayerfoldError('BAD_LAYOUT', `${label}: larger than ${MAX_METADATA} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof LayerfoldError) throw e;
    throw new LayerfoldError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `${label}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LayerfoldError('BAD_LAYOUT', `${label}: not valid JSON (${(e as Error).message})`);
  }
}

function listOf<T>(json: unknown, label: string): T[] {
  if (json === null) return [];
  if (!Array.isArray(json) || !json.every((x) => typeof x === 'object' && x !== null && typeof (x as { id?: unknown }).id === 'string')) {
    throw new LayerfoldError('BAD_LAYOUT', `${label}: expected a list of objects with an id`);
  }
  return json as T[];
}

/** containers/storage's file name for a big-data key. */
export function bigDataFileName(key: string): string {
  return /^[.0-9a-z]+$/.test(key) ? key : `=${Buffer.from(key, 'utf8').toString('base64')}`;
}

const HEX64 = /^[a-f0-9]{64}$/;

/** The image IMAGE names: an ID or unique ID prefix, @ID, NAME@DIGEST, or NAME[:TAG] (short names as podman resolves them, localhost/ first). */
function pickImage(images: StoreImage[], wanted: string, label: string): StoreImage {
  const id = wanted.startsWith('@') ? wanted.slice(1) : wanted;
  if (/^[a-f0-9]{3,64}$/.test(id)) {
    const hits = images.filter((i) => i.id.startsWith(id));
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) throw new LayerfoldError('NOT_FOUND', `${label}: ${id} is the start of ${hits.length} image IDs`);
    if (wanted.startsWith('@')) throw new LayerfoldError('NOT_FOUND', `${label}: no image with ID ${id}`);
  }
  const at = wanted.indexOf('@');
  if (at > 0) {
    const digest = wanted.slice(at + 1);
    const name = wanted.slice(0, at);
    const hit = images.find((i) => (i.digest === digest || i.digests?.includes(digest)) && (i.names ?? []).some((n) => n.split(':')[0] === name || n.startsWith(`${name}:`) || normaliseRef(n).split(':')[0] === normaliseRef(name).split(':')[0]));
    if (hit) return hit;
  } else {
    const want = normaliseRef(wanted);
    const forms = [wanted, `localhost/${want}`, want];
    for (const form of forms) {
      const hit = images.find((i) => (i.names ?? []).some((n) => n === form || normaliseRef(n) === form));
      if (hit) return hit;
    }
  }
  const names = images.flatMap((i) => i.names ?? []).slice(0, 20).map(printable);
  throw new LayerfoldError('NOT_FOUND', `${label}: no such image in the store; it holds: ${names.join(', ') || '(no named images)'}`);
}

/** The layers from the bottom up to `top`, following parent links. */
function layerChain(layers: StoreLayer[], top: string, label: string): StoreLayer[] {
  const byId = new Map(layers.map((l) => [l.id, l]));
  const chain: StoreLayer[] = [];
  for (let id: string | undefined = top; id !== undefined && id !== ''; id = byId.get(id)?.parent) {
    const layer = byId.get(id);
    if (!layer) throw new LayerfoldError('NOT_FOUND', `${label}: layer ${id} is not in layers.json`);
    if (chain.length > 1000) throw new LayerfoldError('BAD_LAYOUT', `${label}: the layers' parent links loop or go deeper than 1000`);
    chain.push(layer);
  }
  return chain.reverse();
}

/** One line of tar-split's JSON: a segment of raw tar bytes, or a file whose bytes are in the diff directory. */
interface TarSplitEntry {
  type: 1 | 2;
  name?: string;
  name_raw?: string;
  size?: number;
  payload?: string | null;
}

function parseTarSplitLine(line: string, label: string, n: number): TarSplitEntry {
  let e: unknown;
  try {
    e = JSON.parse(line);
  } catch (err) {
    throw new LayerfoldError('BAD_LAYER', `${label}: line ${n} is not JSON (${(err as Error).message})`);
  }
  const entry = e as Partial<TarSplitEntry> | null;
  if (!entry || (entry.type !== 1 && entry.type !== 2)) throw new LayerfoldError('BAD_LAYER', `${label}: line ${n} is neither a file nor a segment entry`);
  return entry as TarSplitEntry;
}

/** The layer's tar as it is rebuilt: written through one 1 MiB buffer, file data read straight into it. */
class LayerWriter {
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  size = 0;
  constructor(private readonly fd: number) {}
  write(bytes: Buffer): void {
    for (let at = 0; at < bytes.length; ) {
      const n = bytes.copy(this.buf, this.used, at);
      this.used += n;
      at += n;
      if (this.used === this.buf.length) this.flush();
    }
  }
  /** `size` bytes of the open file `from`, in place in the buffer; false if it ends early. */
  copyFrom(from: number, size: number): boolean {
    for (let pos = 0; pos < size; ) {
      const n = readSync(from, this.buf, this.used, Math.min(size - pos, this.buf.length - this.used), pos);
      if (n === 0) return false;
      this.used += n;
      pos += n;
      if (this.used === this.buf.length) this.flush();
    }
    return true;
  }
  flush(): void {
    for (let at = 0; at < this.used; ) at += writeSync(this.fd, this.buf, at, this.used - at);
    this.size += this.used;
    this.used = 0;
  }
}

/**
 * Opens the files tar-split names, inside the diff directory whatever the names say: a name that climbs
 * out is refused, each parent directory is resolved once (a symlinked directory leading out is refused),
 * and the file itself is opened with O_NOFOLLOW.
 */
class DiffDirectory {
  private readonly rootReal: string;
  private readonly parents = new Set<string>();
  constructor(
    private readonly dir: string,
    private readonly label: string,
  ) {
    this.rootReal = Buffer.from(realpathSync(dir)).toString('latin1');
  }
  /** Names are bytes held as latin1 strings: turned back into bytes they reach the kernel unchanged. */
  private bytes(clean: string): Buffer {
    return Buffer.concat([Buffer.from(this.dir + sep), Buffer.from(clean, 'latin1')]);
  }
  open(entry: TarSplitEntry): { fd: number; name: string } {
    const raw = entry.name_raw !== undefined ? Buffer.from(entry.name_raw, 'base64').toString('latin1') : (entry.name ?? '');
    const clean = cleanPath(raw);
    if (clean === null || clean === '') throw new LayerfoldError('PATH_ESCAPE', `${this.label}: file entry ${showName(raw)} is not inside the layer`);
    const slash = clean.lastIndexOf('/');
    const parent = slash < 0 ? '' : clean.slice(0, slash);
    if (parent !== '' && !this.parents.has(parent)) {
      // .native: the JS realpath turns a Buffer into UTF-8 text
      const real = realpathSync.native(this.bytes(parent), { encoding: 'buffer' }).toString('latin1');
      if (real !== this.rootReal && !real.startsWith(this.rootReal + sep)) {
        throw new LayerfoldError('PATH_ESCAPE', `${this.label}: file entry ${showName(raw)} resolves outside the layer's diff directory`);
      }
      this.parents.add(parent);
    }
    try {
      return { fd: openSync(this.bytes(clean), fsc.O_RDONLY | fsc.O_NOFOLLOW), name: clean };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new LayerfoldError('BAD_LAYER', `${this.label}: ${showName(clean)} is a symlink in the diff directory, but the layer's tar-split data has a file there`);
      throw e;
    }
  }
}

/** Write one layer's tar, from its tar-split data and its diff directory, in order; its size. */
async function reproduceLayer(tarSplit: string, diffDir: string, out: number, label: string): Promise<number> {
  const files = new DiffDirectory(diffDir, label);
  const writer = new LayerWriter(out);
  const lines = createInterface({ input: createReadStream(tarSplit).pipe(createGunzip()), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line === '') continue;
    const entry = parseTarSplitLine(line, label, n);
    if (entry.type === 2) {
      if (entry.payload) writer.write(Buffer.from(entry.payload, 'base64'));
      continue;
    }
    const size = entry.size ?? 0;
    if (!Number.isSafeInteger(size) || size < 0) throw new LayerfoldError('BAD_LAYER', `${label}: line ${n} has no valid size`);
    if (size === 0) continue;
    const { fd, name } = files.open(entry);
    try {
      const st = fstatSync(fd);
      const complete = st.isFile() && st.size === size && writer.copyFrom(fd, size);
      if (!complete) {
        const now = st.isFile() ? `${fstatSync(fd).size} bytes` : 'not a regular file';
        throw new LayerfoldError('BAD_LAYER', `${label}: ${showName(name)} is ${now}, but the layer's tar-split data says ${size} bytes`);
      }
    } finally {
      closeSync(fd);
    }
  }
  writer.flush();
  return writer.size;
}

function diffDirOf(root: string, driver: StoreDriver, id: string): string {
  return driver === 'overlay' ? join(root, 'overlay', id, 'diff') : join(root, 'vfs', 'dir', id);
}

/** The driver a store uses: the one asked for, else the one whose images.json exists (overlay first). */
function driverOf(root: string, wanted: string | undefined, label: string): StoreDriver {
  if (wanted !== undefined) {
    if (!(STORE_DRIVERS as readonly string[]).includes(wanted)) throw new LayerfoldError('UNSUPPORTED', `${label}: storage driver ${JSON.stringify(wanted)}; only ${STORE_DRIVERS.join(' and ')} stores are read`);
    return wanted as StoreDriver;
  }
  const found = STORE_DRIVERS.find((d) => existsSync(join(root, `${d}-images`, 'images.json')));
  if (!found) throw new LayerfoldError('NOT_FOUND', `${label}: no overlay-images/images.json or vfs-images/images.json under ${root} (not a containers/storage store; name it as containers-storage:[DRIVER@ROOT]IMAGE)`);
  return found;
}

/** A store image as an ImageSource: its reproduced layer tars, and the OpenedImage findImage hands back. */
export class StoreImageSource implements ImageSource {
  readonly kind = 'directory';
  constructor(readonly image: Omit<OpenedImage, 'source'>) {}
  names(): string[] {
    return [];
  }
  has(): boolean {
    return false;
  }
  open(path: string): Blob {
    throw new LayerfoldError('NOT_FOUND', `${path}: not in the store image`);
  }
  close(): void {
    // the layer files belong to the TempSpace, which closes and removes them
  }
  /** The image, checked against --platform. */
  opened(platform: Platform | undefined): OpenedImage {
    confirmPlatform(platform, this.image.platform, "the store's image is");
    return { ...this.image, source: this };
  }
}

function readBigData(root: string, driver: StoreDriver, image: StoreImage, key: string, label: string): Buffer {
  const path = join(root, `${driver}-images`, image.id, bigDataFileName(key));
  try {
    if (statSync(path).size > MAX_METADATA) throw new LayerfoldError('BAD_LAYOUT', `${label}: big data ${key} is larger than ${MAX_METADATA} bytes`);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof LayerfoldError) throw e;
    throw new LayerfoldError('NOT_FOUND', `${label}: image ${image.id.slice(0, 12)} has no ${key} (${bigDataFileName(key)})`);
  }
}

function jsonObject(bytes: Buffer, label: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new LayerfoldError('BAD_LAYOUT', `${label}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new LayerfoldError('BAD_LAYOUT', `${label}: expected a JSON object`);
  return json as Record<string, unknown>;
}

/** Find IMAGE in the store and reproduce its layers into the TempSpace. */
export async function openContainersStorage(ref: StoreReference, label: string, temp: TempSpace, env?: NodeJS.ProcessEnv): Promise<StoreImageSource> {
  const location = storeLocation(ref, env);
  const root = location.root;
  const driver = driverOf(root, location.driver, label);
  const imagesJson = join(root, `${driver}-images`, 'images.json');
  const images = listOf<StoreImage>(readStoreJson(imagesJson, `${label}: ${driver}-images/images.json`), `${label}: ${driver}-images/images.json`);
  const image = pickImage(images, ref.image, label);
  if (!HEX64.test(image.id)) throw new LayerfoldError('BAD_LAYOUT', `${label}: image id ${JSON.stringify(image.id)} is not 64 hex digits`);

  const manifestBytes = readBigData(root, driver, image, 'manifest', label);
  const manifest = jsonObject(manifestBytes, `${label}: manifest`);
  const configDigest = (manifest.config as { digest?: unknown } | undefined)?.digest;
  if (!isDigest(configDigest)) throw new LayerfoldError('BAD_LAYOUT', `${label}: the manifest's config has ${whyNotDigest(configDigest)}`);
  const configBytes = readBigData(root, driver, image, configDigest, label);
  verifyBlobBytes(`${label}: config`, configBytes, configDigest);
  const config = parseImageConfig(jsonObject(configBytes, `${label}: config`), `${label}: config`);

  const layersJson = join(root, `${driver}-layers`, 'layers.json');
  const chain = image.layer ? layerChain(listOf<StoreLayer>(readStoreJson(layersJson, `${label}: ${driver}-layers/layers.json`), `${label}: layers.json`), image.layer, label) : [];
  if (chain.length !== config.diffIds.length) {
    throw new LayerfoldError('BAD_LAYOUT', `${label}: the store has ${chain.length} layers for the image but its config has ${config.diffIds.length} diff_ids`);
  }
  const source = new StoreImageSource({ layout: 'containers-storage', config, configDigest, layers: [], images: image.names ?? [image.id] });
  const layers: LayerRef[] = [];
  for (const [index, layer] of chain.entries()) {
    if (!HEX64.test(layer.id)) throw new LayerfoldError('BAD_LAYOUT', `${label}: layer id ${JSON.stringify(layer.id)} is not 64 hex digits`);
    const layerLabel = `${driver}-layers/${layer.id.slice(0, 12)}`;
    if (layer['diff-digest'] !== undefined && layer['diff-digest'] !== config.diffIds[index]) {
      throw new LayerfoldError('BAD_LAYOUT', `${label}: layer ${index} (${layerLabel}) is ${layer['diff-digest']} in layers.json, but the config's diff_id is ${config.diffIds[index]}`);
    }
    const tarSplit = join(root, `${driver}-layers`, `${layer.id}.tar-split.gz`);
    if (!existsSync(tarSplit)) throw new LayerfoldError('UNSUPPORTED', `${label}: layer ${index} (${layer.id.slice(0, 12)}) has no tar-split data, so its tar cannot be reproduced`);
    const path = temp.path(`store-layer-${index}.tar`);
    const fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    temp.adoptFd(fd); // closed with the temp space (FlattenedImage.close, an error, a signal)
    let size: number;
    try {
      size = await reproduceLayer(tarSplit, diffDirOf(root, driver, layer.id), fd, `${label}: layer ${index} (${layerLabel})`);
    } catch (e) {
      if (e instanceof LayerfoldError) throw e;
      const err = e as NodeJS.ErrnoException;
      const code = err.code === 'ENOENT' ? 'NOT_FOUND' : err.code === 'Z_DATA_ERROR' || err.code === 'Z_BUF_ERROR' ? 'BAD_LAYER' : 'IO';
      // a rootless store's files belong to the user's subordinate ids: only its user namespace reads them all
      const hint = err.code === 'EACCES' ? ' (a rootless store? run it as podman unshare layerfold …)' : '';
      throw new LayerfoldError(code, `${label}: layer ${index} (${layerLabel}): ${err.message}${hint}`);
    }
    const declared = layer['diff-size'];
    if (typeof declared === 'number' && declared !== size) {
      throw new LayerfoldError('BAD_LAYER', `${label}: layer ${index} (${layerLabel}): its tar-split data and diff directory give ${size} bytes, but layers.json says ${declared}`);
    }
    // the bytes are hashed against the config's diff_id by layers.ts, like any uncompressed layer
    const ref: LayerRef = { index, blob: { fd, offset: 0, size, label: layerLabel }, diffId: config.diffIds[index]! };
    layers.push(ref);
  }
  const stated = platformOfConfig(config);
  const platform = stated ? formatPlatform(stated) : undefined;
  Object.assign(source.image, { layers, ...(image.names?.[0] ? { name: image.names[0] } : {}), ...(platform ? { platform } : {}) });
  return source;
}
