/**
 * `layerfold squash`: the image written back with its upper layers folded into one.
 *
 * read → apply (the merged tree, and with --keep N the tree of the lowest N layers too) → write: the
 * kept layers' blobs copied as stored, the squashed layer's tar written by export-tar.ts's writer from
 * layer-items.ts's entries, then config, manifest and index. Nothing depends on the clock: the same
 * input gives the same bytes.
 */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { LayerfoldError } from './errors.js';
import type { Compression } from './io/compression.js';
import { flattenImage, DEFAULT_MAX_ENTRIES, type FlattenedImage, type FlattenOptions } from './flatten.js';
import { applyLayers } from './tree/apply.js';
import type { MergedTree } from './tree/node.js';
import { CompressingSink, type ByteSink } from './write/sink.js';
import { writeTarItems, type WriteProgress } from './write/export-tar.js';
import { exportTotals } from './export.js';
import { emptyTree, squashedLayerItems, type LayerItemCounts } from './write/layer-items.js';
import { DirImageTarget, TarImageTarget, type ImageTarget, type StreamedBlob } from './write/image-target.js';
import { parseDockerReference, type DockerReference } from './read/registry/reference.js';
import type { HistoryEntry } from './read/config.js';
import { TempSpace } from './io/temp.js';
import { parseImageReference } from './read/transports.js';
import type { PushImage, PushResult } from './write/push.js';

export type ImageFormat = 'docker' | 'oci';

export interface SquashOptions extends FlattenOptions {
  /** A file (docker-archive:, oci-archive: or a plain path), `oci:DIR`, or `docker://REGISTRY/REPO:TAG`. */
  output: string;
  /** Bottom layers kept as they are (default 0: everything in one layer). */
  keep?: number;
  /** NAME:TAG the written image is known by (default: none; a registry output takes its own). */
  tag?: string;
  /** Default: from the output's transport, else docker. */
  format?: ImageFormat;
  /** Compression of the squashed layer (default none for files and directories, gzip for a registry). */
  compression?: Compression;
  /** `created` of the image and of the step squash adds (epoch seconds; default the image's own). */
  created?: number;
  /** Squash every platform of a multi-platform image and write an index (OCI outputs and registries). */
  allPlatforms?: boolean;
  onProgress?: (p: WriteProgress) => void;
  /** Called as the squashed layer starts to be written; totals are the whole tree's (an upper bound with --keep). */
  onWriteStart?: (totals: WriteProgress) => void;
}

export interface SquashedLayer {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

export interface SquashResult {
  /** Where it went, as the user named it. */
  output: string;
  format: ImageFormat;
  manifestDigest: string;
  configDigest: string;
  layers: SquashedLayer[];
  /** Entries, whiteouts and opaque markers in the squashed layer. */
  counts: LayerItemCounts;
  /** --all-platforms: each platform's manifest, under the index `manifestDigest` names. */
  platforms?: Array<{ platform: string; manifestDigest: string }>;
  /** docker://: blobs uploaded, mounted from the source repository, already there. */
  push?: PushResult;
}

export type OutputTarget =
  | { kind: 'archive'; path: string; format: ImageFormat }
  | { kind: 'dir'; path: string; format: 'oci' }
  | { kind: 'registry'; reference: DockerReference; format: ImageFormat };

/** Where OUT points and which format it takes; a --format the transport cannot hold is refused. */
export function parseOutput(output: string, format: ImageFormat | undefined): OutputTarget {
  const conflict = (transport: string, fixed: ImageFormat): never => {
    throw new LayerfoldError('USAGE', `${output}: ${transport} writes ${fixed === 'oci' ? 'an OCI' : 'a docker'} image; drop --format ${format}`);
  };
  if (output === '-' || output === '') throw new LayerfoldError('USAGE', 'squash writes to a file, oci:DIR or docker://…, not to stdout: use -o FILE');
  if (output.startsWith('oci:')) {
    if (format === 'docker') conflict('oci:', 'oci');
    const path = output.slice(4);
    if (!path) throw new LayerfoldError('USAGE', `${output}: oci: needs a directory, e.g. oci:out`);
    return { kind: 'dir', path, format: 'oci' };
  }
  if (output.startsWith('oci-archive:')) {
    if (format === 'docker') conflict('oci-archive:', 'oci');
    return { kind: 'archive', path: output.slice('oci-archive:'.length), format: 'oci' };
  }
  if (output.startsWith('docker-archive:')) {
    if (format === 'oci') conflict('docker-archive:', 'docker');
    return { kind: 'archive', path: output.slice('docker-archive:'.length), format: 'docker' };
  }
  if (output.startsWith('docker://')) {
    const reference = parseDockerReference(output.slice('docker://'.length), output);
    if (reference.digest !== undefined) throw new LayerfoldError('USAGE', `${output}: push to a tag, not a digest`);
    return { kind: 'registry', reference, format: format ?? 'docker' };
  }
  return { kind: 'archive', path: output, format: format ?? 'docker' };
}

const OCI_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' },
} as const;
const DOCKER_TYPES = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  // docker has no zstd layer type of its own; registries and engines take the OCI one in its manifests
  layer: { none: 'application/vnd.docker.image.rootfs.diff.tar', gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' },
} as const;

