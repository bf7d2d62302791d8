/**
 * Pull one image from a registry into an OCI image layout directory (index.json, oci-layout,
 * blobs/<alg>/<hex>), which the OCI layout reader then reads like any `oci:DIR` — so everything
 * downstream (platform check, diff_id verification, decompression, the layer rules) is unchanged.
 *
 * - A manifest list / OCI index is resolved with --platform (default: the only image, else the
 *   host's platform); attestation manifests are skipped.
 * - Config and layers are fetched in parallel (p-limit), each streamed to `<hex>.partial` while its
 *   digest and size are checked, renamed only when both match. A broken-off transfer is retried from
 *   the start with backoff; a digest mismatch is not (it is one line, DIGEST_MISMATCH).
 * - Each digest is downloaded once, however often the manifest lists it (an image may list the same
 *   layer twice, as docker accepts); the declared sizes must fit --max-size before anything is fetched,
 *   and no blob is read past its declared size.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { LayerfoldError } from '../../errors.js';
import { algorithmOf } from '../digest.js';
import { NetTimeoutError } from '../net-guard.js';
import { SizeBudget } from '../layers.js';
import { asDescriptor, blobPath, INDEX_TYPES, isAttestation, type Descriptor } from '../oci.js';
import { choosePlatforms, type Platform } from '../platform.js';
import { RegistryClient, type ClientOptions, type FetchedManifest } from './client.js';
import { isTransientStreamError, TransientError } from './http.js';
import { receiveBlob } from './receive.js';
import { manifestReference, type DockerReference } from './reference.js';
import type { UnpackedFile } from '../source.js';

export interface PullOptions extends ClientOptions {
  platform?: Platform;
  /** Blobs downloaded at once (default 4). */
  downloads?: number;
  /** Refuse an image whose blobs declare more bytes than this in all, or whose layers unpack to more (--max-size). */
  maxSize?: number;
  /** Unpack compressed layers as they arrive (what flattening wants); default: store every blob as it came. */
  unpackLayers?: boolean;
  /** Compressed bytes received so far, of all blobs, and their declared total. */
  onBytes?: (received: number, total: number) => void;
}

function parseJson(m: FetchedManifest, where: string): Record<string, unknown> {
  const json = JSON.parse(m.bytes.toString('utf8')) as unknown;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new LayerfoldError('BAD_LAYOUT', `${where}: expected a JSON object`);
  if ((json as { schemaVersion?: unknown }).schemaVersion === 1) {
    throw new LayerfoldError('UNSUPPORTED', `${where}: Docker schema 1 manifests are not supported (push the image again with a current client)`);
  }
  return json as Record<string, unknown>;
}

function isIndex(m: FetchedManifest, body: Record<string, unknown>): boolean {
  return INDEX_TYPES.has(m.mediaType) || (Array.isArray(body.manifests) && !Array.isArray(body.layers));
}

/** Pick the image manifest for the wanted platform from an index (the only one when none is wanted). */
export function choosePlatform(entries: Descriptor[], wanted: Platform | undefined, label: string): Descriptor {
  const images = entries.filter((d) => !isAttestation(d));
  return choosePlatforms(images, (d) => d.platform, wanted, 'the registry', label)[0]!;
}

/** Resolve tag/digest → (index →) image manifest. */
async function resolveManifest(client: RegistryClient, platform: Platform | undefined): Promise<{ manifest: FetchedManifest; body: Record<string, unknown>; platform?: Platform }> {
  const ref = client.ref;
  let manifest = await client.manifest(manifestReference(ref), ref.digest ? { digest: ref.digest } : undefined);
  let body = parseJson(manifest, client.label);
  let chosen: Platform | undefined;
  for (let depth = 0; isIndex(manifest, body); depth++) {
    if (depth >= 2) throw new LayerfoldError('BAD_LAYOUT', `${client.label}: indexes nested too deep`);
    if (!Array.isArray(body.manifests)) throw new LayerfoldError('BAD_LAYOUT', `${client.label}: the index has no manifests list`);
    const entry = choosePlatform(body.manifests.map((m) => asDescriptor(m, client.label)), platform, client.label);
    chosen = entry.platform ?? chosen;
    manifest = await client.manifest(entry.digest, { digest: entry.digest, size: entry.size });
    body = parseJson(manifest, `${client.label}: manifest ${entry.digest}`);
  }
  return { manifest, body, ...(chosen ? { platform: chosen } : {}) };
}

function blobFile(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string];
  mkdirSync(join(dir, 'blobs', alg), { recursive: true });
  return join(dir, 'blobs', alg, hex);
}

/** What the pull hands the layer reader: unpacked layer blobs, by their layout path (blobs/ALG/HEX). */
export type PulledBlobs = Map<string, UnpackedFile>;

interface Pulling {
  client: RegistryClient;
  dir: string;
  /** Unpack compressed layer blobs as they arrive (else every blob is stored as it came). */
  unpack: boolean;
  budget: SizeBudget;
  unpacked: PulledBlobs;
  onBytes?: (n: number) => void;
  signal: AbortSignal;
}

