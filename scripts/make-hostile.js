#!/usr/bin/env node
/**
 * Generates fixtures/hostile/: image archives that are crafted or damaged, one file per case, and
 * fixtures/hostile/cases.json saying what each must get — `refuse` with a LayerfoldError code, or
 * `accept` with names the result must (not) hold. test/hostile.test.ts runs every command on every case.
 *
 * Rules: deterministic (fixed mtimes, a seeded PRNG, no clock), so re-running changes nothing; sound
 * archives are written with tar-stream (an independent writer), damage is done with hand-made header
 * bytes where tar-stream cannot express it; every layer's diff_id (and every OCI descriptor) matches
 * the damaged bytes unless the case is about digests, so each case reaches the check it is about.
 * Expected outcomes come from docker's own rules (fixtures/docker: FINDINGS.md and pairs made on a real
 * engine such as name-escape; moby's pkg/archive), not from layerfold's output. Run: node scripts/make-hostile.js [DIR] (default fixtures/hostile).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
// zstd-napi where installed (the committed corpus was made with it), else node:zlib (Node 22.15+)
const zstdCompress = await import('zstd-napi').then((m) => m.compress, () => zlib.zstdCompressSync);
const { gzipSync } = zlib;
import { repeatedLayerImage, repeatedManifestImage } from './bench/shapes.js';

const OUT = process.argv[2] ?? new URL('../fixtures/hostile/', import.meta.url).pathname;
const T0 = 1_600_000_000;
const BLOCK = 512;

// ----------------------------------------------------------------------------------------------
// Bytes

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** mulberry32: a seeded PRNG so "random" cases are the same bytes every run. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(n, seed) {
  const next = prng(seed);
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i++) buf[i] = Math.floor(next() * 256);
  return buf;
}

const pad = (n) => (BLOCK - (n % BLOCK)) % BLOCK;

// ----------------------------------------------------------------------------------------------
// Sound tars, written by tar-stream

const TYPES = { file: 'file', dir: 'directory', symlink: 'symlink', link: 'link' };

/** 'd/' a directory, 'f' a file, 'l -> t' a symlink, 'h => t' a hardlink. */
function entry(spec, extra = {}) {
  if (spec.includes(' -> ')) {
    const [name, linkname] = spec.split(' -> ');
    return { name, type: 'symlink', linkname, ...extra };
  }
  if (spec.includes(' => ')) {
    const [name, linkname] = spec.split(' => ');
    return { name, type: 'link', linkname, ...extra };
  }
  if (spec.endsWith('/')) return { name: spec, type: 'dir', ...extra };
  return { name: spec, type: 'file', data: Buffer.from(extra.content ?? `${spec}\n`), ...extra };
}