/** A sink that hashes and counts what passes on to the next one. */
class DigestingSink implements ByteSink {
  private readonly hash = createHash('sha256');
  size = 0;
  constructor(
    private readonly inner: ByteSink,
    /** gzip: byte 9 (OS) set to 255, "unknown", as Go writes it; zlib puts the build's OS there. */
    private readonly fixGzipOs = false,
  ) {}
  async write(bytes: Buffer): Promise<void> {
    if (this.fixGzipOs && this.size <= 9 && this.size + bytes.length > 9) bytes[9 - this.size] = 0xff;
    this.hash.update(bytes);
    this.size += bytes.length;
    await this.inner.write(bytes);
  }
  finish(): Promise<void> {
    return this.inner.finish();
  }
  abort(): void {
    this.inner.abort();
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** Copy a kept layer's blob as stored, hashing it on the way (a docker save names it by its diff_id). */
async function copyStoredBlob(target: ImageTarget, fd: number, offset: number, size: number, what: string): Promise<{ digest: string; size: number }> {
  const blob = target.streamBlob();
  const sink = new DigestingSink(blob);
  const buf = Buffer.allocUnsafe(Math.min(4 << 20, Math.max(size, 1)));
  try {
    for (let done = 0; done < size; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), offset + done);
      if (n === 0) throw new LayerfoldError('BAD_LAYER', `${what}: the blob ends early`);
      await sink.write(buf.subarray(0, n));
      done += n;
    }
    await sink.finish();
    const digest = sink.digest();
    blob.commit(digest, size);
    return { digest, size };
  } catch (e) {
    blob.abort();
    throw e;
  }
}

/** `created` as docker writes it: RFC 3339 in UTC. */
function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * Every original step kept; the steps whose layers were squashed become empty_layer (their layers are
 * gone), and one step says what squash did (it made the one new layer).
 */
export function squashedHistory(history: unknown, keep: number, step: HistoryEntry): unknown[] {
  let layer = 0;
  const steps = Array.isArray(history) ? history : [];
  const out = steps.map((h: unknown) => {
    if (typeof h !== 'object' || h === null) return h;
    const entry = { ...(h as Record<string, unknown>) };
    if (entry.empty_layer !== true) {
      if (layer >= keep) entry.empty_layer = true;
      layer++;
    }
    return entry;
  });
  out.push(step);
  return out;
}

function layerMediaType(format: 'oci' | 'docker', kind: Compression): string {
  return (format === 'oci' ? OCI_TYPES : DOCKER_TYPES).layer[kind];
}

