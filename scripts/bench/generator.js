/**
 * Deterministic synthetic images for the benchmark. Why: the targets of issue 6 name image shapes
 * (1 GiB, 100k files, 5 layers; 1M entries; gzip layers) that no fixture has, and a benchmark is only
 * comparable between runs and machines when the same parameters give the same bytes.
 *
 * Rules it follows:
 * - Everything comes from one seeded PRNG (mulberry32) and the parameters; no clock, no randomness
 *   from the OS, fixed mtimes and owners. Same parameters → byte-identical archive.
 * - Shape: `files` distinct file paths spread over directories, most in layer 0 (60%) and the rest
 *   spread over the upper layers; sizes log-uniform, with ~0.1% "large" files carrying 40% of the
 *   bytes, scaled so the new files add up to `bytes`. Upper layers also overwrite
 *   (`overwritten × files` in all, same size), white out (`whiteout × files`), make opaque
 *   (`opaque × directories`, each hiding every lower child) and hard-link (`hardlinked` of each
 *   layer's new files get a `NAME.hl` link). Overwrites add bytes on top of `bytes`.
 * - `planImage` computes the layer entries and the final tree the rules predict, without writing
 *   anything; the test checks the written image against it through layerfold.
 * - Streamed: a layer's tar goes chunk by chunk through sha256 (its diff_id), the compressor and a
 *   second sha256 (the blob digest) to a file; the archive is then assembled by copying those files.
 *   Nothing proportional to the data size is ever held in memory.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { ChunkWriter, paddingFor, ustarHeader } from './tar-writer.js';

/** Bump when the bytes a parameter set produces change, so cached images are regenerated. */
export const GENERATOR_VERSION = 1;

const MTIME = 1_704_067_200; // 2024-01-01T00:00:00Z
const CREATED = '2024-01-01T00:00:00Z';
const CORPUS_SIZE = 16 << 20;
const FILES_PER_DIR = 50;
const BASE_LAYER_SHARE = 0.6;
const LARGE_SHARE_OF_FILES = 0.001;
const LARGE_SHARE_OF_BYTES = 0.4;

/** @typedef {{ name?: string, files: number, bytes: number, layers: number, compression?: 'none'|'gzip'|'zstd',
 *   layout?: 'legacy'|'oci', overwritten?: number, whiteout?: number, opaque?: number, hardlinked?: number,
 *   seed?: number }} ImageParams */

export const DEFAULTS = { compression: 'none', layout: 'legacy', overwritten: 0.05, whiteout: 0.03, opaque: 0.01, hardlinked: 0.02, seed: 1 };

export function withDefaults(params) {
  return { ...DEFAULTS, ...params };
}

export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng, n) => Math.floor(rng() * n);

function dirPath(i) {
  return `t${String(i % 16).padStart(2, '0')}/m${String(Math.floor(i / 16)).padStart(5, '0')}`;
}

function fileName(i) {
  return `f${String(i).padStart(7, '0')}.dat`;
}

/** Sizes of the new files: log-uniform weights, a few large files carrying LARGE_SHARE_OF_BYTES. */
function fileSizes(p, rng) {
  const large = p.files >= 100 ? Math.max(1, Math.round(p.files * LARGE_SHARE_OF_FILES)) : 0;
  const weights = Array.from({ length: p.files }, () => 2 ** (rng() * 12));
  const isLarge = new Uint8Array(p.files);
  for (let k = 0; k < large; k++) isLarge[int(rng, p.files)] = 1;
  const largeBudget = large ? p.bytes * LARGE_SHARE_OF_BYTES : 0;
  let sumSmall = 0;
  let sumLarge = 0;
  for (let i = 0; i < p.files; i++) isLarge[i] ? (sumLarge += weights[i]) : (sumSmall += weights[i]);
  return weights.map((w, i) => Math.floor(isLarge[i] ? (w / sumLarge) * largeBudget : (w / sumSmall) * (p.bytes - largeBudget)));
}

