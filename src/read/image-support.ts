/** What every layout reader produces: one image, its config and its layers bottom-up. */
import { LayerfoldError, printable } from '../errors.js';
import type { ImageConfig } from './config.js';
import { algorithmOf, checkDigest, digestOf } from './digest.js';
import { readBlob, type Blob, type ImageSource } from './source.js';

export type Layout = 'docker-legacy' | 'docker-oci' | 'oci-archive' | 'oci-directory' | 'skopeo-dir' | 'containers-storage';

export interface LayerRef {
  /** 0 = bottom layer. */
  index: number;
  blob: Blob;
  /** Digest (sha256 or sha512) of the uncompressed layer, from the config. */
  diffId: string;
  /** Digest of the stored bytes where the layout names it (OCI descriptors, blobs/<alg>/<hex>). */
  blobDigest?: string;
  /** Size of the stored bytes where a descriptor states it. */
  blobSize?: number;
  mediaType?: string;
}

export interface OpenedImage {
  layout: Layout;
  source: ImageSource;
  /** The name it was saved under (RepoTags / ref.name annotation), when there is one. */
  name?: string;
  /** os/arch[/variant] */
  platform?: string;
  configDigest?: string;
  config: ImageConfig;
  layers: LayerRef[];
  /** Every image in the archive: names where known, else config digests. */
  images: string[];
}

/**
 * Byte progress of the reads that come before any entry can be listed: spooling a compressed or
 * piped archive (`archive`), decompressing compressed layers (`layers`). `read` counts input bytes
 * as stored (compressed); `total` is their sum when known beforehand (not for stdin). Called as the
 * bytes are read: the work ends a little after read reaches total (the last bytes still unpack).
 */
export type UnpackProgress = (what: 'archive' | 'layers', read: number, total: number | undefined) => void;

/** Check a small blob (manifest, config, index) against its digest (any algorithm we verify) and, when known, its size. */
export function verifyBlobBytes(label: string, bytes: Buffer, digest: string, size?: number): void {
  if (size !== undefined && size !== bytes.length) {
    throw new LayerfoldError('DIGEST_MISMATCH', `${label}: ${bytes.length} bytes, but its descriptor says ${size}`);
  }
  const actual = digestOf(bytes, algorithmOf(checkDigest(digest, label)));
  if (actual !== digest) {
    throw new LayerfoldError('DIGEST_MISMATCH', `${label}: content is ${actual}, but it is named ${digest}`);
  }
}

/**
 * moby's layer store chains at most 125 layers (`maxLayerDepth`: the 127 lower directories some graph
 * drivers take, less a container's init and read-write layers); `docker load` of an image with a
 * 126th fails with "max depth exceeded" (Docker 26.1, overlay2). More listings than that are refused
 * before anything is read for them (a 84 KiB archive listing one empty layer 300,000 times hung).
 */
export const MAX_LAYERS = 125;

export function checkLayerCount(count: number, where: string): void {
  if (count > MAX_LAYERS) {
    throw new LayerfoldError('LIMIT', `${where}: the image has ${count} layers; docker refuses more than ${MAX_LAYERS} ("max depth exceeded": its layer store chains at most ${MAX_LAYERS})`);
  }
}

/** Docker's short forms: `alpine` is `alpine:latest`, `docker.io/library/alpine` is `alpine`. */
export function normaliseRef(ref: string): string {
  let r = ref.replace(/^(docker\.io|index\.docker\.io)\//, '').replace(/^library\//, '');
  const lastSlash = r.lastIndexOf('/');
  if (!r.includes('@') && !r.slice(lastSlash + 1).includes(':')) r += ':latest';
  return r;
}

/** The candidates `--image NAME` names (several for a multi-platform image); refused when none is. */
export function filterByName<T>(candidates: T[], nameOf: (c: T) => string[], wanted: string): T[] {
  const want = normaliseRef(wanted);
  const hit = candidates.filter((c) => nameOf(c).some((n) => normaliseRef(n) === want || n === wanted));
  if (hit.length === 0) throw new LayerfoldError('NOT_FOUND', `--image ${wanted}: no such image in the archive; it holds: ${listNames(candidates, nameOf)}`);
  return hit;
}

export function pickByName<T>(candidates: T[], nameOf: (c: T) => string[], wanted: string | undefined, what: string): T {
  if (wanted !== undefined) {
    const hit = filterByName(candidates, nameOf, wanted);
    if (hit.length > 1) throw new LayerfoldError('NOT_FOUND', `--image ${wanted} matches ${hit.length} ${what}s`);
    return hit[0]!;
  }
  if (candidates.length === 1) return candidates[0]!;
  throw new LayerfoldError('NOT_FOUND', `the archive holds ${candidates.length} images; pick one with --image: ${listNames(candidates, nameOf)}`);
}

function listNames<T>(candidates: T[], nameOf: (c: T) => string[]): string {
  return candidates.map((c) => printable(nameOf(c).join(' ')) || '(untagged)').join(', ');
}

/** Read a small blob by path and, where its digest is known, verify it. */
export function readBlobVerified(source: ImageSource, path: string, digest: string | undefined, size?: number): Buffer {
  const bytes = readBlob(source.open(path));
  if (digest !== undefined) verifyBlobBytes(path, bytes, digest, size);
  return bytes;
}
