/**
 * Hostile shapes of issue 20 that are small as archives but large as work: a directory of a million
 * empty files, a file thousands of directories deep, a manifest listing one layer many times, an OCI
 * index listing one big manifest many times or one manifest under a great many names. Used by
 * scripts/hostile-bounds.js (the full sizes, measured by hand), test/bounds.test.ts (small sizes) and
 * the fuzzer. Deterministic: fixed mtimes, no clock; layers streamed, never held whole in memory.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import { assembleArchive } from './generator.js';
import { ChunkWriter, paddingFor, ustarHeader } from './tar-writer.js';

const MTIME = 1_704_067_200;
const BLOCK = 512;
const sha256 = (buf) => `sha256:${createHash('sha256').update(buf).digest('hex')}`;
const json = (value) => Buffer.from(JSON.stringify(value));

/** A PAX `x` header + record carrying `path`, for names USTAR cannot hold. */
function paxPath(path) {
  const body = (len) => `${len} path=${path}\n`;
  let len = Buffer.byteLength(body(0), 'latin1');
  while (Buffer.byteLength(body(len), 'latin1') !== len) len = Buffer.byteLength(body(len), 'latin1');
  const record = Buffer.from(body(len), 'latin1');
  const head = ustarHeader({ name: 'PaxHeaders.0/entry', type: 'file', size: record.length, mtime: MTIME });
  head.write('x', 156, 1, 'latin1');
  head.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += head[i];
  head.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  head[154] = 0;
  head[155] = 0x20;
  return Buffer.concat([head, record, Buffer.alloc(paddingFor(record.length))]);
}