async function tarOf(entries) {
  const pack = tarPack();
  const chunks = [];
  pack.on('data', (c) => chunks.push(c));
  const done = new Promise((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const header = {
      name: e.name,
      type: TYPES[e.type],
      mode: e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644),
      uid: 0,
      gid: 0,
      mtime: new Date(T0 * 1000),
    };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (e.pax) header.pax = e.pax;
    const data = e.type === 'file' ? e.data : undefined;
    if (data) header.size = data.length;
    await new Promise((resolve, reject) => pack.entry(header, data, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const layer = (...specs) => tarOf(specs.map((s) => (typeof s === 'string' ? entry(s) : s)));

// ----------------------------------------------------------------------------------------------
// Hand-made headers, for what tar-stream will not write

const FIELDS = {
  name: [0, 100], mode: [100, 8], uid: [108, 8], gid: [116, 8], size: [124, 12], mtime: [136, 12],
  chksum: [148, 8], typeflag: [156, 1], linkname: [157, 100], magic: [257, 6], version: [263, 2], devmajor: [329, 8], devminor: [337, 8],
};

const octal = (n, width) => `${n.toString(8).padStart(width - 1, '0')}\0`;

/** Base-256 (the high bit set), as GNU tar writes numbers too big for octal; negative in two's complement. */
function base256(value, width) {
  const buf = Buffer.alloc(width);
  let x = BigInt.asUintN(width * 8, BigInt(value));
  for (let i = width - 1; i >= 0; i--) {
    buf[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  buf[0] |= 0x80;
  return buf;
}

function setChecksum(block) {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

/**
 * One USTAR header. `raw` overrides fields with exact bytes (strings are latin1), written after the
 * sound values, so any field can be made to lie; the checksum is then computed unless badChecksum.
 */
function header({ name, type = '0', size = 0, mode = 0o644, linkname = '', raw = {}, badChecksum = false }) {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, 'latin1');
  block.write(octal(mode, 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1');
  block.write(octal(0, 8), 116, 'latin1');
  block.write(octal(size, 12), 124, 'latin1');
  block.write(octal(T0, 12), 136, 'latin1');
  block.write(type, 156, 'latin1');
  block.write(linkname, 157, 100, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  for (const [field, value] of Object.entries(raw)) {
    const [off, len] = FIELDS[field];
    const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
    block.fill(0, off, off + len);
    bytes.copy(block, off, 0, Math.min(len, bytes.length));
  }
  setChecksum(block);
  if (badChecksum) block[148] = block[148] === 0x31 ? 0x32 : 0x31;
  return block;
}

/** A record: a header and its data, padded to the block size. */
function record(h, data = Buffer.alloc(0)) {
  return Buffer.concat([header(h), data, Buffer.alloc(pad(data.length))]);
}

const END = Buffer.alloc(2 * BLOCK);

/** A PAX `x` record body from key/value pairs, lengths computed honestly. */
function paxBody(pairs) {
  return Buffer.from(
    Object.entries(pairs)
      .map(([k, v]) => {
        const base = Buffer.byteLength(`${k}=${v}\n`) + 1;
        let len = base + String(base).length;
        if (String(len).length + base !== len) len = base + String(len).length;
        return `${len} ${k}=${v}\n`;
      })
      .join(''),
  );
}

const fileRecord = (name, content = `${name}\n`) => record({ name, size: Buffer.byteLength(content) }, Buffer.from(content));

// ----------------------------------------------------------------------------------------------
// Image archives around layers

const compressors = { none: (b) => b, gzip: (b) => gzipSync(b), zstd: (b) => zstdCompress(b) };

function configFor(layers, edit) {
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2020-09-13T12:26:40Z',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha256(l)}`) },
    history: layers.map((_, i) => ({ created: '2020-09-13T12:26:40Z', created_by: `layer ${i}` })),
  };
  return Buffer.from(JSON.stringify(edit ? edit(config) ?? config : config));
}

/**
 * The members of an image archive. `layers` are uncompressed tars; options edit the JSON documents
 * (`config`, `manifest` = manifest.json, `ociManifest`, `index`) before they are hashed, or swap
 * stored layer bytes (`stored`: compressed or damaged bytes, digests computed from them).
 */
function imageMembers(layers, opts = {}) {
  const layout = opts.layout ?? 'legacy';
  const config = opts.configBytes ?? configFor(layers, opts.config);
  const configHex = sha256(config);
  const stored = opts.stored ?? layers.map(compressors[opts.compression ?? 'none']);
  const members = [];
  if (layout === 'legacy') {
    const paths = [];
    stored.forEach((l, i) => {
      const id = sha256(Buffer.from(`${i}:${sha256(l)}`));
      members.push({ name: `${id}/`, type: 'dir' }, { name: `${id}/VERSION`, data: Buffer.from('1.0') }, { name: `${id}/layer.tar`, data: l });
      paths.push(`${id}/layer.tar`);
    });
    members.push({ name: `${configHex}.json`, data: config });
    const manifest = [{ Config: `${configHex}.json`, RepoTags: ['hostile:latest'], Layers: paths }];
    members.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(opts.manifest ? opts.manifest(manifest) ?? manifest : manifest)) });
    return members;
  }
  const blobs = new Map();
  const add = (b) => {
    blobs.set(sha256(b), b);
    return sha256(b);
  };
  add(config);
  const kind = opts.compression ?? 'none';
  const suffix = kind === 'none' ? '' : `+${kind}`;
  let ociManifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
    layers: stored.map((b) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar${suffix}`, digest: `sha256:${add(b)}`, size: b.length })),
  };
  if (opts.ociManifest) ociManifest = opts.ociManifest(ociManifest) ?? ociManifest;
  const manifestBytes = Buffer.from(JSON.stringify(ociManifest));
  const manifestHex = add(manifestBytes);
  let index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${manifestHex}`, size: manifestBytes.length, annotations: { 'io.containerd.image.name': 'docker.io/library/hostile:latest', 'org.opencontainers.image.ref.name': 'latest' } }],
  };
  if (opts.index) index = opts.index(index, add) ?? index;
  members.push({ name: 'blobs/', type: 'dir' }, { name: 'blobs/sha256/', type: 'dir' });
  for (const [hex, b] of blobs) members.push({ name: `blobs/sha256/${hex}`, data: b });
  members.push({ name: 'index.json', data: Buffer.from(JSON.stringify(index)) });
  members.push({ name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
  if (layout === 'docker-oci') {
    let manifest = [{ Config: `blobs/sha256/${configHex}`, RepoTags: ['hostile:latest'], Layers: stored.map((b) => `blobs/sha256/${sha256(b)}`) }];
    if (opts.manifest) manifest = opts.manifest(manifest) ?? manifest;
    members.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) });
  }
  return members;
}

const packMembers = (members) =>
  tarOf(members.map((m) => (m.type === 'dir' ? { name: m.name, type: 'dir' } : m.type ? m : { name: m.name, type: 'file', data: m.data })));

const image = (layers, opts) => packMembers(imageMembers(layers, opts));

/** Header offset of the member whose name matches, walking an outer tar written by tar-stream. */
function memberOffset(tar, test) {
  for (let pos = 0; pos + BLOCK <= tar.length; ) {
    const name = tar.toString('latin1', pos, pos + 100).replace(/\0.*$/s, '');
    if (name === '') break;
    if (test(name)) return pos;
    const size = parseInt(tar.toString('latin1', pos + 124, pos + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    pos += BLOCK + size + pad(size);
  }
  throw new Error('member not found');
}

const isLayer = (n) => n.endsWith('/layer.tar');

// ----------------------------------------------------------------------------------------------
// The cases. expect: { outcome: 'refuse', code } | { outcome: 'accept', has?: [names], lacks?: [names] }.
// Names in has/lacks are export names (directories end in '/').

const BASE = ['etc/', 'etc/passwd', 'bin/', 'bin/sh'];
const base = () => layer(...BASE);
const refuse = (code) => ({ outcome: 'refuse', code });
const accept = (has = [], lacks = []) => ({ outcome: 'accept', has, lacks });

/** An image whose top layer is a raw tar built from records (its diff_id is computed from it). */
const rawLayerImage = async (records, opts) => image([await base(), Buffer.concat(records)], opts);

const cases = [];
const add = (name, what, expect, build, ext = 'tar') => cases.push({ name, what, expect, build, file: `${name}.${ext}` });

// Names in layer entries
// docker unpacks a layer chrooted into its own directory, so `..` stops at the layer's root: `../evil`
// is `evil` (fixtures/docker/name-escape, a real engine).
add('entry-dotdot', 'a layer entry named ../evil (docker: evil, at the root)', accept(['evil'], ['../evil']), async () => image([await base(), await layer('../evil')]));
add('entry-dotdot-inner', 'a layer entry named a/../../evil (evil, at the root)', accept(['evil']), async () => image([await base(), await layer('a/../../evil')]));
add('entry-dotdot-dir', 'a directory entry named ../../tmp/ (tmp/, at the root)', accept(['tmp/']), async () => image([await base(), await layer('../../tmp/')]));
add('entry-absolute', 'absolute names /etc/evil and /abs/dir/ (docker cleans them to relative)', accept(['etc/evil', 'abs/dir/'], ['/etc/evil']), async () =>
  image([await base(), await layer('/etc/evil', '/abs/', '/abs/dir/')]));
add('entry-root-parent', '/../../evil: the root is its own parent, so it is evil', accept(['evil']), async () => image([await base(), await layer('/../../evil')]));
add('entry-pax-path-dotdot', 'a PAX path=../../evil on an innocent header (evil, at the root)', accept(['evil'], ['ok']), async () =>
  rawLayerImage([record({ name: 'PaxHeaders/ok', type: 'x', size: paxBody({ path: '../../evil' }).length }, paxBody({ path: '../../evil' })), fileRecord('ok'), END]));
add('entry-gnu-longname-dotdot', 'a GNU long name (L record) that climbs out (evil, at the root)', accept(['evil'], ['ok']), async () => {
  const long = Buffer.from(`${'../'.repeat(60)}evil\0`);
  return rawLayerImage([record({ name: '././@LongLink', type: 'L', size: long.length }, long), fileRecord('ok'), END]);
});

// Symlinks and hardlinks that reach outside
add('symlink-absolute-out', 'symlinks to /etc/shadow and to / (data, not paths: exported as they are)', accept(['etc/evil', 'root']), async () =>
  image([await base(), await layer('etc/evil -> /etc/shadow', 'root -> /')]));
add('symlink-relative-out', 'a symlink climbing far above the root', accept(['up']), async () => image([await base(), await layer('up -> ../../../../../../../../tmp')]));
add('symlink-parent-lower', 'x -> /tmp in one layer, x/evil in the next (docker unpacks into the layer\'s own directory: x becomes a directory)', accept(['x/', 'x/evil'], ['tmp/evil']), async () =>
  image([await base(), await layer('x -> /tmp'), await layer('x/evil')]));
add('symlink-parent-same-layer', 'x -> /tmp and x/evil in one layer', refuse('BAD_ENTRY'), async () => image([await base(), await layer('x -> /tmp', 'x/evil')]));
add('symlink-chain', 'a -> b -> c -> ../../.. then a/evil in the next layer', accept(['a/', 'a/evil', 'b', 'c']), async () =>
  image([await base(), await layer('a -> b', 'b -> c', 'c -> ../../..'), await layer('a/evil')]));
add('symlink-then-dotdot', 'l -> /tmp then l/../evil: names are cleaned lexically, never through links', accept(['evil', 'l'], ['tmp/evil']), async () =>
  image([await base(), await layer('l -> /tmp'), await layer('l/../evil')]));
add('hardlink-dotdot', 'a hardlink to ../../etc/passwd, which the layer holds (etc/passwd, fixtures/docker/hardlink-escape)', accept(['h', 'etc/passwd']), async () =>
  image([await base(), await layer('etc/', 'etc/passwd', 'h => ../../etc/passwd')]));
add('hardlink-dotdot-missing', 'a hardlink to ../../etc/shadow, which the layer lacks', refuse('BAD_ENTRY'), async () => image([await base(), await layer('h => ../../etc/shadow')]));
add('hardlink-absolute-missing', 'a hardlink to /etc/passwd the layer does not hold', refuse('BAD_ENTRY'), async () => image([await base(), await layer('h => /etc/passwd')]));
add('hardlink-absolute-inside', 'a hardlink to /etc/passwd the same layer holds (cleaned to etc/passwd)', accept(['etc/passwd', 'h']), async () =>
  image([await base(), await layer('etc/', 'etc/passwd', 'h => /etc/passwd')]));
// docker's os.Link follows a symlink the same layer made, inside the layer (fixtures/docker/hardlink-via-symlink)
add('hardlink-through-symlink', 'a hardlink to l/passwd where l -> etc, all in one layer: it names etc/passwd, inside the image', accept(['etc/passwd', 'h', 'l']), async () =>
  image([await base(), await layer('etc/', 'etc/passwd', 'l -> etc', 'h => l/passwd')]));
add('hardlink-to-symlink-out', 'a hardlink to a symlink that points to /etc/shadow', accept(['s', 'h']), async () => image([await base(), await layer('s -> /etc/shadow', 'h => s')]));
add('hardlink-chain', 'h2 => h1 => f', accept(['f', 'h1', 'h2']), async () => image([await base(), await layer('f', 'h1 => f', 'h2 => h1')]));
add('hardlink-lower-layer', 'a hardlink to a file of a lower layer', refuse('BAD_ENTRY'), async () => image([await base(), await layer('h => bin/sh')]));

// Whiteouts
add('whiteout-bare', 'etc/.wh. (docker: mknod of its parent fails)', refuse('BAD_ENTRY'), async () => image([await base(), await layer('etc/', 'etc/.wh.')]));
add('whiteout-dot', 'etc/.wh.. (a whiteout of "." is its own directory)', refuse('BAD_ENTRY'), async () => image([await base(), await layer('etc/', 'etc/.wh..')]));
add('whiteout-dotdot', 'etc/.wh... (a whiteout of ".." is the parent; docker: mknod of an existing path fails)', refuse('BAD_ENTRY'), async () => image([await base(), await layer('etc/', 'etc/.wh...')]));
add('whiteout-dotdot-top', '.wh... at the top (a whiteout of the root\'s parent)', refuse('BAD_ENTRY'), async () => image([await base(), await layer('.wh...')]));
add('whiteout-dir-component', 'a/.wh.../x: .wh... as a directory name is just a name', accept(['a/.wh.../', 'a/.wh.../x', 'bin/sh']), async () => image([await base(), await layer('a/.wh.../x')]));
add('whiteout-of-escape', '../.wh.bin: the whiteout climbs out, so it is .wh.bin and hides bin', accept(['etc/passwd'], ['bin/', 'bin/sh']), async () => image([await base(), await layer('../.wh.bin')]));

// Names in manifest.json and OCI descriptors
add('manifest-layer-dotdot', 'manifest.json Layers: ../../../etc/passwd', refuse('PATH_ESCAPE'), async () =>
  image([await base()], { manifest: (m) => void (m[0].Layers = ['../../../etc/passwd']) }));
add('manifest-layer-absolute', 'manifest.json Layers: /etc/passwd', refuse('PATH_ESCAPE'), async () => image([await base()], { manifest: (m) => void (m[0].Layers = ['/etc/passwd']) }));
add('manifest-layer-inner-dotdot', 'manifest.json Layers: abc/../../x', refuse('PATH_ESCAPE'), async () => image([await base()], { manifest: (m) => void (m[0].Layers = ['abc/../../x']) }));
add('manifest-config-dotdot', 'manifest.json Config: ../config.json', refuse('PATH_ESCAPE'), async () => image([await base()], { manifest: (m) => void (m[0].Config = '../config.json') }));
add('oci-layer-digest-dotdot', 'an OCI layer descriptor with digest sha256:../../x', refuse('BAD_LAYOUT'), async () =>
  image([await base()], { layout: 'oci', ociManifest: (m) => void (m.layers[0].digest = 'sha256:../../x') }));
add('oci-config-digest-absolute', 'an OCI config descriptor with digest sha256:/etc/passwd', refuse('BAD_LAYOUT'), async () =>
  image([await base()], { layout: 'oci', ociManifest: (m) => void (m.config.digest = 'sha256:/etc/passwd') }));
add('oci-index-digest-dotdot', 'index.json naming a manifest sha256:../../../etc/passwd', refuse('BAD_LAYOUT'), async () =>
  image([await base()], { layout: 'oci', index: (i) => void (i.manifests[0].digest = 'sha256:../../../etc/passwd') }));
add('docker-oci-layer-dotdot', 'a Docker 25+ manifest.json layer blobs/sha256/../../../x', refuse('PATH_ESCAPE'), async () =>
  image([await base()], { layout: 'docker-oci', manifest: (m) => void (m[0].Layers = ['blobs/sha256/../../../x']) }));
add('member-dotdot', 'the outer archive holds a member ../../evil (never looked up)', accept(['bin/sh']), async () =>
  packMembers([{ name: '../../evil', data: Buffer.from('x') }, ...imageMembers([await base()])]));
add('member-symlink-abs', 'the layer member is a symlink to /etc/passwd (resolved inside the archive only)', refuse('NOT_FOUND'), async () => {
  const members = imageMembers([await base()]);
  const l = members.find((m) => isLayer(m.name));
  Object.assign(l, { type: 'symlink', linkname: '/etc/passwd', data: undefined });
  return packMembers(members);
});
add('member-symlink-dotdot', 'the layer member is a symlink to ../../../etc/passwd', refuse('NOT_FOUND'), async () => {
  const members = imageMembers([await base()]);
  Object.assign(members.find((m) => isLayer(m.name)), { type: 'symlink', linkname: '../../../../etc/passwd', data: undefined });
  return packMembers(members);
});
add('member-hardlink-dotdot', 'the layer member is a hardlink to ../../etc/passwd', refuse('NOT_FOUND'), async () => {
  const members = imageMembers([await base()]);
  Object.assign(members.find((m) => isLayer(m.name)), { type: 'link', linkname: '../../etc/passwd', data: undefined });
  return packMembers(members);
});
add('member-symlink-loop', 'layer members that are symlinks to each other', refuse('NOT_FOUND'), async () => {
  const members = imageMembers([await base()]);
  const l = members.find((m) => isLayer(m.name));
  Object.assign(l, { type: 'symlink', linkname: 'loop.tar', data: undefined });
  members.push({ name: `${l.name.split('/')[0]}/loop.tar`, type: 'symlink', linkname: 'layer.tar' });
  return packMembers(members);
});
add('member-manifest-symlink-out', 'manifest.json is a symlink to /etc/passwd', refuse('BAD_LAYOUT'), async () => {
  const members = imageMembers([await base()]);
  Object.assign(members.find((m) => m.name === 'manifest.json'), { type: 'symlink', linkname: '/etc/passwd', data: undefined });
  return packMembers(members);
});

// Damaged layer tars (each diff_id matches the damaged bytes, so the parser is what must refuse)
add('layer-truncated-header', 'the layer stops in the middle of a header', refuse('BAD_LAYER'), async () => {
  const l = await layer('a', 'b');
  return image([await base(), l.subarray(0, 1024 + 300)]);
});
add('layer-truncated-data', 'the layer stops in the middle of a file\'s data', refuse('BAD_LAYER'), async () =>
  rawLayerImage([header({ name: 'big', size: 4000 }), Buffer.alloc(1000, 0x61)]));
add('layer-bad-checksum', 'a layer header whose checksum is wrong', refuse('BAD_LAYER'), async () =>
  rawLayerImage([fileRecord('ok'), Buffer.concat([header({ name: 'bad', size: 0, badChecksum: true })]), END]));
add('layer-size-not-octal', 'a size field holding 0000000012x4', refuse('BAD_LAYER'), async () => rawLayerImage([record({ name: 'f', raw: { size: '0000000012x4\0' } }), END]));
add('layer-mode-not-octal', 'a mode field holding 9999999', refuse('BAD_LAYER'), async () => rawLayerImage([record({ name: 'f', raw: { mode: '9999999\0' } }), END]));
add('layer-size-base256-huge', 'a base-256 size of 2^60 bytes', refuse('BAD_LAYER'), async () => rawLayerImage([record({ name: 'f', raw: { size: base256(2n ** 60n, 12) } }), END]));
add('layer-size-base256-overflow', 'a base-256 size of 2^88 - 1 (past any integer)', refuse('BAD_LAYER'), async () =>
  rawLayerImage([record({ name: 'f', raw: { size: Buffer.from([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) } }), END]));
add('layer-size-negative', 'a base-256 size of -1024', refuse('BAD_LAYER'), async () => rawLayerImage([record({ name: 'f', raw: { size: base256(-1024n, 12) } }), END]));
add('layer-size-past-end', 'a file claiming 1 GiB in a 3 KiB layer', refuse('BAD_LAYER'), async () =>
  rawLayerImage([header({ name: 'f', size: 1 << 30 }), Buffer.alloc(2048, 0x61)]));
add('layer-uid-base256', 'a base-256 uid (3000000, too big for octal): valid', accept(['big-uid']), async () =>
  rawLayerImage([record({ name: 'big-uid', raw: { uid: base256(3_000_000n, 8) } }), END]));
// docker's Lchown passes the ids to a 32-bit syscall: -1 leaves the owner as made (0), larger ids
// wrap (fixtures/cases/x-gid-minus1, x-uid-2pow32 on a real engine)
add('layer-uid-negative', 'a base-256 uid of -1: chown(-1) leaves the owner alone, so docker gives 0', accept(['neg-uid']), async () =>
  rawLayerImage([record({ name: 'neg-uid', raw: { uid: base256(-1n, 8) } }), END]));
add('layer-pax-gid-huge', 'a PAX gid=99999999999 (past 32 bits): wraps to 1215752191 as docker gives', accept(['f']), async () =>
  rawLayerImage([record({ name: 'PaxHeaders/f', type: 'x', size: paxBody({ gid: '99999999999' }).length }, paxBody({ gid: '99999999999' })), fileRecord('f'), END]));
// A NUL in a PAX name cut the export's USTAR prefix at `..`: `bsdtar -xP` of that export wrote outside
// its directory. Go's reader (and so docker) refuses such names.
add('layer-pax-path-nul', 'a PAX path "..\\0AAA…/evil" (a NUL would cut the exported name to "..")', refuse('BAD_LAYER'), async () => {
  const body = paxBody({ path: `..\0${'A'.repeat(120)}/evil` });
  return rawLayerImage([record({ name: 'PaxHeaders/f', type: 'x', size: body.length }, body), fileRecord('f'), END]);
});
add('layer-pax-linkpath-nul', 'a PAX linkpath holding a NUL byte', refuse('BAD_LAYER'), async () => {
  const body = paxBody({ linkpath: '/tmp\0/x' });
  return rawLayerImage([record({ name: 'PaxHeaders/l', type: 'x', size: body.length }, body), record({ name: 'l', type: '2', linkname: 'x' }), END]);
});
add('layer-path-too-deep', 'a PAX path 3000 directories deep (past PATH_MAX: docker fails; it cost minutes and gigabytes)', refuse('BAD_ENTRY'), async () => {
  const body = paxBody({ path: `${'a/'.repeat(3000)}f` });
  return rawLayerImage([record({ name: 'PaxHeaders/f', type: 'x', size: body.length }, body), fileRecord('f'), END]);
});
add('layer-pax-len-too-long', 'a PAX record claiming more bytes than it has', refuse('BAD_LAYER'), async () => {
  const body = Buffer.from('99 path=short\n');
  return rawLayerImage([record({ name: 'PaxHeaders/f', type: 'x', size: body.length }, body), fileRecord('f'), END]);
});
add('layer-pax-len-too-short', 'a PAX record claiming fewer bytes than it has', refuse('BAD_LAYER'), async () => {
  const body = Buffer.from('9 path=abcdefgh\n');
  return rawLayerImage([record({ name: 'PaxHeaders/f', type: 'x', size: body.length }, body), fileRecord('f'), END]);
});
add('layer-pax-len-not-number', 'a PAX record whose length is not a number', refuse('BAD_LAYER'), async () => {
  const body = Buffer.from('1x path=a\n');
  return rawLayerImage([record({ name: 'PaxHeaders/f', type: 'x', size: body.length }, body), fileRecord('f'), END]);
});
add('layer-pax-size-negative', 'a PAX size=-1', refuse('BAD_LAYER'), async () =>
  rawLayerImage([record({ name: 'PaxHeaders/f', type: 'x', size: paxBody({ size: '-1' }).length }, paxBody({ size: '-1' })), fileRecord('f'), END]));
add('layer-pax-size-huge', 'a PAX size=99999999999999 past the end of the layer', refuse('BAD_LAYER'), async () =>
  rawLayerImage([record({ name: 'PaxHeaders/f', type: 'x', size: paxBody({ size: '99999999999999' }).length }, paxBody({ size: '99999999999999' })), fileRecord('f'), END]));
add('layer-pax-record-huge', 'an x record claiming 8 MiB (past any reader\'s limit)', refuse('BAD_LAYER'), async () =>
  rawLayerImage([header({ name: 'PaxHeaders/f', type: 'x', size: 8 << 20 }), paxBody({ path: 'a' }), END]));
add('layer-gnu-longname-huge', 'a GNU L record claiming 8 GiB (octal 77777777777)', refuse('BAD_LAYER'), async () =>
  rawLayerImage([header({ name: '././@LongLink', type: 'L', raw: { size: '77777777777\0' } }), Buffer.from('aaaa'), END]));
add('layer-gnu-longname-base256', 'a GNU L record claiming 2^62 bytes in base-256', refuse('BAD_LAYER'), async () =>
  rawLayerImage([header({ name: '././@LongLink', type: 'L', raw: { size: base256(2n ** 62n, 12) } }), END]));
add('layer-gnu-longname-truncated', 'a GNU L record of 500000 bytes in a layer that ends after 1 KiB', refuse('BAD_LAYER'), async () =>
  rawLayerImage([header({ name: '././@LongLink', type: 'L', size: 500_000 }), Buffer.alloc(1024, 0x61)]));
add('layer-gnu-longname-dangling', 'a GNU L record followed by the end of the archive (Go: end of archive)', accept(['ok']), async () => {
  const long = Buffer.from(`${'n'.repeat(300)}\0`);
  return rawLayerImage([fileRecord('ok'), record({ name: '././@LongLink', type: 'L', size: long.length }, long), END]);
});
add('layer-longname-chain', '2000 GNU L records in a row, then one file: the last name wins (gzip layer)', accept([`${'x'.repeat(200)}1999`], ['last']), async () => {
  const recs = [];
  for (let i = 0; i < 2000; i++) {
    const long = Buffer.from(`${'x'.repeat(200)}${i}\0`);
    recs.push(record({ name: '././@LongLink', type: 'L', size: long.length }, long));
  }
  const layers = [await base(), Buffer.concat([...recs, fileRecord('last'), END])];
  return image(layers, { layout: 'oci', compression: 'gzip' });
});
add('layer-zero-block-then-data', 'one zero block, then more headers', refuse('BAD_LAYER'), async () => rawLayerImage([fileRecord('a'), Buffer.alloc(BLOCK), fileRecord('b'), END]));
add('layer-sparse', 'a GNU sparse entry (type S)', refuse('UNSUPPORTED'), async () => rawLayerImage([record({ name: 'sparse', type: 'S' }), END]));
add('layer-unknown-type', 'an entry of type Z', refuse('UNSUPPORTED'), async () => rawLayerImage([record({ name: 'odd', type: 'Z' }), END]));
add('layer-random', '4 KiB of random bytes as a layer', refuse('BAD_LAYER'), async () => image([await base(), randomBytes(4096, 7)]));
add('layer-empty', 'a layer of zero bytes (Go reads it as an empty archive)', accept(['bin/sh']), async () => image([await base(), Buffer.alloc(0)]));
add('layer-duplicate', 'the same path twice in one layer (docker: duplicates of file paths not supported)', refuse('BAD_ENTRY'), async () => image([await base(), await layer('a', './a')]));

// Compressed layers
const corruptMiddle = (buf, seed) => {
  const out = Buffer.from(buf);
  const next = prng(seed);
  for (let i = 0; i < 64; i++) out[Math.floor(out.length / 3 + next() * (out.length / 3))] ^= 0xff;
  return out;
};
const bigLayer = () => layer(...Array.from({ length: 40 }, (_, i) => entry(`f${i}`, { content: randomBytes(2000, i).toString('hex') })));
const storedImage = async (kind, damage) => {
  const layers = [await base(), await bigLayer()];
  return image(layers, { layout: 'oci', compression: kind, stored: layers.map((l) => damage(compressors[kind](l))) });
};
add('gzip-corrupt', 'a gzip layer with bytes flipped in the deflate stream', refuse('BAD_LAYER'), () => storedImage('gzip', (b) => corruptMiddle(b, 1)));
add('gzip-truncated', 'a gzip layer cut in half', refuse('BAD_LAYER'), () => storedImage('gzip', (b) => b.subarray(0, b.length >> 1)));
add('gzip-bad-crc', 'a gzip layer whose CRC trailer is wrong', refuse('BAD_LAYER'), () =>
  storedImage('gzip', (b) => {
    const out = Buffer.from(b);
    out[out.length - 8] ^= 0xff;
    return out;
  }));
add('gzip-corrupt-first-of-many', 'eight gzip layers, the first corrupt at once, while the others still wait their turn (they must end, not hang)', refuse('BAD_LAYER'), async () => {
  const layers = [await base(), ...(await Promise.all(Array.from({ length: 7 }, (_, i) => layer(entry(`zeros${i}`, { data: Buffer.alloc(8 << 20) })))))];
  const stored = layers.map((l) => gzipSync(l));
  stored[0] = Buffer.concat([stored[0].subarray(0, 10), Buffer.alloc(64, 0xff), stored[0].subarray(74)]);
  return image(layers, { layout: 'oci', compression: 'gzip', stored });
});
add('gzip-header-only', 'a layer of just the gzip magic', refuse('BAD_LAYER'), () => storedImage('gzip', () => Buffer.from([0x1f, 0x8b])));
add('zstd-corrupt', 'a zstd layer with bytes flipped', refuse('BAD_LAYER'), () => storedImage('zstd', (b) => corruptMiddle(b, 2)));
add('zstd-truncated', 'a zstd layer cut in half', refuse('BAD_LAYER'), () => storedImage('zstd', (b) => b.subarray(0, b.length >> 1)));
add('zstd-magic-only', 'a layer of just the zstd magic', refuse('BAD_LAYER'), () => storedImage('zstd', () => Buffer.from([0x28, 0xb5, 0x2f, 0xfd])));
add('outer-gzip-corrupt', 'a gzip-compressed image archive with flipped bytes', refuse('BAD_ARCHIVE'), async () => corruptMiddle(gzipSync(await image([await base(), await bigLayer()])), 3), 'tar.gz');
add('outer-zstd-truncated', 'a zstd-compressed image archive cut short', refuse('BAD_ARCHIVE'), async () => {
  const z = zstdCompress(await image([await base(), await bigLayer()]));
  return z.subarray(0, z.length >> 1);
}, 'tar.zst');

// Digests, blobs, descriptors
add('digest-diffid-mismatch', 'a layer whose bytes do not match the config\'s diff_id', refuse('DIGEST_MISMATCH'), async () => {
  const good = await layer('a');
  return image([await base(), await layer('b')], { config: (c) => void (c.rootfs.diff_ids[1] = `sha256:${sha256(good)}`) });
});
add('digest-oci-layer-mismatch', 'an OCI layer blob whose bytes do not match its name', refuse('DIGEST_MISMATCH'), async () => {
  const layers = [await base()];
  const members = imageMembers(layers, { layout: 'oci' });
  const blob = members.find((m) => m.name === `blobs/sha256/${sha256(layers[0])}`);
  blob.data = Buffer.concat([blob.data.subarray(0, 512), Buffer.alloc(blob.data.length - 512)]); // same size, other bytes
  return packMembers(members);
});
add('digest-oci-size-mismatch', 'an OCI descriptor whose size is wrong', refuse('DIGEST_MISMATCH'), async () =>
  image([await base()], { layout: 'oci', ociManifest: (m) => void (m.layers[0].size += 1) }));
add('digest-oci-manifest-mismatch', 'an OCI manifest blob whose bytes do not match its name', refuse('DIGEST_MISMATCH'), async () => {
  const members = imageMembers([await base()], { layout: 'oci' });
  const index = JSON.parse(members.find((m) => m.name === 'index.json').data);
  const blob = members.find((m) => m.name === `blobs/sha256/${index.manifests[0].digest.slice(7)}`);
  blob.data = Buffer.from(blob.data.toString().replace('"schemaVersion":2', '"schemaVersion":3'));
  return packMembers(members);
});
add('digest-legacy-config-mismatch', 'a legacy <hex>.json config whose bytes do not match its name', refuse('DIGEST_MISMATCH'), async () => {
  const members = imageMembers([await base()]);
  const cfg = members.find((m) => /^[0-9a-f]{64}\.json$/.test(m.name));
  cfg.data = Buffer.from(cfg.data.toString().replace('/bin/sh', '/bin/xx'));
  return packMembers(members);
});
add('missing-layer-member', 'manifest.json names a layer the archive lacks', refuse('NOT_FOUND'), async () => image([await base()], { manifest: (m) => void (m[0].Layers = ['nothere/layer.tar']) }));
add('missing-config-member', 'manifest.json names a config the archive lacks', refuse('NOT_FOUND'), async () => image([await base()], { manifest: (m) => void (m[0].Config = `${'0'.repeat(64)}.json`) }));
add('oci-missing-layer-blob', 'an OCI layer descriptor whose blob is absent', refuse('NOT_FOUND'), async () =>
  image([await base()], { layout: 'oci', ociManifest: (m) => void (m.layers[0].digest = `sha256:${'ab'.repeat(32)}`) }));
add('oci-missing-config-blob', 'an OCI config descriptor whose blob is absent', refuse('NOT_FOUND'), async () =>
  image([await base()], { layout: 'oci', ociManifest: (m) => void (m.config.digest = `sha256:${'cd'.repeat(32)}`) }));
add('oci-dangling-manifest', 'index.json points at a manifest blob that is absent', refuse('NOT_FOUND'), async () =>
  image([await base()], { layout: 'oci', index: (i) => void (i.manifests[0].digest = `sha256:${'ef'.repeat(32)}`) }));
add('oci-index-deep', 'indexes nested 9 deep (each lists the next)', refuse('BAD_LAYOUT'), async () =>
  image([await base()], {
    layout: 'oci',
    index: (i, addBlob) => {
      // blob N is an index listing blob N-1; blob 0 lists the real manifest: deeper than any real nesting.
      let inner = i;
      for (let n = 0; n < 8; n++) {
        const bytes = Buffer.from(JSON.stringify(inner));
        inner = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${addBlob(bytes)}`, size: bytes.length }] };
      }
      return inner;
    },
  }));
add('layer-count-mismatch', 'manifest.json lists more layers than the config has diff_ids', refuse('BAD_LAYOUT'), async () =>
  image([await base()], { manifest: (m) => void m[0].Layers.push(m[0].Layers[0]) }));

// Malformed and very large JSON
const withManifestBytes = async (bytes) => {
  const members = imageMembers([await base()]);
  members.find((m) => m.name === 'manifest.json').data = bytes;
  return packMembers(members);
};
add('manifest-not-json', 'manifest.json is not JSON', refuse('BAD_LAYOUT'), () => withManifestBytes(Buffer.from('[{"Config": ')));
add('manifest-empty-list', 'manifest.json is []', refuse('BAD_LAYOUT'), () => withManifestBytes(Buffer.from('[]')));
add('manifest-wrong-types', 'manifest.json has Config: 5, Layers: "x"', refuse('BAD_LAYOUT'), () => withManifestBytes(Buffer.from('[{"Config":5,"Layers":"x"}]')));
add('manifest-null', 'manifest.json is null', refuse('BAD_LAYOUT'), () => withManifestBytes(Buffer.from('null')));
add('manifest-deeply-nested', 'manifest.json is 1,000,000 nested arrays', refuse('BAD_LAYOUT'), async () => gzipSync(await withManifestBytes(Buffer.from('['.repeat(1_000_000) + ']'.repeat(1_000_000)))), 'tar.gz');
add('manifest-huge', 'manifest.json of 48 MiB (past the 32 MiB limit for metadata)', refuse('BAD_LAYOUT'), async () =>
  gzipSync(await withManifestBytes(Buffer.concat([Buffer.from('['), Buffer.alloc(48 << 20, 0x20), Buffer.from(']')]))), 'tar.gz');
add('config-not-object', 'the config is a JSON string', refuse('BAD_LAYOUT'), async () => image([await base()], { configBytes: Buffer.from('"config"') }));
add('config-env-not-strings', 'config.Env is [1, null, {}] (docker refuses it; it surfaced as a TypeError)', refuse('BAD_LAYOUT'), async () =>
  image([await base()], { config: (c) => void (c.config.Env = [1, null, {}]) }));
add('config-cmd-object', 'config.Cmd is an object', refuse('BAD_LAYOUT'), async () => image([await base()], { config: (c) => void (c.config.Cmd = {}) }));
add('tags-control-chars', 'two images tagged "a:1\\nsecond line" and "b:1\\x1b[2J": the refusal stays one line, escapes shown', refuse('NOT_FOUND'), async () =>
  image([await base()], { manifest: (m) => [{ ...m[0], RepoTags: ['a:1\nsecond line'] }, { ...m[0], RepoTags: ['b:1\x1b[2J'] }] }));
add('oci-index-fanout', 'nested indexes, three deep, each listing the next 100 times (a million paths to one manifest: each index read once)', accept(['bin/sh']), async () =>
  image([await base()], {
    layout: 'oci',
    index: (index, add) => {
      let manifests = index.manifests;
      for (let level = 0; level < 3; level++) {
        const nested = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: Array.from({ length: 100 }, () => manifests[0]) }));
        manifests = [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${add(nested)}`, size: nested.length }];
      }
      return { ...index, manifests };
    },
  }));
add('zstd-skippable-first', 'a zstd layer that starts with a skippable frame (moby detects it as zstd)', accept(['bin/sh']), () =>
  storedImage('zstd', (b) => Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]), b])));