/** An array with O(1) add, remove and random pick: the live files of the merged tree. */
class LiveSet {
  constructor() {
    this.items = [];
    this.index = new Map();
  }
  add(path) {
    if (this.index.has(path)) return;
    this.index.set(path, this.items.length);
    this.items.push(path);
  }
  delete(path) {
    const i = this.index.get(path);
    if (i === undefined) return;
    const last = this.items.pop();
    if (i < this.items.length) {
      this.items[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(path);
  }
  pick(rng) {
    return this.items[int(rng, this.items.length)];
  }
  get size() {
    return this.items.length;
  }
}

/**
 * The layers' entries and the final tree, from the parameters alone.
 * @returns {{ params: object, layers: Array<Array<{path: string, type: string, size: number, seed: number, linkname?: string}>>,
 *   final: Map<string, {size: number, layer: number}>, dirs: string[] }}
 */
export function planImage(params) {
  const p = withDefaults(params);
  const rng = mulberry32(p.seed);
  const dirCount = Math.max(1, Math.ceil(p.files / FILES_PER_DIR));
  const dirs = Array.from({ length: dirCount }, (_, i) => dirPath(i));
  const sizes = fileSizes(p, rng);
  const layerOf = sizes.map(() => (p.layers === 1 || rng() < BASE_LAYER_SHARE ? 0 : 1 + int(rng, p.layers - 1)));
  const dirOf = sizes.map(() => int(rng, dirCount));

  /** @type {Map<string, {size: number, layer: number}>} */
  const final = new Map();
  const live = new LiveSet();
  const liveByDir = new Map(dirs.map((d) => [d, new Set()]));
  const remove = (path) => {
    final.delete(path);
    live.delete(path);
    liveByDir.get(path.slice(0, path.lastIndexOf('/')))?.delete(path);
  };
  const put = (path, size, layer) => {
    final.set(path, { size, layer });
    live.add(path);
    liveByDir.get(path.slice(0, path.lastIndexOf('/')))?.add(path);
  };

  const uppers = Math.max(1, p.layers - 1);
  const perUpper = (fraction, of) => Math.round((fraction * of) / uppers);
  const layers = [];
  for (let L = 0; L < p.layers; L++) {
    const entries = [];
    const touched = new Set();
    if (L > 0) {
      for (let k = 0; k < perUpper(p.opaque, dirCount); k++) {
        const dir = dirs[int(rng, dirCount)];
        if (touched.has(dir) || !liveByDir.get(dir).size) continue;
        touched.add(dir);
        for (const path of [...liveByDir.get(dir)]) remove(path);
        entries.push({ path: `${dir}/.wh..wh..opq`, type: 'opaque', size: 0, seed: 0 });
      }
      for (let k = 0; k < perUpper(p.whiteout, p.files) && live.size; k++) {
        const path = live.pick(rng);
        if (touched.has(path)) continue;
        touched.add(path);
        remove(path);
        const slash = path.lastIndexOf('/');
        entries.push({ path: `${path.slice(0, slash)}/.wh.${path.slice(slash + 1)}`, type: 'whiteout', size: 0, seed: 0 });
      }
      for (let k = 0; k < perUpper(p.overwritten, p.files) && live.size; k++) {
        const path = live.pick(rng);
        if (touched.has(path)) continue;
        touched.add(path);
        const size = final.get(path).size;
        put(path, size, L);
        entries.push({ path, type: 'file', size, seed: Math.floor(rng() * 2 ** 31) });
      }
    }
    for (let i = 0; i < p.files; i++) {
      if (layerOf[i] !== L) continue;
      const path = `${dirs[dirOf[i]]}/${fileName(i)}`;
      put(path, sizes[i], L);
      entries.push({ path, type: 'file', size: sizes[i], seed: Math.floor(rng() * 2 ** 31) });
      if (rng() < p.hardlinked) {
        put(`${path}.hl`, sizes[i], L);
        entries.push({ path: `${path}.hl`, type: 'link', size: 0, seed: 0, linkname: path });
      }
    }
    const parents = new Set(entries.map((e) => e.path.slice(0, e.path.lastIndexOf('/'))));
    for (const dir of parents) {
      entries.push({ path: dir, type: 'dir', size: 0, seed: 0 });
      if (dir.includes('/')) parents.add(dir.slice(0, dir.indexOf('/')));
    }
    layers.push(dedupeSorted(entries));
  }
  return { params: p, layers, final, dirs };
}

function dedupeSorted(entries) {
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return entries.filter((e, i) => i === 0 || entries[i - 1].path !== e.path);
}

/** Text-like words with random binary runs: gzip takes it to ~58%, zstd -3 to ~46%. */
export function makeCorpus(seed, size = CORPUS_SIZE) {
  const rng = mulberry32(seed ^ 0x5eed);
  const words = Array.from({ length: 4096 }, () => {
    const n = 2 + int(rng, 9);
    let w = '';
    for (let i = 0; i < n; i++) w += String.fromCharCode(97 + int(rng, 26));
    return Buffer.from(w + (rng() < 0.1 ? '\n' : ' '), 'latin1');
  });
  const corpus = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    if (rng() < 0.001) {
      const n = Math.min(size - off, 64 + int(rng, 4096));
      for (let i = 0; i < n; i++) corpus[off + i] = int(rng, 256);
      off += n;
    } else {
      const w = words[int(rng, words.length)];
      off += w.copy(corpus, off, 0, Math.min(w.length, size - off));
    }
  }
  return corpus;
}

/** Content of a file: the corpus from a seed-chosen offset, wrapping. */
function contentFiller(corpus, seed) {
  const start = seed % corpus.length;
  return (target, from, to, produced) => {
    let pos = (start + produced) % corpus.length;
    let at = from;
    while (at < to) {
      const n = corpus.copy(target, at, pos, Math.min(corpus.length, pos + (to - at)));
      at += n;
      pos = 0;
    }
  };
}

async function writeEntries(writer, entries, corpus, L) {
  const mtime = MTIME + L * 3600;
  for (const e of entries) {
    if (e.type === 'dir') await writer.write(ustarHeader({ name: e.path, type: 'dir', mtime }));
    else if (e.type === 'link') await writer.write(ustarHeader({ name: e.path, type: 'link', linkname: e.linkname, mtime }));
    else if (e.type === 'whiteout' || e.type === 'opaque') await writer.write(ustarHeader({ name: e.path, type: 'file', size: 0, mtime }));
    else {
      await writer.write(ustarHeader({ name: e.path, type: 'file', size: e.size, mtime }));
      await writer.writeGenerated(e.size, contentFiller(corpus, e.seed));
      await writer.zeros(paddingFor(e.size));
    }
  }
  await writer.end();
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
 * Write layer L as a blob file; returns its digests and sizes. The tar is produced into a
 * PassThrough whose backpressure the writer awaits, so at most a few chunks are ever in flight.
 */
async function writeLayer(entries, corpus, L, compression, path) {
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  const source = new PassThrough({ highWaterMark: 4 << 20 });
  const stages = [source];
  if (compression === 'gzip') stages.push(createGzip({ level: 6, chunkSize: 1 << 20 }));
  if (compression === 'zstd') stages.push(await zstdLevel3());
  const done = pipeline(...stages, hashTap(blob), createWriteStream(path));
  const writer = new ChunkWriter(async (chunk) => {
    diff.update(chunk);
    if (!source.write(chunk)) await once(source, 'drain');
  });
  try {
    await writeEntries(writer, entries, corpus, L);
    source.end();
  } catch (e) {
    source.destroy(e);
  }
  await done;
  return { diffId: `sha256:${diff.digest('hex')}`, digest: `sha256:${blob.digest('hex')}`, size: statSync(path).size, tarSize: writer.total };
}

const MEDIA = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

function imageConfig(layers, p) {
  return {
    architecture: 'amd64',
    os: 'linux',
    created: CREATED,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: CREATED, created_by: `/bin/sh -c #(nop) layer ${i} of ${p.name ?? 'bench'}` })),
  };
}

