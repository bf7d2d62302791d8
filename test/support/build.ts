/**
 * Build test images in memory from declarative lists, with tar-stream (an independent tar writer,
 * so our reader is never only tested against our own writer). Layouts: legacy `docker save`,
 * Docker 25+ (OCI layout + manifest.json), OCI archive; layers plain, gzip or zstd.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack as tarPack, type Headers } from 'tar-stream';
import { zstdSync } from '../../src/io/compression.js';

const zstdCompress = zstdSync.compress;

export interface EntrySpec {
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  /** epoch seconds */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

export const T0 = 1_600_000_000; // 2020-09-13T12:26:40Z, the crafted conformance cases' time

const TYPES = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  link: 'link',
  char: 'character-device',
  block: 'block-device',
  fifo: 'fifo',
} as const;

/** Shorthands: 'd/' a directory, 'f' a file with content 'f', 'l -> t' a symlink. */
export function e(path: string, extra: Partial<EntrySpec> = {}): EntrySpec {
  if (path.includes(' -> ')) {
    const [p, t] = path.split(' -> ');
    return { path: p!, type: 'symlink', linkname: t!, ...extra };
  }
  if (path.endsWith('/')) return { path, type: 'dir', ...extra };
  return { path, type: 'file', content: extra.content ?? path, ...extra };
}

export async function layerTar(entries: EntrySpec[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const spec of entries) {
    const type = spec.type ?? 'file';
    const content = type === 'file' ? Buffer.from(spec.content ?? '') : undefined;
    const header: Headers = {
      name: spec.path,
      type: TYPES[type],
      mode: spec.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: spec.uid ?? 0,
      gid: spec.gid ?? 0,
      mtime: new Date((spec.mtime ?? T0) * 1000),
    };
    if (spec.linkname !== undefined) header.linkname = spec.linkname;
    if (spec.devmajor !== undefined) header.devmajor = spec.devmajor;
    if (spec.devminor !== undefined) header.devminor = spec.devminor;
    if (spec.pax) header.pax = spec.pax;
    if (content) header.size = content.length;
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, content, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export interface ImageSpec {
  layout?: 'legacy' | 'docker-oci' | 'oci';
  compression?: 'none' | 'gzip' | 'zstd';
  config?: Record<string, unknown>;
  tags?: string[];
  created?: string;
  /** The digest algorithm of every descriptor, blob name and diff_id (OCI layouts; default sha256). */
  digest?: 'sha256' | 'sha512';
}

interface Member {
  name: string;
  data?: Buffer;
  type?: 'dir' | 'symlink';
  linkname?: string;
}

async function archive(members: Member[]): Promise<Buffer> {
  return layerTar(
    members.map((m) =>
      m.type === 'dir'
        ? { path: m.name, type: 'dir' as const }
        : m.type === 'symlink'
          ? { path: m.name, type: 'symlink' as const, linkname: m.linkname! }
          : { path: m.name, type: 'file' as const, content: m.data! },
    ),
  );
}

function compressLayer(tar: Buffer, kind: ImageSpec['compression']): Buffer {
  if (kind === 'gzip') return gzipSync(tar);
  if (kind === 'zstd') return zstdCompress(tar);
  return tar;
}

export function configFor(layers: Buffer[], spec: ImageSpec = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: spec.created ?? '2020-09-13T12:26:40Z',
      config: { Cmd: ['/bin/sh'], ...(spec.config ?? {}) },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `${spec.digest ?? 'sha256'}:${createHash(spec.digest ?? 'sha256').update(l).digest('hex')}`) },
      history: layers.map((_, i) => ({ created: '2020-09-13T12:26:40Z', created_by: `layer ${i}` })),
    }),
  );
}

/** An image archive holding these (uncompressed) layer tars. */
export async function imageArchive(layers: Buffer[], spec: ImageSpec = {}): Promise<Buffer> {
  const layout = spec.layout ?? 'legacy';
  const config = configFor(layers, spec);
  const configHex = sha256(config);
  const tags = spec.tags ?? ['test:latest'];
  if (layout === 'legacy') {
    const members: Member[] = [];
    const paths: string[] = [];
    layers.forEach((l, i) => {
      const id = sha256(Buffer.from(`${i}:${sha256(l)}`));
      members.push({ name: `${id}/`, type: 'dir' }, { name: `${id}/VERSION`, data: Buffer.from('1.0') }, { name: `${id}/layer.tar`, data: l });
      paths.push(`${id}/layer.tar`);
    });
    members.push({ name: `${configHex}.json`, data: config });
    members.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: tags, Layers: paths }])) });
    return archive(members);
  }
  const alg = spec.digest ?? 'sha256';
  const hexOf = (b: Buffer) => createHash(alg).update(b).digest('hex');
  const blobs = new Map<string, Buffer>();
  const add = (b: Buffer) => {
    const hex = hexOf(b);
    blobs.set(hex, b);
    return hex;
  };
  add(config);
  const configName = hexOf(config);
  const stored = layers.map((l) => compressLayer(l, spec.compression));
  const layerType = spec.compression === 'gzip' ? '+gzip' : spec.compression === 'zstd' ? '+zstd' : '';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `${alg}:${configName}`, size: config.length },
      layers: stored.map((b) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar${layerType}`, digest: `${alg}:${add(b)}`, size: b.length })),
    }),
  );
  const manifestHex = add(manifest);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `${alg}:${manifestHex}`,
        size: manifest.length,
        annotations: { 'io.containerd.image.name': `docker.io/library/${tags[0]}`, 'org.opencontainers.image.ref.name': tags[0]!.split(':')[1] ?? 'latest' },
      },
    ],
  };
  const members: Member[] = [{ name: 'blobs/', type: 'dir' }, { name: `blobs/${alg}/`, type: 'dir' }];
  for (const [hex, b] of blobs) members.push({ name: `blobs/${alg}/${hex}`, data: b });
  members.push({ name: 'index.json', data: Buffer.from(JSON.stringify(index)) });
  members.push({ name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
  if (layout === 'docker-oci') {
    const layerPaths = stored.map((b) => `blobs/${alg}/${hexOf(b)}`);
    members.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `blobs/${alg}/${configName}`, RepoTags: tags, Layers: layerPaths }])) });
  }
  return archive(members);
}

let scratch: string | undefined;
/** A fresh directory for a test's files. */
export function scratchDir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'layerfold-test-'));
  return mkdtempSync(join(scratch, 'case-'));
}

export function writeTemp(buf: Buffer, name = 'image.tar'): string {
  const path = join(scratchDir(), name);
  writeFileSync(path, buf);
  return path;
}