add('config-bad-diffids', 'the config\'s diff_ids hold sha256:../../x', refuse('BAD_LAYOUT'), async () => image([await base()], { config: (c) => void (c.rootfs.diff_ids = ['sha256:../../x']) }));
add('index-not-json', 'index.json is not JSON', refuse('BAD_LAYOUT'), async () => {
  const members = imageMembers([await base()], { layout: 'oci' });
  members.find((m) => m.name === 'index.json').data = Buffer.from('{"manifests": [');
  return packMembers(members);
});
add('index-manifests-not-list', 'index.json manifests is an object', refuse('BAD_LAYOUT'), async () => image([await base()], { layout: 'oci', index: (i) => void (i.manifests = { a: 1 }) }));

// Whole files that are not images
add('empty-file', 'a file of zero bytes', refuse('BAD_ARCHIVE'), async () => Buffer.alloc(0));
add('random-bytes', '64 KiB of random bytes', refuse('BAD_ARCHIVE'), async () => randomBytes(65536, 42), 'bin');
add('zero-blocks', 'a tar of nothing but zero blocks', refuse('BAD_ARCHIVE'), async () => Buffer.alloc(10240));
add('text-file', 'a text file', refuse('BAD_ARCHIVE'), async () => Buffer.from('this is not an image\n'.repeat(100)), 'txt');
add('plain-rootfs-tar', 'an ordinary rootfs tar, not an image', refuse('BAD_LAYOUT'), () => layer('etc/', 'etc/passwd', 'bin/', 'bin/sh'));
add('outer-truncated', 'an image archive cut in the middle of a layer member', refuse('BAD_ARCHIVE'), async () => {
  const tar = await image([await base(), await bigLayer()]);
  const at = memberOffset(tar, isLayer);
  return tar.subarray(0, at + BLOCK + 700);
});
add('outer-truncated-before-manifest', 'an image archive cut at the header boundary before manifest.json', refuse('BAD_LAYOUT'), async () => {
  const tar = await image([await base()]);
  return tar.subarray(0, memberOffset(tar, (n) => n === 'manifest.json'));
});
add('outer-bad-checksum', 'an image archive member header with a wrong checksum', refuse('BAD_ARCHIVE'), async () => {
  const tar = Buffer.from(await image([await base()]));
  tar[memberOffset(tar, (n) => n === 'manifest.json') + 148] ^= 0x01;
  return tar;
});
add('outer-size-past-end', 'an image archive member claiming 1 GiB', refuse('BAD_ARCHIVE'), async () => {
  const tar = Buffer.from(await image([await base()]));
  const at = memberOffset(tar, (n) => n === 'manifest.json');
  tar.write(octal(1 << 30, 12), at + 124, 'latin1');
  setChecksum(tar.subarray(at, at + BLOCK));
  return tar;
});


