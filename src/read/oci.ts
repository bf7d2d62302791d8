/**
 * OCI image layouts (`index.json` + `blobs/<alg>/<hex>`), archived (skopeo oci-archive:, containerd
 * exports) or as a directory. The index may nest indexes and hold several platforms and attestation
 * manifests; one image manifest is chosen by --image and --platform (default: the host's).
 * Every descriptor's digest (sha256 or sha512) and size are checked against the bytes.
 */
import { LayerfoldError } from '../errors.js';
import { parseImageConfig } from './config.js';
import { isDigest, whyNotDigest } from './digest.js';
import { checkLayerCount, filterByName, pickByName, readBlobVerified, type LayerRef, type Layout, type OpenedImage } from './image-support.js';
import { choosePlatforms, formatPlatform, platformOfConfig, type Platform } from './platform.js';
import type { ImageSource } from './source.js';

/** An OCI content descriptor, as layouts and registries give them. */
export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
const MAX_DEPTH = 4;

/**
 * Check a descriptor's digest and size. The digest names a file, so nothing else may pass, and it must
 * be of an algorithm the bytes are then verified with (src/read/digest.ts).
 */
export function asDescriptor(value: unknown, where: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || !isDigest(d.digest)) throw new LayerfoldError('BAD_LAYOUT', `${where}: a descriptor has ${whyNotDigest(d?.digest)}`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new LayerfoldError('BAD_LAYOUT', `${where}: descriptor ${d.digest} has no valid size`);
  }
  return d as Descriptor;
}

export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(':');
  return `blobs/${alg}/${hex}`;
}

/** Distinct JSON blobs (indexes, manifests, configs) one layout may make us read, and their bytes in all. */
export const MAX_JSON_BLOBS = 10_000;
export const MAX_JSON_BYTES = 128 * 1024 * 1024;

/**
 * The layout's JSON blobs, each read, hashed and parsed once however often it is listed (an index
 * listing one 30 MB manifest 3,000 times read, hashed and parsed it 3,000 times, holding the process,
 * signals included, for minutes). What is parsed is bounded in count and bytes, so the synchronous
 * work of reading a layout stays within about a second.
 */
class JsonBlobs {
  private readonly parsed = new Map<string, { size: number; json: Record<string, unknown> }>();
  private bytes = 0;
  private readSinceTurn = 0;
  constructor(private readonly source: ImageSource) {}

  /** Whether enough has been read since the last turn of the event loop to give it one now. */
  due(): boolean {
    if (this.readSinceTurn < 4 << 20) return false;
    this.readSinceTurn = 0;
    return true;
  }

