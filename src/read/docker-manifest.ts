/**
 * Layouts with a `manifest.json` (what `docker load` itself reads): legacy `docker save` (Docker up
 * to 24, podman, skopeo docker-archive: `<id>/layer.tar`, `<hex>.tar`) and Docker 25+ saves, whose
 * manifest.json points into an OCI layout's `blobs/<alg>/<hex>` (verified as that digest).
 */
import { LayerfoldError } from '../errors.js';
import { cleanPath } from '../tree/paths.js';
import { parseImageConfig } from './config.js';
import { checkDigest } from './digest.js';
import { formatPlatform, platformOfConfig } from './platform.js';
import { checkLayerCount, pickByName, readBlobVerified, type LayerRef, type OpenedImage } from './image-support.js';
import type { ImageSource } from './source.js';

interface ManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/** A member named as an OCI blob: its name is its digest, verified like any other. */
const BLOB_PATH = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/;
const LEGACY_CONFIG = /^([a-f0-9]{64})\.json$/;

function parseManifest(json: unknown): ManifestEntry[] {
  if (!Array.isArray(json) || json.length === 0) {
    throw new LayerfoldError('BAD_LAYOUT', 'manifest.json: expected a non-empty list of images');
  }
  return json.map((m, i) => {
    const e = m as Partial<ManifestEntry> | null;
    if (!e || typeof e.Config !== 'string' || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string')) {
      throw new LayerfoldError('BAD_LAYOUT', `manifest.json: image ${i} lacks Config or Layers`);
    }
    const tags = Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return { Config: e.Config, RepoTags: tags, Layers: e.Layers };
  });
}

function memberPath(path: string, what: string): string {
  const clean = cleanPath(path);
  if (clean === null || clean === '' || path.startsWith('/')) {
    throw new LayerfoldError('PATH_ESCAPE', `manifest.json: ${what} path ${JSON.stringify(path)} is not inside the archive`);
  }
  return clean;
}

function digestOfPath(path: string): string | undefined {
  const m = BLOB_PATH.exec(path);
  if (!m) return undefined;
  // blobs/sha512/<64 hex> is not a name a digest could have: refused, not read unchecked
  return checkDigest(`${m[1]}:${m[2]}`, `manifest.json: ${path}`);
}

export function readDockerManifest(source: ImageSource, manifestJson: unknown, wanted: string | undefined): OpenedImage {
  const entries = parseManifest(manifestJson);
  const entry = pickByName(entries, (e) => e.RepoTags, wanted, 'image');
  checkLayerCount(entry.Layers.length, 'manifest.json');
  const configPath = memberPath(entry.Config, 'config');
  const legacy = LEGACY_CONFIG.exec(configPath);
  const configDigest = digestOfPath(configPath) ?? (legacy ? `sha256:${legacy[1]}` : undefined);
  const configBytes = readBlobVerified(source, configPath, configDigest);
  let configJson: unknown;
  try {
    configJson = JSON.parse(configBytes.toString('utf8'));
  } catch (e) {
    throw new LayerfoldError('BAD_LAYOUT', `${configPath}: not valid JSON (${(e as Error).message})`);
  }
  const config = parseImageConfig(configJson, configPath);
  if (config.diffIds.length !== entry.Layers.length) {
    throw new LayerfoldError('BAD_LAYOUT', `manifest.json lists ${entry.Layers.length} layers but the config has ${config.diffIds.length} diff_ids`);
  }
  const layers: LayerRef[] = entry.Layers.map((p, index) => {
    const path = memberPath(p, `layer ${index}`);
    const blobDigest = digestOfPath(path);
    return { index, blob: source.open(path), diffId: config.diffIds[index]!, ...(blobDigest ? { blobDigest } : {}) };
  });
  const isOci = source.has('oci-layout') || configPath.startsWith('blobs/');
  const stated = platformOfConfig(config);
  const platform = stated ? formatPlatform(stated) : undefined;
  return {
    layout: isOci ? 'docker-oci' : 'docker-legacy',
    source,
    ...(entry.RepoTags[0] ? { name: entry.RepoTags[0] } : {}),
    ...(platform ? { platform } : {}),
    ...(configDigest ? { configDigest } : {}),
    config,
    layers,
    images: entries.map((e) => e.RepoTags.join(' ') || e.Config),
  };
}