// ----------------------------------------------------------------------------------------------
// sha512 and other digest algorithms (issue 20). The attack that pinned it: an OCI archive naming its
// config and a layer by sha512, a backdoored layer and another config stored under those names (sizes
// adjusted), was exported without a word — sha512 digests were only checked for shape. The OCI image
// spec registers sha256 and sha512; both are verified, any other algorithm is refused.

const digestOf = (alg, buf) => `${alg}:${createHash(alg).update(buf).digest('hex')}`;

/**
 * An OCI archive, every digest in `alg`: index.json → manifest → config and layers. `swap` stores the
 * named blobs' replacements under the honest names, descriptors' sizes adjusted to them.
 */
async function algImage(alg, { swap = {}, edit } = {}) {
  const layers = [await base(), await layer('etc/motd')];
  const evil = await layer('etc/motd', { name: 'usr/bin/backdoor', type: 'file', data: Buffer.from('evil'), mode: 0o4755 });
  const config = configFor(layers, (c) => void (c.rootfs.diff_ids = layers.map((l) => digestOf(alg, l))));
  const blobs = new Map();
  const put = (name, bytes) => blobs.set(name, bytes);
  const name = (b) => digestOf(alg, b);
  const stored = { config: swap.config ? configFor(layers, (c) => void ((c.config.Env = ['EVIL=1']), (c.rootfs.diff_ids = layers.map((l) => digestOf(alg, l))))) : config };
  put(name(config), stored.config);
  layers.forEach((l, i) => put(name(l), i === 1 && swap.layer ? evil : l));
  let manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: name(config), size: stored.config.length },
    layers: layers.map((l, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: name(l), size: (i === 1 && swap.layer ? evil : l).length })),
  };
  if (edit) manifest = edit(manifest) ?? manifest;
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const storedManifest = swap.manifest ? Buffer.from(JSON.stringify({ ...manifest, annotations: { swapped: 'yes' } })) : manifestBytes;
  put(name(manifestBytes), storedManifest);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: name(manifestBytes), size: storedManifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  };
  const members = [{ name: 'blobs/', type: 'dir' }, { name: `blobs/${alg}/`, type: 'dir' }];
  for (const [d, b] of blobs) members.push({ name: `blobs/${d.replace(':', '/')}`, data: b });
  members.push({ name: 'index.json', data: Buffer.from(JSON.stringify(index)) }, { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
  return packMembers(members);
}

add('digest-sha512-ok', 'an OCI archive whose every digest (and diff_id) is sha512', accept(['etc/motd', 'bin/sh']), () => algImage('sha512'));
add('digest-sha512-swap', 'sha512-named config and layer, another config and a backdoored layer stored under those names', refuse('DIGEST_MISMATCH'), () =>
  algImage('sha512', { swap: { config: true, layer: true } }));
add('digest-sha512-layer-swap', 'a backdoored layer stored under an honest sha512 layer name (size adjusted)', refuse('DIGEST_MISMATCH'), () => algImage('sha512', { swap: { layer: true } }));
add('digest-sha512-config-swap', 'another config stored under an honest sha512 config name (size adjusted)', refuse('DIGEST_MISMATCH'), () => algImage('sha512', { swap: { config: true } }));
add('digest-sha512-manifest-swap', 'another manifest stored under the sha512 name index.json gives', refuse('DIGEST_MISMATCH'), () => algImage('sha512', { swap: { manifest: true } }));
add('digest-sha384-layer', 'a layer descriptor naming sha384 (not an algorithm the OCI spec registers)', refuse('BAD_LAYOUT'), () =>
  algImage('sha256', { edit: (m) => void (m.layers[1].digest = `sha384:${'ab'.repeat(48)}`) }));
add('digest-unknown-algorithm-config', 'a config descriptor naming blake3:<hex>', refuse('BAD_LAYOUT'), () =>
  algImage('sha256', { edit: (m) => void (m.config.digest = `blake3:${'cd'.repeat(32)}`) }));

// ----------------------------------------------------------------------------------------------
// skopeo dir: layouts (a tar of what `skopeo copy … dir:` writes: manifest.json is one image manifest,
// blobs named <hex>, a version file). Refusals name the layout ("skopeo dir (manifest.json): …").

/** Members of a dir: copy; `edit` changes the manifest (after digests are known) or the members. */
function dirMembers(layers, { manifest: editManifest, members: editMembers } = {}) {
  const config = configFor(layers);
  const blobs = [config, ...layers];
  let manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
    layers: layers.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha256(b)}`, size: b.length })),
  };
  if (editManifest) manifest = editManifest(manifest) ?? manifest;
  let members = [
    ...blobs.map((b) => ({ name: sha256(b), data: b })),
    { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) },
    { name: 'version', data: Buffer.from('Directory Transport Version: 1.1\n') },
  ];
  if (editMembers) members = editMembers(members) ?? members;
  return packMembers(members);
}

add('dir-sound', 'a sound skopeo dir: copy, archived (the baseline of this block)', accept(['bin/sh', 'etc/passwd']), async () => dirMembers([await base()]));
add('dir-blob-escape', 'a dir: manifest whose layer digest is sha256:../../etc/passwd', refuse('BAD_LAYOUT'), async () =>
  dirMembers([await base()], { manifest: (m) => void (m.layers[0].digest = 'sha256:../../etc/passwd') }));
add('dir-config-altered', 'a dir: copy whose config bytes no longer match their digest', refuse('DIGEST_MISMATCH'), async () =>
  dirMembers([await base()], { members: (ms) => ms.map((m, i) => (i === 0 ? { ...m, data: Buffer.concat([m.data, Buffer.from(' ')]) } : m)) }));
add('dir-layer-missing', 'a dir: copy without its layer blob', refuse('NOT_FOUND'), async () => dirMembers([await base()], { members: (ms) => ms.filter((_, i) => i !== 1) }));
add('dir-layer-size-lie', 'a dir: manifest that states the layer 1 byte short', refuse('DIGEST_MISMATCH'), async () =>
  dirMembers([await base()], { manifest: (m) => void (m.layers[0].size -= 1) }));
add('dir-schema1', 'a dir: copy holding a docker schema 1 manifest', refuse('UNSUPPORTED'), async () => dirMembers([await base()], { manifest: () => ({ schemaVersion: 1, fsLayers: [] }) }));
add('dir-version-bad', 'a dir: copy whose version file is not the directory transport\'s', refuse('BAD_LAYOUT'), async () =>
  dirMembers([await base()], { members: (ms) => ms.map((m) => (m.name === 'version' ? { ...m, data: Buffer.from('hello\n') } : m)) }));
add('dir-list-instance-missing', 'a --all dir: copy whose list names an instance manifest that is not there', refuse('NOT_FOUND'), async () =>
  dirMembers([await base()], {
    manifest: () => ({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'ab'.repeat(32)}`, size: 10, platform: { os: 'linux', architecture: 'amd64' } }] }),
  }));