  get(d: Descriptor): Record<string, unknown> {
    const path = blobPath(d.digest);
    const hit = this.parsed.get(d.digest);
    if (hit) {
      if (hit.size !== d.size) throw new LayerfoldError('DIGEST_MISMATCH', `${path}: ${hit.size} bytes, but its descriptor says ${d.size}`);
      return hit.json;
    }
    if (!this.source.has(path)) throw new LayerfoldError('NOT_FOUND', `${path}: blob ${d.digest} is referenced but missing`);
    if (this.parsed.size >= MAX_JSON_BLOBS) {
      throw new LayerfoldError('LIMIT', `${path}: the layout's indexes name more than ${MAX_JSON_BLOBS} distinct manifests and configs`);
    }
    const size = this.source.open(path).size;
    this.bytes += size;
    if (this.bytes > MAX_JSON_BYTES) {
      throw new LayerfoldError('LIMIT', `${path}: the layout's indexes, manifests and configs add up to more than ${MAX_JSON_BYTES / 1024 / 1024} MiB of JSON`);
    }
    const bytes = readBlobVerified(this.source, path, d.digest, d.size);
    this.readSinceTurn += bytes.length + 16 * 1024; // a small blob costs its lookups too
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw new LayerfoldError('BAD_LAYOUT', `${path}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new LayerfoldError('BAD_LAYOUT', `${path}: expected a JSON object`);
    }
    this.parsed.set(d.digest, { size: bytes.length, json: json as Record<string, unknown> });
    return json as Record<string, unknown>;
  }
}

interface Candidate {
  manifest: Descriptor;
  /** In the order first met; `nameSet` holds the same, so a 100,000th name is added in O(1), not O(n). */
  names: string[];
  nameSet: Set<string>;
  platform?: Platform;
}

/**
 * An image manifest's `layers` (OCI or docker v2s2, in an OCI layout or a skopeo dir: copy): one per
 * diff_id of the config, each descriptor checked and its blob present at `pathOf(digest)`.
 */
export function manifestLayers(source: ImageSource, body: Record<string, unknown>, where: string, diffIds: readonly string[], pathOf: (digest: string) => string): LayerRef[] {
  if (!Array.isArray(body.layers)) throw new LayerfoldError('BAD_LAYOUT', `${where}: the manifest has no layers list`);
  checkLayerCount(body.layers.length, where);
  const layerDescs = body.layers.map((l) => asDescriptor(l, where));
  if (layerDescs.length !== diffIds.length) {
    throw new LayerfoldError('BAD_LAYOUT', `${where}: the manifest lists ${layerDescs.length} layers but the config has ${diffIds.length} diff_ids`);
  }
  return layerDescs.map((d, index) => {
    const path = pathOf(d.digest);
    if (!source.has(path)) throw new LayerfoldError('NOT_FOUND', `${path}: layer ${index} blob is referenced but missing`);
    return { index, blob: source.open(path), diffId: diffIds[index]!, blobDigest: d.digest, blobSize: d.size, ...(d.mediaType ? { mediaType: d.mediaType } : {}) };
  });
}

/** Attestation manifests (buildkit provenance, SBOMs) are not images. */
export function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || d.platform?.os === 'unknown';
}

/**
 * Nested indexes are read once each, and descriptors are counted: indexes that list each other many
 * times over would otherwise make the walk grow as (copies)^(depth) — a 28 KB layout hung for minutes.
 */
interface Walk {
  blobs: JsonBlobs;
  /** Nested indexes read, each with the candidates found under it (a second listing adds its names to them). */
  visited: Map<string, Set<Candidate>>;
  descriptors: number;
  /** Candidates named again through a nested index listed again, in all. */
  renamed: number;
  byManifest: Map<string, Candidate>;
  /** Digests of the nested indexes being read, outermost first. */
  path: string[];
}

/** Descriptors walked between two turns of the event loop, so SIGINT / SIGTERM are met while a big layout is read. */
const DESCRIPTORS_PER_TURN = 256;
const turn = () => new Promise((resolve) => setImmediate(resolve));

function addNames(c: Candidate, names: string[]): void {
  for (const n of names) {
    if (c.nameSet.has(n)) continue;
    c.nameSet.add(n);
    c.names.push(n);
  }
}

const MAX_DESCRIPTORS = 100_000;
/** A nested index of N manifests listed M times renames N×M candidates: bounded, as descriptors are. */
const MAX_RENAMED = 1_000_000;

async function collect(source: ImageSource, index: Record<string, unknown>, where: string, names: string[], depth: number, out: Candidate[], walk: Walk): Promise<void> {
  const manifests = index.manifests;
  if (!Array.isArray(manifests)) throw new LayerfoldError('BAD_LAYOUT', `${where}: no manifests list`);
  for (const m of manifests) {
    if (++walk.descriptors > MAX_DESCRIPTORS) throw new LayerfoldError('BAD_LAYOUT', `${where}: the indexes list more than ${MAX_DESCRIPTORS} manifests`);
    if (walk.descriptors % DESCRIPTORS_PER_TURN === 0 || walk.blobs.due()) await turn();
    const d = asDescriptor(m, where);
    if (isAttestation(d)) continue;
    const ann = d.annotations ?? {};
    const own = [ann['io.containerd.image.name'], ann['org.opencontainers.image.ref.name']].filter((n): n is string => typeof n === 'string');
    const allNames = [...new Set([...own, ...names])];
    // a nested index listed again is not read again: its manifests take the new names
    const seen = walk.visited.get(d.digest);
    if (seen) {
      walk.renamed += seen.size;
      if (walk.renamed > MAX_RENAMED) throw new LayerfoldError('LIMIT', `${where}: nested indexes listed again name their manifests more than ${MAX_RENAMED} times over`);
      for (const c of seen) addNames(c, allNames);
      continue;
    }
    const body = d.mediaType && INDEX_TYPES.has(d.mediaType) ? undefined : walk.blobs.get(d);
    const bodyIsIndex = body !== undefined && ((body.mediaType !== undefined && INDEX_TYPES.has(String(body.mediaType))) || (Array.isArray(body.manifests) && !body.layers));
    // a descriptor typed as a manifest whose bytes are an index: containerd refuses it ("mediaType in
    // manifest should be …"); following it would pick an image other than the one the descriptor names
    if (bodyIsIndex && d.mediaType !== undefined && MANIFEST_TYPES.has(d.mediaType)) {
      throw new LayerfoldError('BAD_LAYOUT', `${where}: ${d.digest} is listed as ${d.mediaType} but holds an index`);
    }
    if (body === undefined || bodyIsIndex) {
      if (depth >= MAX_DEPTH) throw new LayerfoldError('BAD_LAYOUT', `${where}: indexes nested more than ${MAX_DEPTH} deep`);
      walk.visited.set(d.digest, new Set());
      walk.path.push(d.digest);
      await collect(source, body ?? walk.blobs.get(d), blobPath(d.digest), allNames, depth + 1, out, walk);
      walk.path.pop();
      continue;
    }
    // the same manifest listed again is one candidate, known by every name it was listed under
    const key = `${d.digest} ${d.platform ? formatPlatform(d.platform) : ''}`;
    let candidate = walk.byManifest.get(key);
    if (candidate) addNames(candidate, allNames);
    else {
      candidate = { manifest: d, names: [...allNames], nameSet: new Set(allNames), ...(d.platform ? { platform: d.platform } : {}) };
      walk.byManifest.set(key, candidate);
      out.push(candidate);
    }
    for (const digest of walk.path) walk.visited.get(digest)!.add(candidate);
  }
}

export async function readOciLayout(source: ImageSource, layout: Layout, indexJson: unknown, wanted: { image?: string; platform?: Platform }): Promise<OpenedImage> {
  if (typeof indexJson !== 'object' || indexJson === null) throw new LayerfoldError('BAD_LAYOUT', 'index.json: expected a JSON object');
  const candidates: Candidate[] = [];
  const blobs = new JsonBlobs(source);
  await collect(source, indexJson as Record<string, unknown>, 'index.json', [], 0, candidates, { blobs, visited: new Map(), descriptors: 0, renamed: 0, byManifest: new Map(), path: [] });
  if (candidates.length === 0) throw new LayerfoldError('NOT_FOUND', 'index.json: no image manifest in the layout');

  // Fill in platforms from configs where descriptors do not state them.
  const manifests = new Map<Candidate, Record<string, unknown>>();
  for (const [i, c] of candidates.entries()) {
    if (i % DESCRIPTORS_PER_TURN === DESCRIPTORS_PER_TURN - 1 || blobs.due()) await turn();
    const body = blobs.get(c.manifest);
    manifests.set(c, body);
    if (!c.platform) {
      const cfg = body.config;
      if (cfg) {
        const platform = platformOfConfig(blobs.get(asDescriptor(cfg, blobPath(c.manifest.digest))));
        if (platform) c.platform = platform;
      }
    }
  }

  let pool = candidates;
  if (wanted.image !== undefined) {
    // a multi-platform image is one name over several manifests: the platform picks among them
    pool = filterByName(candidates, (c) => c.names, wanted.image);
  }
  const hits = choosePlatforms(pool, (c) => c.platform, wanted.platform, 'the archive');
  // several images for the platform under different names (and no --image): the name picks, or says which
  const chosen = hits.length > 1 && wanted.image === undefined && new Set(hits.map((h) => h.names.join(' '))).size > 1 ? pickByName(hits, (c) => c.names, undefined, 'image') : hits[0]!;

  const body = manifests.get(chosen)!;
  const where = blobPath(chosen.manifest.digest);
  if (!Array.isArray(body.layers)) throw new LayerfoldError('BAD_LAYOUT', `${where}: the manifest has no layers list`);
  checkLayerCount(body.layers.length, where);
  const configDesc = asDescriptor(body.config, where);
  const configJson = blobs.get(configDesc);
  const config = parseImageConfig(configJson, blobPath(configDesc.digest));
  const layers = manifestLayers(source, body, where, config.diffIds, blobPath);
  return {
    layout,
    source,
    ...(chosen.names[0] ? { name: chosen.names[0] } : {}),
    ...(chosen.platform ? { platform: formatPlatform(chosen.platform) } : {}),
    configDigest: configDesc.digest,
    config,
    layers,
    images: candidates.map((c) => `${c.names.join(' ') || c.manifest.digest}${c.platform ? ` (${formatPlatform(c.platform)})` : ''}`),
  };
}