const hex = (digest) => digest.slice('sha256:'.length);
const json = (value) => Buffer.from(JSON.stringify(value));
const sha256 = (buf) => `sha256:${createHash('sha256').update(buf).digest('hex')}`;

/** Members of the outer archive, in order: {name, data} or {name, file}. */
function archiveMembers(layers, blobPaths, p) {
  const config = json(imageConfig(layers, p));
  const configDigest = sha256(config);
  const tag = `bench/${p.name ?? 'image'}:latest`;
  if (p.layout === 'legacy') {
    const members = [];
    const layerNames = layers.map((l) => `${hex(l.diffId)}/layer.tar`);
    layers.forEach((l, i) => {
      members.push({ name: `${hex(l.diffId)}/`, dir: true });
      members.push({ name: `${hex(l.diffId)}/VERSION`, data: Buffer.from('1.0') });
      members.push({ name: layerNames[i], file: blobPaths[i] });
    });
    members.push({ name: `${hex(configDigest)}.json`, data: config });
    members.push({ name: 'manifest.json', data: json([{ Config: `${hex(configDigest)}.json`, RepoTags: [tag], Layers: layerNames }]) });
    return members;
  }
  const manifest = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: MEDIA[p.compression], digest: l.digest, size: l.size })),
  });
  const manifestDigest = sha256(manifest);
  const index = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  });
  return [
    { name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', data: index },
    { name: 'blobs/', dir: true },
    { name: 'blobs/sha256/', dir: true },
    { name: `blobs/sha256/${hex(configDigest)}`, data: config },
    { name: `blobs/sha256/${hex(manifestDigest)}`, data: manifest },
    ...layers.map((l, i) => ({ name: `blobs/sha256/${hex(l.digest)}`, file: blobPaths[i] })),
  ];
}