// ----------------------------------------------------------------------------------------------
// PAX sparse files (GNU.sparse 0.1 and 1.0): maps that lie, and a few bytes of tar claiming petabytes.
// Go's archive/tar refuses the lies (docker: "archive/tar: invalid tar header", "sparse file contains
// unreferenced data"; fixtures/docker/sparse-map-*); the bomb is what docker would unpack in full.

/** A sparse entry named `name` stored as GNUSparseFile.0/name: its PAX records, then its stored data. */
const sparseRecords = (name, pax, data) => {
  const body = paxBody({ 'GNU.sparse.name': name, ...pax });
  return [record({ name: `PaxHeaders/${name}`, type: 'x', size: body.length }, body), record({ name: `GNUSparseFile.0/${name}`, size: data.length }, data)];
};
const map10 = (text, data) => Buffer.concat([Buffer.from(text), Buffer.alloc(pad(text.length)), Buffer.from(data)]);
const V10 = { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' };

add('sparse-map-overlap', 'a GNU.sparse 0.1 map whose segments overlap', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...sparseRecords('s', { 'GNU.sparse.size': '10', 'GNU.sparse.numblocks': '2', 'GNU.sparse.map': '0,4,2,4' }, Buffer.from('abcdefgh')), END]));
add('sparse-map-past-size', 'a GNU.sparse 1.0 map with a segment past the real size', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...sparseRecords('s', { ...V10, 'GNU.sparse.realsize': '10' }, map10('1\n8\n4\n', 'abcd')), END]));
add('sparse-more-data', 'a GNU.sparse 1.0 file storing more data than its map names', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...sparseRecords('s', { ...V10, 'GNU.sparse.realsize': '10' }, map10('1\n0\n2\n', 'abcd')), END]));
add('sparse-map-huge-count', 'a GNU.sparse 1.0 map claiming 2^40 segments in one block', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...sparseRecords('s', { ...V10, 'GNU.sparse.realsize': '10' }, map10('1099511627776\n0\n', '')), END]));
add('sparse-map-past-entry', 'a GNU.sparse 1.0 map that runs on past its entry into the next header', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...sparseRecords('s', { ...V10, 'GNU.sparse.realsize': '10' }, Buffer.from('3\n0\n')), fileRecord('next'), END]));
add('sparse-bomb', 'a 2 KiB GNU.sparse 1.0 entry claiming a 1 PiB file (over --max-size)', refuse('LIMIT'), async () =>
  rawLayerImage([...sparseRecords('lastlog', { ...V10, 'GNU.sparse.realsize': String(2 ** 50) }, map10(`1\n${2 ** 50 - 4}\n4\n`, 'data')), END]));