/** Stream one blob to the layout (or a layer, unpacked, beside it), checking size and digest as the bytes pass. */
async function downloadBlob(p: Pulling, d: Descriptor, what: string): Promise<void> {
  const { client, dir, signal } = p;
  const final = blobFile(dir, d.digest);
  const partial = `${final}.partial`;
  const [alg, hex] = d.digest.split(':') as [string, string];
  const unpackPath = join(dir, `unpacked-${alg}-${hex}.tar`);
  const algorithm = algorithmOf(d.digest); // asDescriptor let only sha256 and sha512 through
  const where = `${client.label}: ${what} (${d.digest.slice(0, 19)}…)`;
  const received = await client.http.retrying(async () => {
    signal.throwIfAborted();
    const res = await client.blob(d.digest, what, signal);
    const declared = Number(res.headers['content-length']);
    if (res.headers['content-length'] !== undefined && declared > d.size) {
      res.body.destroy();
      throw new LayerfoldError('DIGEST_MISMATCH', `${where}: the registry sends ${declared} bytes, but its descriptor says ${d.size}`);
    }
    return receiveBlob(res.body, {
      d,
      algorithm,
      where,
      storedPath: partial,
      ...(p.unpack && what !== 'config' ? { unpack: { path: unpackPath, budget: p.budget } } : {}),
      ...(p.onBytes ? { onBytes: p.onBytes } : {}),
      signal,
    }).catch((e: unknown) => {
      // name the blob and the host the bytes came from (a redirect may have led to another)
      if (e instanceof NetTimeoutError) throw new NetTimeoutError(`${where}: ${e.message}`);
      if (isTransientStreamError(e)) throw new TransientError(`${where}: ${res.url.host}: the transfer broke off (${(e as Error).message})`);
      throw e;
    });
  }, signal);
  if (received.unpacked) p.unpacked.set(blobPath(d.digest), { file: unpackPath, info: received.unpacked });
  else renameSync(partial, final);
}

/**
 * Download in parallel; the first failure stops the rest: their requests, backoffs and bodies are
 * aborted, and each settles only once its file is closed (file-sink.ts), so nothing keeps writing —
 * or opening — in the layout after we return and the TempSpace is removed.
 */
async function downloadAll(p: Omit<Pulling, 'signal'>, blobs: Array<{ d: Descriptor; what: string }>, concurrency: number): Promise<void> {
  const limit = pLimit(concurrency);
  const abort = new AbortController();
  const pulling: Pulling = { ...p, signal: abort.signal };
  let first: unknown;
  await Promise.allSettled(
    blobs.map(({ d, what }) =>
      limit(async () => {
        if (abort.signal.aborted) return;
        try {
          await downloadBlob(pulling, d, what);
        } catch (e) {
          if (first === undefined) first = e;
          abort.abort();
        }
      }),
    ),
  );
  if (first !== undefined) throw first;
}

/** Each digest once, under the first name it was listed by: two downloads of one digest would race on one file. */
function uniqueBlobs(blobs: Array<{ d: Descriptor; what: string }>, where: string): Array<{ d: Descriptor; what: string }> {
  const seen = new Map<string, Descriptor>();
  return blobs.filter(({ d, what }) => {
    const first = seen.get(d.digest);
    if (!first) {
      seen.set(d.digest, d);
      return true;
    }
    if (first.size !== d.size) throw new LayerfoldError('BAD_LAYOUT', `${where}: ${what} (${d.digest.slice(0, 19)}…): listed with sizes ${first.size} and ${d.size}`);
    return false;
  });
}

/** The download is bounded before it starts: what the descriptors declare must fit --max-size. */
function checkDeclaredSizes(blobs: Array<{ d: Descriptor; what: string }>, maxSize: number | undefined, where: string): void {
  if (maxSize === undefined) return;
  let total = 0;
  for (const { d, what } of blobs) {
    total += d.size;
    if (d.size > maxSize) throw new LayerfoldError('LIMIT', `${where}: ${what} declares ${d.size} bytes, more than --max-size ${maxSize}`);
  }
  if (total > maxSize) throw new LayerfoldError('LIMIT', `${where}: the blobs declare ${total} bytes in all, more than --max-size ${maxSize}`);
}

/**
 * Pull `ref` into `dir` (created; inside a TempSpace, so removed with it) as an OCI image layout
 * holding exactly one image manifest, annotated with the reference's name and platform. With
 * `unpackLayers`, compressed layer blobs are not in the layout but unpacked beside it: returned, for
 * the DirectorySource that reads the layout.
 */
export async function pullToLayout(ref: DockerReference, dir: string, options: PullOptions = {}): Promise<PulledBlobs> {
  const client = new RegistryClient(ref, options);
  client.http.watchStalls(client.host);
  try {
    const { manifest, body, platform } = await resolveManifest(client, options.platform);
    const where = `${client.label}: manifest ${manifest.digest}`;
    const config = asDescriptor(body.config, where);
    if (!Array.isArray(body.layers)) throw new LayerfoldError('BAD_LAYOUT', `${where}: the manifest has no layers list`);
    const layers = body.layers.map((l) => asDescriptor(l, where));
    mkdirSync(dir, { recursive: true });
    writeFileSync(blobFile(dir, manifest.digest), manifest.bytes);
    const blobs = uniqueBlobs([{ d: config, what: 'config' }, ...layers.map((d, i) => ({ d, what: `layer ${i}` }))], where);
    checkDeclaredSizes(blobs, options.maxSize, where);
    const unpacked: PulledBlobs = new Map();
    const total = blobs.reduce((sum, { d }) => sum + d.size, 0);
    let received = 0;
    const report = options.onBytes;
    const pulling = {
      client,
      dir,
      unpack: options.unpackLayers ?? false,
      budget: new SizeBudget(options.maxSize ?? Number.MAX_SAFE_INTEGER),
      unpacked,
      ...(report ? { onBytes: (n: number) => report((received += n), total) } : {}),
    };
    await downloadAll(pulling, blobs, options.downloads ?? 4);
    const annotations: Record<string, string> = { 'io.containerd.image.name': ref.canonical };
    if (ref.tag !== undefined) annotations['org.opencontainers.image.ref.name'] = ref.tag;
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length, ...(platform ? { platform } : {}), annotations }],
    };
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
    return unpacked;
  } finally {
    client.close();
  }
}