/** The tag as the image's names: docker's short form (manifest.json) and the full one (index.json). */
function nameOf(tag: string): { short: string; full: string; tag: string } {
  const ref = parseDockerReference(tag, `--tag ${tag}`);
  if (ref.digest !== undefined) throw new LayerfoldError('USAGE', `--tag ${tag}: a tag, not a digest`);
  const repo = ref.registry === 'docker.io' ? ref.repository.replace(/^library\//, '') : `${ref.registry}/${ref.repository}`;
  return { short: `${repo}:${ref.tag!}`, full: ref.canonical, tag: ref.tag! };
}

/** What writing one squashed image takes: the squash options that shape it, and what the output decided. */
export interface WriteImageOptions extends Pick<SquashOptions, 'tag' | 'created' | 'maxEntries' | 'onProgress' | 'onWriteStart'> {
  keep: number;
  /** How the manifest is written: OCI, or docker's schema 2 (registries only). */
  manifestFormat: 'oci' | 'docker';
  /** manifest.json for `docker load` beside the OCI layout. */
  dockerArchive: boolean;
  compression: Compression;
}

export interface WrittenImage {
  platform?: Record<string, string>;
  manifestDigest: string;
  manifestBytes: Buffer;
  manifestType: string;
  configDigest: string;
  layers: SquashedLayer[];
  counts: LayerItemCounts;
}

/** Write the squashed image of `flat` into `target`: blobs, then the files that name them. */
export async function writeSquashedImage(flat: FlattenedImage, target: ImageTarget, options: WriteImageOptions): Promise<WrittenImage> {
  const { keep } = options;
  const total = flat.layers.length;
  if (!Number.isInteger(keep) || keep < 0) throw new LayerfoldError('USAGE', `--keep ${keep}: a whole number of layers, 0 or more`);
  if (keep > 0 && keep >= total) throw new LayerfoldError('USAGE', `--keep ${keep}: the image has ${total} layer${total === 1 ? '' : 's'}; keep fewer, so that something is squashed`);
  const types = options.manifestFormat === 'oci' ? OCI_TYPES : DOCKER_TYPES;
  const layers: SquashedLayer[] = [];
  for (let i = 0; i < keep; i++) {
    const ref = flat.image.layers[i]!;
    const data = flat.layers[i]!;
    const stored = await copyStoredBlob(target, ref.blob.fd, ref.blob.offset, ref.blob.size, `layer ${i} (${ref.blob.label})`);
    layers.push({ ...stored, diffId: data.diffId, mediaType: layerMediaType(options.manifestFormat, data.compression) });
  }
  const base: MergedTree = keep > 0 ? await applyLayers(flat.layers.slice(0, keep), { impliedMtime: flat.impliedMtime, maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES }) : emptyTree();
  const counts: LayerItemCounts = { entries: 0, whiteouts: 0, opaque: 0 };
  const squashed = await writeLayerBlob(flat, base, keep, target, options, counts);
  layers.push({ ...squashed, mediaType: layerMediaType(options.manifestFormat, options.compression) });

  const raw = flat.image.config.raw;
  const created = options.created !== undefined ? rfc3339(options.created) : flat.image.config.created;
  const step: HistoryEntry = {
    ...(created !== undefined ? { created } : {}),
    created_by: `layerfold squash${keep > 0 ? ` --keep ${keep}` : ''}`,
    comment: keep > 0 ? `layers ${keep}-${total - 1} of ${total} squashed into one` : `${total} layer${total === 1 ? '' : 's'} squashed into one`,
  };
  const config: Record<string, unknown> = { ...raw };
  if (options.created !== undefined) config.created = created;
  config.rootfs = { type: 'layers', diff_ids: layers.map((l) => l.diffId) };
  config.history = squashedHistory(raw.history, keep, step);
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = digestOf(configBytes);
  await target.putBlob(configDigest, configBytes);

  const manifest = {
    schemaVersion: 2,
    mediaType: types.manifest,
    config: { mediaType: types.config, digest: configDigest, size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = digestOf(manifestBytes);
  await target.putBlob(manifestDigest, manifestBytes);

  const platform = platformOf(raw);
  return { manifestDigest, manifestBytes, manifestType: types.manifest, configDigest, layers, counts, ...(platform ? { platform } : {}) };
}

/**
 * The files that name the image(s): index.json (one manifest, or an index of one per platform),
 * manifest.json for `docker load`, oci-layout. Returns what a registry is given under the tag.
 */
export async function writeLayoutFiles(target: ImageTarget, images: WrittenImage[], options: Pick<WriteImageOptions, 'tag' | 'dockerArchive' | 'manifestFormat'>): Promise<PushImage> {
  const name = options.tag !== undefined ? nameOf(options.tag) : undefined;
  const annotations = name ? { 'io.containerd.image.name': name.full, 'org.opencontainers.image.ref.name': name.tag } : undefined;
  const descriptorOf = (image: WrittenImage) => ({ mediaType: image.manifestType, digest: image.manifestDigest, size: image.manifestBytes.length, ...(image.platform ? { platform: image.platform } : {}) });
  let top: PushImage;
  if (images.length === 1) {
    top = images[0]!;
  } else {
    const indexType = options.manifestFormat === 'docker' ? 'application/vnd.docker.distribution.manifest.list.v2+json' : OCI_TYPES.index;
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: images.map(descriptorOf) }));
    const manifestDigest = digestOf(manifestBytes);
    await target.putBlob(manifestDigest, manifestBytes);
    top = { manifestBytes, manifestDigest, manifestType: indexType, layers: [], children: images };
  }
  const descriptor = { mediaType: top.manifestType, digest: top.manifestDigest, size: top.manifestBytes.length, ...(images.length === 1 && images[0]!.platform ? { platform: images[0]!.platform } : {}), ...(annotations ? { annotations } : {}) };
  await target.putFile('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_TYPES.index, manifests: [descriptor] })));
  if (options.dockerArchive) {
    const image = images[0]!;
    const entry = { Config: `blobs/sha256/${image.configDigest.slice(7)}`, RepoTags: name ? [name.short] : null, Layers: image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) };
    await target.putFile('manifest.json', Buffer.from(JSON.stringify([entry])));
  }
  await target.putFile('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  return top;
}

function platformOf(raw: Record<string, unknown>): Record<string, string> | undefined {
  const { os, architecture, variant } = raw;
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return { architecture, os, ...(typeof variant === 'string' && variant ? { variant } : {}) };
}

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The squashed layer: its tar hashed (diff_id), compressed if asked, hashed again (digest), stored. */
async function writeLayerBlob(flat: FlattenedImage, base: MergedTree, keep: number, target: ImageTarget, options: WriteImageOptions, counts: LayerItemCounts): Promise<{ digest: string; diffId: string; size: number }> {
  const blob: StreamedBlob = target.streamBlob();
  const stored = new DigestingSink(blob, options.compression === 'gzip');
  // uncompressed, the stored bytes are the tar: one hash serves as digest and diff_id
  const tar = options.compression === 'none' ? stored : new DigestingSink(new CompressingSink(options.compression, stored, target.label));
  try {
    options.onWriteStart?.(exportTotals(flat.tree));
    const items = squashedLayerItems(flat.tree, base, keep, 0, counts);
    await writeTarItems(items, flat.layers, tar, options.onProgress, () => flat.verified);
    await tar.finish();
  } catch (e) {
    tar.abort();
    throw e;
  }
  const digest = stored.digest();
  const diffId = tar === stored ? digest : tar.digest();
  blob.commit(digest, stored.size);
  return { digest, diffId, size: stored.size };
}

/** Squash the image at `input` into `options.output`. */
/** The other platforms of a multi-platform input, as the reader lists its candidates (`NAME (os/arch)`). */
function otherPlatforms(flat: FlattenedImage): string[] {
  const chosen = flat.image.platform;
  const own = flat.image.name;
  const out = new Set<string>();
  for (const text of flat.image.images) {
    const m = /^(.*) \(([^()\s]+)\)$/.exec(text);
    if (!m) continue;
    const [, names, platform] = m;
    if (own !== undefined && !names!.split(' ').includes(own)) continue;
    if (platform !== chosen && !platform!.startsWith('unknown/')) out.add(platform!);
  }
  return [...out].sort();
}

/** Squash the image at `input` into `options.output`. */
export async function squashImage(input: string, options: SquashOptions): Promise<SquashResult> {
  const out = parseOutput(options.output, options.format);
  if (options.allPlatforms && out.kind === 'archive' && out.format === 'docker') {
    throw new LayerfoldError('USAGE', `${options.output}: --all-platforms writes an index, which a docker load archive cannot hold; write oci-archive:FILE, oci:DIR or docker://…`);
  }
  const keep = options.keep ?? 0;
  if (!Number.isInteger(keep) || keep < 0) throw new LayerfoldError('USAGE', `--keep ${keep}: a whole number of layers, 0 or more`);
  if (options.tag !== undefined) nameOf(options.tag); // a bad tag is refused before any work
  const { dockerInit: _ignored, ...flattenOptions } = options;
  void _ignored;
  // the kept layers' blobs are copied as stored: a registry pull must keep them (and not unpack them)
  const stored = keep > 0 ? { keepStoredBlobs: true } : {};
  let flat = await flattenImage(input, { ...flattenOptions, ...stored, deferVerify: true });
  let target: ImageTarget | undefined;
  let temp: TempSpace | undefined;
  try {
    const compression = options.compression ?? (out.kind === 'registry' ? 'gzip' : 'none');
    const { tag, created, maxEntries, onProgress, onWriteStart } = options;
    const write: WriteImageOptions = {
      keep,
      manifestFormat: out.kind === 'registry' ? out.format : 'oci',
      dockerArchive: out.kind === 'archive' && out.format === 'docker',
      compression,
      tag,
      created,
      maxEntries,
      onProgress,
      onWriteStart,
    };
    if (out.kind === 'registry') {
      temp = TempSpace.create(options.tmpDir);
      target = new DirImageTarget(temp.path('layout'), true);
    } else if (out.kind === 'dir') target = new DirImageTarget(out.path);
    else {
      const archive = new TarImageTarget(out.path);
      target = archive;
      await archive.start();
    }
    const platforms = options.allPlatforms ? otherPlatforms(flat) : [];
    const images: WrittenImage[] = [];
    for (let i = 0; ; i++) {
      images.push(await writeSquashedImage(flat, target, write));
      await flat.verified;
      if (i >= platforms.length) break;
      // one platform at a time: each tree is released before the next is read
      flat.close();
      flat = await flattenImage(input, { ...flattenOptions, ...stored, platform: platforms[i]!, deferVerify: true });
    }
    const top = await writeLayoutFiles(target, images, write);
    let pushed: PushResult | undefined;
    if (out.kind === 'registry') {
      const { pushLayout } = await import('./write/push.js');
      const from = parseImageReference(input);
      const mountFrom = from.transport === 'docker' && from.reference.registry === out.reference.registry ? from.reference.repository : undefined;
      pushed = await pushLayout((target as DirImageTarget).dir, top, out.reference, {
        ...(options.creds !== undefined ? { creds: options.creds } : {}),
        ...(options.insecure ? { insecure: true } : {}),
        ...(mountFrom !== undefined ? { mountFrom } : {}),
      });
    }
    await target.finish();
    const first = images[0]!;
    return {
      output: options.output,
      format: out.format,
      manifestDigest: top.manifestDigest,
      configDigest: first.configDigest,
      layers: first.layers,
      counts: first.counts,
      ...(images.length > 1 ? { platforms: images.map((im) => ({ platform: im.platform ? [im.platform.os, im.platform.architecture, im.platform.variant].filter(Boolean).join('/') : '', manifestDigest: im.manifestDigest })) } : {}),
      ...(pushed ? { push: pushed } : {}),
    };
  } catch (e) {
    target?.abort();
    const failure = await flat.verified.then(() => undefined, (v: unknown) => v);
    if (failure instanceof LayerfoldError && failure.code === 'DIGEST_MISMATCH') throw failure;
    if (e instanceof LayerfoldError) throw e;
    throw new LayerfoldError('IO', `writing ${options.output}: ${(e as Error).message}`, { cause: e });
  } finally {
    temp?.dispose();
    flat.close();
  }
}