add('sparse-name-nul', 'a GNU.sparse.name holding a NUL byte (Go takes it; docker cannot open the name)', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...sparseRecords('a\0b', { ...V10, 'GNU.sparse.realsize': '2' }, map10('1\n0\n2\n', 'ab')), END]));
add('sparse-whiteout-escape', 'a sparse entry whose GNU.sparse.name is ../../.wh.etc (a whiteout, from the root)', accept(['bin/sh'], ['etc/passwd']), async () =>
  rawLayerImage([...sparseRecords('../../.wh.etc', { ...V10, 'GNU.sparse.realsize': '0' }, map10('0\n', '')), END]));

// ----------------------------------------------------------------------------------------------
// Default POSIX ACLs the kernel refuses (docker's lsetxattr fails: fixtures/docker/acl-invalid,
// acl-version, acl-on-file), and one far longer than any real ACL.

const aclBlob = (version, entries) => {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(version, 0);
  entries.forEach(([tag, perm], i) => { b.writeUInt16LE(tag, 4 + 8 * i); b.writeUInt16LE(perm, 6 + 8 * i); b.writeUInt32LE(0xffffffff, 8 + 8 * i); });
  return b;
};
/** An entry with a binary SCHILY.xattr.system.posix_acl_default record (hdrcharset BINARY, as tar writes it). */
const aclRecords = (name, type, acl) => {
  const body = Buffer.concat([paxBody({ hdrcharset: 'BINARY' }), paxRecordBytes('SCHILY.xattr.system.posix_acl_default', acl)]);
  return [record({ name: `PaxHeaders/${name}`, type: 'x', size: body.length }, body), record({ name, type, mode: 0o755 })];
};
const paxRecordBytes = (key, value) => {
  const base = Buffer.byteLength(`${key}=`) + value.length + 2;
  let len = base + String(base).length;
  if (String(len).length + base !== len) len = base + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
};

