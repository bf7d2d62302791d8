/**
 * skopeo's `dir:` layout (containers/image's directory transport, `skopeo copy … dir:PATH`):
 * `manifest.json` holds one image manifest (docker v2 schema 2 or OCI) — not the list of images a
 * `docker save` manifest.json is — and every blob (config, layers) is a file named by the hex of its
 * digest; a `version` file says `Directory Transport Version: 1.1`. A copy made with `--all` of a
 * multi-platform image has a manifest list or OCI index in `manifest.json` and each instance's
 * manifest in `<hex>.manifest.json`. Every descriptor's digest and size are checked, as for OCI.
 */
import { LayerfoldError } from '../errors.js';
import { parseImageConfig } from './config.js';
import { readBlobVerified, type OpenedImage } from './image-support.js';
import { asDescriptor, INDEX_TYPES, isAttestation, manifestLayers, type Descriptor } from './oci.js';
import { choosePlatforms, confirmPlatform, formatPlatform, platformOfConfig, type Platform } from './platform.js';
import { readBlob, type ImageSource } from './source.js';

const VERSION_PREFIX = 'Directory Transport Version: ';

/** manifest.json of a dir: copy is one JSON object; docker save's is a JSON list. */
export function isSkopeoDirManifest(json: unknown): boolean {
  return typeof json === 'object' && json !== null && !Array.isArray(json);
}

/** The file a blob of a dir: copy is stored in: the digest's hex, without the algorithm. */
export function dirBlobPath(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

function readObject(source: ImageSource, path: string, digest?: string, size?: number): Record<string, unknown> {
  if (!source.has(path)) throw new LayerfoldError('NOT_FOUND', `${path}: ${digest ? `blob ${digest} is referenced but missing` : 'missing'}`);
  const bytes = readBlobVerified(source, path, digest, size);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new LayerfoldError('BAD_LAYOUT', `${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!isSkopeoDirManifest(json)) throw new LayerfoldError('BAD_LAYOUT', `${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}

function checkVersion(source: ImageSource): void {
  if (!source.has('version')) return; // skopeo always writes it; a copy without one is still readable
  const text = readBlob(source.open('version'), 4096).toString('utf8');
  const m = /^Directory Transport Version: (\d+)\.(\d+)\s*$/.exec(text);
  if (!m) throw new LayerfoldError('BAD_LAYOUT', `version: expected "${VERSION_PREFIX}1.x", got ${JSON.stringify(text.slice(0, 60))}`);
  if (m[1] !== '1') throw new LayerfoldError('UNSUPPORTED', `version: directory transport version ${m[1]}.${m[2]} (only 1.x is known)`);
}

function isList(body: Record<string, unknown>): boolean {
  return (typeof body.mediaType === 'string' && INDEX_TYPES.has(body.mediaType)) || (Array.isArray(body.manifests) && body.layers === undefined);
}

/** The instance of a `--all` copy for the wanted platform (default: the only one, else the host's). */
function chooseInstance(list: Record<string, unknown>, wanted: Platform | undefined): Descriptor {
  if (!Array.isArray(list.manifests)) throw new LayerfoldError('BAD_LAYOUT', 'manifest.json: the manifest list has no manifests');
  const images = list.manifests.map((m) => asDescriptor(m, 'manifest.json')).filter((d) => !isAttestation(d));
  return choosePlatforms(images, (d) => d.platform, wanted, 'the directory')[0]!;
}

export function readSkopeoDir(source: ImageSource, manifestJson: unknown, wanted: { image?: string; platform?: Platform }): OpenedImage {
  checkVersion(source);
  if (wanted.image !== undefined) {
    throw new LayerfoldError('NOT_FOUND', `--image ${wanted.image}: a dir: copy holds one image and no name`);
  }
  let body = manifestJson as Record<string, unknown>;
  let where = 'manifest.json';
  let platform: Platform | undefined;
  if (isList(body)) {
    const instance = chooseInstance(body, wanted.platform);
    where = `${dirBlobPath(instance.digest)}.manifest.json`;
    body = readObject(source, where, instance.digest, instance.size);
    platform = instance.platform;
  }
  if (body.schemaVersion !== 2) {
    throw new LayerfoldError('UNSUPPORTED', `${where}: schemaVersion ${JSON.stringify(body.schemaVersion)}; only docker v2 schema 2 and OCI manifests are read`);
  }
  const configDesc = asDescriptor(body.config, where);
  const configPath = dirBlobPath(configDesc.digest);
  const config = parseImageConfig(readObject(source, configPath, configDesc.digest, configDesc.size), configPath);
  const layers = manifestLayers(source, body, where, config.diffIds, dirBlobPath);
  if (!platform) {
    platform = platformOfConfig(config);
    // one image manifest holds one platform: --platform only confirms it
    confirmPlatform(wanted.platform, platform, 'the directory has:');
  }
  return {
    layout: 'skopeo-dir',
    source,
    ...(platform ? { platform: formatPlatform(platform) } : {}),
    configDigest: configDesc.digest,
    config,
    layers,
    images: [platform ? `(unnamed) (${formatPlatform(platform)})` : '(unnamed)'],
  };
}