async function writeEntry(writer, e) {
  const name = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
  const short = Buffer.byteLength(name, 'latin1') <= 100;
  if (!short) await writer.write(paxPath(name));
  await writer.write(ustarHeader({ name: short ? name : name.slice(-90).replace(/^[^/]*\//, ''), type: e.type, size: e.data?.length ?? 0, mtime: MTIME }));
  if (e.data) {
    await writer.write(e.data);
    await writer.zeros(paddingFor(e.data.length));
  }
}

function hashTap(hash) {
  return new Transform({
    transform(chunk, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

/**
 * Stream a layer made of `entries` (an iterable of {name, type: 'file'|'dir', data?}) to `path`,
 * gzip-compressed or not; returns its digests.
 */
export async function writeLayerBlob(path, entries, compression = 'gzip') {
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  const source = new PassThrough({ highWaterMark: 4 << 20 });
  const stages = compression === 'gzip' ? [source, createGzip({ level: 6, chunkSize: 1 << 20 })] : [source];
  const done = pipeline(...stages, hashTap(blob), createWriteStream(path));
  const writer = new ChunkWriter(async (chunk) => {
    diff.update(chunk);
    if (!source.write(chunk)) await once(source, 'drain');
  });
  try {
    for (const e of entries) await writeEntry(writer, e);
    await writer.end();
    source.end();
  } catch (e) {
    source.destroy(e);
  }
  await done;
  return { diffId: `sha256:${diff.digest('hex')}`, digest: `sha256:${blob.digest('hex')}`, size: statSync(path).size, tarSize: writer.total };
}

/** `wide/` holding `files` empty files: one directory as wide as asked. */
export function* wideEntries(files) {
  yield { name: 'wide/', type: 'dir' };
  for (let i = 0; i < files; i++) yield { name: `wide/f${i.toString(36).padStart(5, '0')}`, type: 'file' };
}

/** `d/d/…/d/` `depth` directories deep, and a file at the bottom (path length 2×depth + 4). */
export function* deepEntries(depth) {
  let path = '';
  for (let i = 0; i < depth; i++) {
    path += 'd/';
    yield { name: path, type: 'dir' };
  }
  yield { name: `${path}file`, type: 'file', data: Buffer.from('deep\n') };
}

/** A docker-save archive at `path` of one layer made of `entries` (layer blob written beside it). */
export async function writeTreeImage(path, entries, { compression = 'gzip', name = 'tree' } = {}) {
  const blobPath = `${path}.layer`;
  const layer = await writeLayerBlob(blobPath, entries, compression);
  assembleArchive(path, [layer], [blobPath], { layout: 'legacy', compression, name });
  return layer;
}

/** An outer tar of in-memory members [{name, data}] (USTAR names: keep them short). */
export function tarOf(members) {
  const parts = [];
  for (const m of members) parts.push(ustarHeader({ name: m.name, type: 'file', size: m.data.length, mtime: MTIME }), m.data, Buffer.alloc(paddingFor(m.data.length)));
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

const EMPTY_LAYER = Buffer.alloc(2 * BLOCK);

/** A docker-save archive whose manifest.json lists one empty layer `listings` times (gzip-compressed). */
export function repeatedLayerImage(listings) {
  const diffId = sha256(EMPTY_LAYER);
  const layerPath = `${diffId.slice(7)}/layer.tar`;
  const config = json({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: Array(listings).fill(diffId) } });
  const configName = `${sha256(config).slice(7)}.json`;
  const manifest = json([{ Config: configName, RepoTags: ['hostile:layers'], Layers: Array(listings).fill(layerPath) }]);
  return gzipSync(tarOf([{ name: layerPath, data: EMPTY_LAYER }, { name: configName, data: config }, { name: 'manifest.json', data: manifest }]));
}

/**
 * An OCI archive (gzip-compressed) whose index.json lists one image manifest `copies` times, the
 * manifest padded with whitespace to `manifestBytes`; `names` gives each listing a name of its own
 * (`hostile:N`), so the one candidate is known by `copies` names.
 */
export function repeatedManifestImage({ copies, manifestBytes = 0, names = false }) {
  const layer = Buffer.concat([ustarHeader({ name: 'hello', type: 'file', size: 3, mtime: MTIME }), Buffer.from('hi\n'), Buffer.alloc(BLOCK - 3), Buffer.alloc(2 * BLOCK)]);
  const config = json({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } });
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
  });
  const manifest = Buffer.from(body + ' '.repeat(Math.max(0, manifestBytes - body.length)));
  const descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length };
  const index = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: Array.from({ length: copies }, (_, i) => (names ? { ...descriptor, annotations: { 'io.containerd.image.name': `hostile:${i}` } } : descriptor)),
  });
  const blob = (b) => ({ name: `blobs/sha256/${sha256(b).slice(7)}`, data: b });
  return gzipSync(tarOf([{ name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }) }, { name: 'index.json', data: index }, blob(config), blob(manifest), blob(layer)]));
}

/**
 * An OCI layout directory at `dir` whose index.json lists `count` distinct image manifests (one image,
 * each manifest told apart by an annotation and padded with whitespace to `manifestBytes`).
 */
export function writeDistinctManifestsLayout(dir, { count, manifestBytes = 0 }) {
  const layer = Buffer.concat([ustarHeader({ name: 'hello', type: 'file', size: 3, mtime: MTIME }), Buffer.from('hi\n'), Buffer.alloc(BLOCK - 3), Buffer.alloc(2 * BLOCK)]);
  const config = json({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } });
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b) => {
    const digest = sha256(b);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), b);
    return { digest, size: b.length };
  };
  const configRef = put(config);
  const layerRef = put(layer);
  const manifests = [];
  for (let i = 0; i < count; i++) {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configRef },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerRef }],
      annotations: { n: String(i) },
    });
    const ref = put(Buffer.from(body + ' '.repeat(Math.max(0, manifestBytes - body.length))));
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...ref, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'io.containerd.image.name': `hostile:${i}` } });
  }
  writeFileSync(join(dir, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  return dir;
}

/** Write `buf` to `path` (a convenience for scripts). */
export function writeBuffer(path, buf) {
  writeFileSync(path, buf);
  return path;
}