add('acl-default-on-file', 'a default ACL on a regular file (the kernel: EACCES)', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...aclRecords('f', '0', aclBlob(2, [[1, 7], [4, 5], [0x20, 0]])), END]));
add('acl-default-misordered', 'a default ACL with group:: before user:: (the kernel: EINVAL)', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...aclRecords('d/', '5', aclBlob(2, [[4, 5], [1, 7], [0x20, 0]])), END]));
add('acl-default-huge', 'a default ACL of 60,000 entries, 480 KB, on a directory (setxattr: E2BIG past 64 KiB)', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...aclRecords('d/', '5', aclBlob(2, [[1, 7], [4, 5], ...Array.from({ length: 60000 }, () => [0x20, 0])])), END]));

// ---- zstd windows (issue 20) -----------------------------------------------------------------
// Each layer starts with an empty zstd frame (one raw last block of 0 bytes) whose Window_Descriptor asks
// for a window of 2^(10 + WD>>3) bytes; the real stream follows. docker's decoder (klauspost/compress)
// refuses a window past 512 MiB and takes one of 512 MiB.
const emptyFrameWithWindow = (wd) => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, wd, 0x01, 0x00, 0x00]);
add('zstd-window-1gib', 'a zstd layer whose first frame asks for a 1 GiB window', refuse('BAD_LAYER'), () =>
  storedImage('zstd', (b) => Buffer.concat([emptyFrameWithWindow(20 << 3), b])));
add('zstd-window-512mib', 'a zstd layer whose first frame asks for a 512 MiB window (docker\'s limit)', accept(['bin/sh']), () =>
  storedImage('zstd', (b) => Buffer.concat([emptyFrameWithWindow(19 << 3), b])));

// ----------------------------------------------------------------------------------------------
// Issue 20: counts that amplify (small archives, large work). Docker 26.1 (overlay2) loads an image of
// 125 layers, the same blob listed 125 times included, and refuses a 126th: "max depth exceeded"
// (moby layer/layer_store.go, maxLayerDepth). Shapes from scripts/bench/shapes.js; the full sizes
// (300,000 listings, a 30 MB manifest listed 3,000 times, 100,000 names, a million files, 2,040
// directories deep) are measured by scripts/hostile-bounds.js.

add('layers-listed-30k', 'manifest.json lists one empty layer 30,000 times (docker: "max depth exceeded" past 125)', refuse('LIMIT'), async () => repeatedLayerImage(30_000), 'tar.gz');
add('layers-listed-126', 'one empty layer listed 126 times: one past docker\'s 125', refuse('LIMIT'), async () => repeatedLayerImage(126), 'tar.gz');
add('layers-listed-125', 'one empty layer listed 125 times: docker loads it; the blob is prepared once', accept(), async () => repeatedLayerImage(125), 'tar.gz');
add('oci-manifest-listed-3000', 'index.json lists one 1 MiB manifest 3,000 times (read, hashed and parsed once)', accept(['hello']), async () =>
  repeatedManifestImage({ copies: 3000, manifestBytes: 1 << 20 }), 'tar.gz');
add('oci-manifest-20k-names', 'index.json lists one manifest under 20,000 names (merged in linear time)', accept(['hello']), async () =>
  repeatedManifestImage({ copies: 20_000, names: true }), 'tar.gz');

// Lists a million long in the config (issue 20: `words.push(...args)` overflowed the stack past ~120,000
// words). docker loads such a config (its JSON is well under any limit); every command must take it, or
// refuse it with one line. 23 MB of JSON, gzipped to 110 KB.
const MILLION = 1_000_000;
add('config-million-cmd-env', 'a config whose Entrypoint, Cmd and Env each hold 1,000,000 items (23 MB of JSON)', accept(['bin/sh']), async () =>
  gzipSync(await image([await base()], {
    config: (c) => void (c.config = { Entrypoint: Array(MILLION).fill('/bin/sh'), Cmd: Array(MILLION).fill('-c'), Env: Array.from({ length: MILLION }, (_, i) => `V${i % 1000}=x`) }),
  })), 'tar.gz');

// ----------------------------------------------------------------------------------------------
// Third round (an outsider's attack on every command): links through an earlier layer's symlinks, odd
// opaque markers, header-only types carrying a size, trailing bytes, prototype keys in the JSON,
// descriptors of the wrong kind, escapes in what error lines quote. Outcomes follow docker's rules
// as the first two rounds state them (a layer's own directory: a lower layer's symlink is not there).

/** A header-only record (directory, symlink, link, device, fifo) whose size field still says `size`. */
const sizedHeader = (h, size) => header({ ...h, raw: { ...(h.raw ?? {}), size: octal(size, 12) } });
/** A record with a PAX header of the given pairs in front. */
const paxed = (pairs, h, data) => [record({ name: `PaxHeaders/${h.name}`, type: 'x', size: paxBody(pairs).length }, paxBody(pairs)), record(h, data)];

add('hardlink-via-lower-symlink', 'l -> etc in one layer, then h => l/passwd in the next (the link\'s target is not in the layer\'s own directory)', refuse('BAD_ENTRY'), async () =>
  image([await base(), await layer('l -> etc'), await layer('h => l/passwd')]));
add('hardlink-via-lower-symlink-abs', 'l -> /etc in one layer, then l/passwd and h => l/passwd in the next (l becomes a directory; h links to it)', accept(['l/', 'l/passwd', 'h'], ['etc/h']), async () =>
  image([await base(), await layer('l -> /etc'), await layer('l/passwd', 'h => l/passwd')]));
add('symlink-parent-lower-deep', 'a -> /, then a/etc/ and a/etc/passwd over it (a becomes a directory, /etc untouched)', accept(['a/', 'a/etc/', 'a/etc/passwd', 'etc/passwd']), async () =>
  image([await base(), await layer('a -> /'), await layer('a/etc/', 'a/etc/passwd')]));
add('symlink-parent-lower-dotdot', 'up -> ../../.. then up/x/../../evil (cleaned lexically to evil)', accept(['evil', 'up']), async () =>
  image([await base(), await layer('up -> ../../..'), await layer('up/x/../../evil')]));
add('opaque-as-directory', 'a/.wh..wh..opq/x: the opaque marker\'s name as a directory is just a name', accept(['a/.wh..wh..opq/', 'a/.wh..wh..opq/x', 'bin/sh']), async () =>
  image([await base(), await layer('a/.wh..wh..opq/x')]));
add('opaque-as-symlink', 'etc/.wh..wh..opq as a symlink to /: a marker by its name (docker reads only the name), hides etc\'s lower children', accept(['etc/', 'bin/sh'], ['etc/passwd', 'etc/.wh..wh..opq']), async () =>
  image([await base(), await layer('etc/', 'etc/.wh..wh..opq -> /')]));
add('opaque-hardlink-target', 'a hardlink to etc/.wh..wh..opq (a marker is no file to link to)', refuse('BAD_ENTRY'), async () =>
  image([await base(), await layer('etc/', entry('etc/.wh..wh..opq', { content: '' }), 'h => etc/.wh..wh..opq')]));
add('whiteout-hardlink-target', 'a hardlink to .wh.bin in the same layer (a whiteout is no file to link to)', refuse('BAD_ENTRY'), async () =>
  image([await base(), await layer(entry('.wh.bin', { content: '' }), 'h => .wh.bin')]));
add('whiteout-dotdot-inner', 'etc/../.wh.bin: cleaned to .wh.bin, it hides bin', accept(['etc/passwd'], ['bin/', 'bin/sh']), async () =>
  image([await base(), await layer(entry('etc/../.wh.bin', { content: '' }))]));
add('dir-with-size-smuggles', 'a directory header whose size field says 1024, followed by a file header (Go ignores a header-only type\'s size: the file is read)', accept(['d/', 'smuggled']), async () =>
  rawLayerImage([sizedHeader({ name: 'd/', type: '5', mode: 0o755 }, 1024), fileRecord('smuggled'), END]));
add('symlink-with-pax-size', 'a symlink with a PAX size=1024 before a file header (size ignored for a symlink, as Go does)', accept(['s', 'after']), async () =>
  rawLayerImage([...paxed({ size: '1024' }, { name: 's', type: '2', linkname: '/etc/shadow' }), fileRecord('after'), END]));
add('layer-trailing-garbage', 'a layer with 4 KiB of random bytes after its end-of-archive blocks (Go stops at the end marker)', accept(['a']), async () =>
  rawLayerImage([fileRecord('a'), END, randomBytes(4096, 11)]));