/** Copy a file into the archive through a 1 MiB buffer (never the whole file in memory). */
function appendFile(outFd, path) {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      let off = 0;
      while (off < n) off += writeSync(outFd, buf, off, n - off);
      total += n;
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

function writeArchive(path, members) {
  const fd = openSync(path, 'w');
  const zeros = Buffer.alloc(1024);
  const seen = new Set();
  try {
    for (const m of members) {
      if (seen.has(m.name)) continue; // a layer repeated in the image is stored once
      seen.add(m.name);
      if (m.dir) {
        writeSync(fd, ustarHeader({ name: m.name, type: 'dir', mtime: MTIME }));
        continue;
      }
      const size = m.data ? m.data.length : statSync(m.file).size;
      writeSync(fd, ustarHeader({ name: m.name, type: 'file', size, mtime: MTIME }));
      if (m.data) writeSync(fd, m.data);
      else appendFile(fd, m.file);
      writeSync(fd, zeros, 0, paddingFor(size));
    }
    writeSync(fd, zeros);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write an image archive at `path` (via a `.partial` file renamed at the end) from layer blob files
 * and their digests; `p.layout` is 'legacy' (docker save) or 'oci' (OCI archive), `p.compression`
 * names the blobs' media type.
 * @param {Array<{diffId: string, digest: string, size: number}>} layers
 */
export function assembleArchive(path, layers, blobPaths, p) {
  const tmp = `${path}.partial`;
  writeArchive(tmp, archiveMembers(layers, blobPaths, { ...DEFAULTS, ...p }));
  renameSync(tmp, path);
}

/** A short stable key for a parameter set: the cache directory's name. */
export function imageKey(params) {
  const p = withDefaults(params);
  const canonical = JSON.stringify(Object.keys(p).sort().map((k) => [k, p[k]]));
  return `${p.name ?? 'image'}-${createHash('sha256').update(`${GENERATOR_VERSION}:${canonical}`).digest('hex').slice(0, 12)}`;
}

/**
 * Generate the image into `dir` (created; `image.tar` + `summary.json`; for compressed layers the
 * blobs stay in `dir/blobs/` for the decompress-alone measurement). Returns the summary.
 */
export async function generateImage(params, dir) {
  const plan = planImage(params);
  const p = plan.params;
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  const corpus = makeCorpus(p.seed, Math.min(CORPUS_SIZE, Math.max(1 << 18, p.bytes)));
  const layers = [];
  const blobPaths = [];
  for (let L = 0; L < plan.layers.length; L++) {
    const path = join(dir, 'blobs', `layer-${L}.${p.compression === 'none' ? 'tar' : p.compression === 'gzip' ? 'tar.gz' : 'tar.zst'}`);
    layers.push(await writeLayer(plan.layers[L], corpus, L, p.compression, path));
    blobPaths.push(path);
  }
  assembleArchive(join(dir, 'image.tar'), layers, blobPaths, p);
  if (p.compression === 'none') rmSync(join(dir, 'blobs'), { recursive: true, force: true });
  let finalBytes = 0;
  for (const f of plan.final.values()) finalBytes += f.size;
  const summary = {
    params: p,
    key: imageKey(params),
    image: join(dir, 'image.tar'),
    imageBytes: statSync(join(dir, 'image.tar')).size,
    layers: layers.map((l, i) => ({ ...l, entries: plan.layers[i].length, blob: p.compression === 'none' ? undefined : blobPaths[i] })),
    layerEntries: plan.layers.reduce((n, l) => n + l.length, 0),
    uncompressedBytes: layers.reduce((n, l) => n + l.tarSize, 0),
    finalFiles: plan.final.size,
    finalFileBytes: finalBytes,
  };
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2));
  return summary;
}

/** The cached image for these parameters under cacheDir, generated when missing. */
export async function ensureImage(params, cacheDir, log = () => undefined) {
  const dir = join(cacheDir, imageKey(params));
  const summaryPath = join(dir, 'summary.json');
  if (existsSync(summaryPath) && existsSync(join(dir, 'image.tar'))) return JSON.parse(readFileSync(summaryPath, 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  log(`generating ${imageKey(params)} in ${dir} …`);
  const started = Date.now();
  const summary = await generateImage(params, dir);
  log(`  ${summary.imageBytes} bytes, ${summary.layerEntries} layer entries in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return summary;
}

/** A zstd level-3 compressor: node:zlib where Node has zstd, else zstd-napi. */
async function zstdLevel3() {
  const zlib = await import('node:zlib');
  if (zlib.createZstdCompress) return zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } });
  const { CompressStream } = await import('zstd-napi');
  return new CompressStream({ compressionLevel: 3 });
}