add('gzip-then-garbage', 'a gzip layer followed by 64 random bytes', refuse('BAD_LAYER'), () => storedImage('gzip', (b) => Buffer.concat([b, randomBytes(64, 12)])));
add('gzip-then-zstd', 'a gzip member followed by a zstd frame (not a gzip member)', refuse('BAD_LAYER'), () => storedImage('gzip', (b) => Buffer.concat([b, zstdCompress(Buffer.alloc(1024))])));
add('gzip-two-members', 'a gzip layer in two members (a legal multi-member stream, as Go reads it)', accept(['f0', 'f39']), async () => {
  const layers = [await base(), await bigLayer()];
  const split = (l) => Buffer.concat([gzipSync(l.subarray(0, 5120)), gzipSync(l.subarray(5120))]);
  return image(layers, { layout: 'oci', compression: 'gzip', stored: layers.map(split) });
});
add('xattr-capability-garbage', 'a security.capability of 3 bytes (the kernel refuses it, as docker\'s lsetxattr does)', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...paxed({ 'SCHILY.xattr.security.capability': 'abc' }, { name: 'f', size: 2 }, Buffer.from('x\n')), END]));
add('xattr-name-escape', 'xattrs named user.\\x1b]0;pwned\\x07 and user. with a newline: names the kernel takes', accept(['f']), async () =>
  rawLayerImage([...paxed({ 'SCHILY.xattr.user.\x1b]0;pwned\x07': 'v', 'SCHILY.xattr.user.a\nb': 'v' }, { name: 'f', size: 2 }, Buffer.from('x\n')), END]));
add('xattr-empty-name', 'an xattr whose name is empty (SCHILY.xattr. alone)', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([...paxed({ 'SCHILY.xattr.': 'v' }, { name: 'f', size: 2 }, Buffer.from('x\n')), END]));
add('error-quotes-escapes', 'a hardlink named h\\x1b]0;pwned\\x07 to a missing x\\x1b[2J: the one error line escapes both', refuse('BAD_ENTRY'), async () =>
  image([await base(), await layer('h\x1b]0;pwned\x07 => x\x1b[2J\r')]));
add('manifest-layer-escapes', 'manifest.json names a missing layer "\\x1b[2J\\rgone/layer.tar": the one error line escapes it', refuse('NOT_FOUND'), async () =>
  image([await base()], { manifest: (m) => void (m[0].Layers = ['\x1b[2J\rgone\u009b1m/layer.tar']) }));
add('json-proto-keys', 'config Labels, Env and Volumes with __proto__ and constructor keys, manifest.json with a __proto__ member', accept(['bin/sh']), async () => {
  const members = imageMembers([await base()], {
    config: (c) => void (c.config.Labels = JSON.parse('{"__proto__":"p","constructor":"c","toString":"t","hasOwnProperty":"h"}'), c.config.Volumes = JSON.parse('{"__proto__":{}}'), c.config.ExposedPorts = JSON.parse('{"__proto__":{},"80/tcp":{}}')),
  });
  const m = members.find((x) => x.name === 'manifest.json');
  m.data = Buffer.from(m.data.toString().replace('[{', '[{"__proto__":{"Layers":["../../etc/passwd"]},'));
  return packMembers(members);
});
add('json-duplicate-keys', 'manifest.json and the config with duplicate keys (the last wins, as in Go\'s encoding/json)', accept(['bin/sh']), async () => {
  const members = imageMembers([await base()]);
  const m = members.find((x) => x.name === 'manifest.json');
  m.data = Buffer.from(m.data.toString().replace('[{', '[{"Config":"nothere.json","Layers":["nothere"],'));
  return packMembers(members);
});
add('json-lone-surrogates', 'a tag and labels holding lone UTF-16 surrogates (\\ud800) and an escape', accept(['bin/sh']), async () =>
  image([await base()], { config: (c) => void (c.config.Labels = { '\ud800k': 'v\udfff\x1b[2J' }), manifest: (m) => void (m[0].RepoTags = ['t\ud800:1']) }));
add('oci-manifest-is-index', 'index.json names a blob as a manifest whose bytes are an index', refuse('BAD_LAYOUT'), async () =>
  image([await base()], {
    layout: 'oci',
    index: (i, addBlob) => {
      const inner = Buffer.from(JSON.stringify(i));
      return { ...i, manifests: [{ ...i.manifests[0], digest: `sha256:${addBlob(inner)}`, size: inner.length }] };
    },
  }));
add('oci-config-is-manifest', 'a manifest whose config descriptor names a manifest blob', refuse('BAD_LAYOUT'), async () =>
  image([await base()], {
    layout: 'oci',
    index: (i, addBlob) => {
      // a second manifest whose config is the first manifest
      const first = i.manifests[0];
      const second = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: first.digest, size: first.size }, layers: [] }));
      return { ...i, manifests: [{ ...first, digest: `sha256:${addBlob(second)}`, size: second.length }] };
    },
  }));
add('oci-layer-is-index', 'a manifest whose layer descriptor names the index.json-listed manifest blob', refuse('BAD_LAYER'), async () =>
  image([await base()], {
    layout: 'oci',
    index: (i, addBlob) => {
      const first = i.manifests[0];
      const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [first.digest] } }));
      const second = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${addBlob(cfg)}`, size: cfg.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: first.digest, size: first.size }] }));
      return { ...i, manifests: [{ ...first, digest: `sha256:${addBlob(second)}`, size: second.length }] };
    },
  }));
add('config-more-diffids', 'the config lists more diff_ids than manifest.json lists layers', refuse('BAD_LAYOUT'), async () =>
  image([await base()], { config: (c) => void c.rootfs.diff_ids.push(c.rootfs.diff_ids[0]) }));
add('config-hostile-runtime', 'User, WorkingDir, Entrypoint, Env and StopSignal that look like options or shell: data for bundle and config --shell, never options', accept(['bin/sh']), async () =>
  image([await base()], {
    config: (c) => void (c.config = { User: '0:0', WorkingDir: '/$(touch /tmp/pwned)/`id`', Entrypoint: ['--help', ';touch /tmp/pwned'], Cmd: ["'$(id)'", '-c'], Env: ['A=$(touch /tmp/pwned)', 'B=`id`;x', "C='\"\\"], StopSignal: '--kill' }),
  }));
add('device-fifo-setuid', 'a char device, a block device, a fifo and a setuid/setgid root file', accept(['dev/', 'dev/null2', 'dev/sda9', 'fifo', 'suid']), async () =>
  rawLayerImage([
    record({ name: 'dev/', type: '5', mode: 0o755 }),
    record({ name: 'dev/null2', type: '3', mode: 0o666, raw: { devmajor: octal(1, 8), devminor: octal(3, 8) } }),
    record({ name: 'dev/sda9', type: '4', mode: 0o660, raw: { devmajor: octal(8, 8), devminor: octal(9, 8) } }),
    record({ name: 'fifo', type: '6', mode: 0o644 }),
    record({ name: 'suid', size: 2, mode: 0o6755 }, Buffer.from('x\n')),
    END,
  ]));

// The root itself named by an entry, links to directories and to themselves, and the docker create
// step (--docker-init) over an image whose etc, dev and WorkingDir are symlinks out of the root.
add('root-as-file', 'an entry "." of type file (the layer root is a directory; docker cannot replace it)', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([fileRecord('.'), END]));
add('root-as-symlink', 'an entry "./" of type symlink to /etc (the root cannot become a link out)', refuse('BAD_ENTRY'), async () =>
  rawLayerImage([record({ name: './', type: '2', linkname: '/etc' }), END]));
add('root-as-dir-mode', 'an entry "." of type directory, mode 0777 owned by 1000 (the root takes the metadata)', accept(['bin/sh']), async () =>
  rawLayerImage([record({ name: './', type: '5', mode: 0o777 }), END]));
add('hardlink-to-directory', 'h => etc, a hardlink to a directory (link(2) refuses it: EPERM)', refuse('BAD_ENTRY'), async () =>
  image([await base(), await layer('etc/', 'h => etc')]));
add('hardlink-to-itself', 'h => h, a hardlink to its own name before it exists', refuse('BAD_ENTRY'), async () => image([await base(), await layer('h => h')]));
add('hardlink-to-root', 'h => ., a hardlink to the root directory', refuse('BAD_ENTRY'), async () => image([await base(), await layer('h => .')]));
add('init-through-symlinks', 'etc -> /tmp, dev -> ../../../run, WorkingDir /etc/w and a VOLUME /dev/v: the docker create step stays inside the root', accept(['etc', 'dev'], ['tmp/', 'etc/hosts']), async () =>
  image([await layer('bin/', 'bin/sh', 'etc -> /tmp', 'dev -> ../../../run')], { config: (c) => void (c.config.WorkingDir = '/etc/w', c.config.Volumes = { '/dev/v': {}, '/etc/w/v': {} }) }));

// ----------------------------------------------------------------------------------------------

async function main() {
  mkdirSync(OUT, { recursive: true });
  for (const f of readdirSync(OUT)) rmSync(join(OUT, f), { recursive: true, force: true });
  const manifest = [];
  for (const c of cases) {
    writeFileSync(join(OUT, c.file), await c.build());
    manifest.push({ name: c.name, file: c.file, what: c.what, expect: c.expect });
  }
  writeFileSync(join(OUT, 'cases.json'), `${JSON.stringify({ generatedBy: 'scripts/make-hostile.js', cases: manifest }, null, 2)}\n`);
  console.log(`${cases.length} cases written to ${OUT}`);
}

await main();
