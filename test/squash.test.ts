/**
 * `layerfold squash`, engine-free (the live checks — docker load/create/export on Docker 26.1 and
 * 20.10, podman load, docker run — are scripts/test-squash-docker.js):
 * - `export` of the squashed image is byte-identical to `export` of the original, for every docker
 *   pair (whose export is itself held to docker's in conformance.test.ts), with --keep 0, 1 and 2;
 *   an image docker refused is refused by squash with export's error;
 * - the kept layers are the original blobs, the config is carried over with diff_ids and history
 *   made right, and the same input gives the same bytes in every format and compression;
 * - the squashed layer holds whiteouts and opaque markers where the upper layers deleted, and GNU tar
 *   reads it;
 * - push to loopback registries (Debian's docker-registry): skopeo reads back the same digest, export
 *   of the pushed image equals export of the original; a refused push names its request, leaves no tag.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRootfs, LayerfoldError, squashImage, type SquashOptions } from '../src/index.js';
import { gzipSync } from 'node:zlib';
import { configFor, e, imageArchive, layerTar, scratchDir, sha256, T0, writeTemp } from './support/build.js';
import { cli, expectOneLine, exportOf } from './support/cli.js';
import { dockerPairs, refusedCases } from './support/pairs.js';
import { hasCommand } from './support/read.js';
// @ts-expect-error: a plain JS script shared with the benchmark
import { missingTools, startTestRegistries } from '../scripts/registry-setup.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Members of a tar archive (the image archive squash wrote), by name. */
function members(archive: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let off = 0; off + 512 <= archive.length; ) {
    const header = archive.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    out.set(name, archive.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

async function squashTo(image: string, options: Partial<SquashOptions> & { name?: string } = {}): Promise<string> {
  const output = join(scratchDir(), options.name ?? 'squashed.tar');
  await squashImage(image, { output, ...options });
  return output;
}

interface Parsed {
  manifest: { config: { digest: string }; layers: Array<{ digest: string; size: number; mediaType: string }> };
  config: Record<string, unknown> & { rootfs: { diff_ids: string[] }; history: Array<Record<string, unknown>> };
  files: Map<string, Buffer>;
}

function parseOutput(archive: string): Parsed {
  const files = members(readFileSync(archive));
  const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(files.get(`blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)!.toString()) as Parsed['manifest'];
  const config = JSON.parse(files.get(`blobs/sha256/${manifest.config.digest.slice(7)}`)!.toString()) as Parsed['config'];
  return { manifest, config, files };
}

const pairs = dockerPairs();

describe('export of the squashed image equals export of the original', () => {
  it.each(pairs.map((p) => [p.id, p] as const))('%s', async (_id, pair) => {
    const want = await exportOf(pair.image);
    const { layers } = JSON.parse(JSON.stringify(parseOutput(await squashTo(pair.image)).manifest));
    expect(layers).toHaveLength(1);
    const total = (await import('../src/index.js')).inspectImage;
    const layerCount = (await total(pair.image)).layers.length;
    for (const keep of [0, 1, 2]) {
      if (keep > 0 && keep >= layerCount) continue;
      const out = await squashTo(pair.image, { keep });
      const got = await exportOf(out);
      expect(sha(got), `--keep ${keep}`).toBe(sha(want));
    }
  });

  it('from every saved layout of an image (OCI gzip and zstd too)', async () => {
    const pair = pairs.find((p) => p.name === 'build-busybox-ops')!;
    const want = sha(await exportOf(pair.image));
    for (const image of pair.images) {
      for (const keep of [0, 2]) expect(sha(await exportOf(await squashTo(image, { keep }))), `${image} --keep ${keep}`).toBe(want);
    }
  });

  it.each(refusedCases().map((c) => [c.name, c] as const))('refused as export refuses it: %s', async (_name, c) => {
    const exportError = await exportRootfs(c.image, { output: join(scratchDir(), 'x.tar') }).then(() => undefined, (err: unknown) => err);
    if (!(exportError instanceof LayerfoldError)) return; // docker refused at create time (e.g. a volume over a file): no image rule
    const dir = scratchDir();
    const squashError = await squashImage(c.image, { output: join(dir, 'out.tar') }).then(() => undefined, (err: unknown) => err);
    expect(squashError).toBeInstanceOf(LayerfoldError);
    expect((squashError as LayerfoldError).code).toBe(exportError.code);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('the image squash writes', () => {
  const image = 'fixtures/docker/build-busybox-realistic/image.tar';

  it('keeps the lowest N blobs and diff_ids, carries the config over and keeps every history step', async () => {
    const original = parseOutput(await squashTo(image, { keep: 3, name: 'keep3.tar' }));
    const { inspectImage } = await import('../src/index.js');
    const report = await inspectImage(image);
    expect(original.config.rootfs.diff_ids.slice(0, 3)).toEqual(report.layers.slice(0, 3).map((l) => l.diffId));
    expect(original.manifest.layers).toHaveLength(4);
    // every kept blob is the original's bytes: an uncompressed docker save layer is named by its diff_id
    for (let i = 0; i < 3; i++) expect(original.manifest.layers[i]!.digest).toBe(report.layers[i]!.diffId);
    const history = original.config.history;
    const nonEmpty = history.filter((h) => h.empty_layer !== true);
    expect(nonEmpty).toHaveLength(4);
    expect(history.at(-1)!.created_by).toBe('layerfold squash --keep 3');
  });

  it('config: every field kept, rootfs.diff_ids the real ones, created kept unless --created', async () => {
    const files = members(readFileSync(image));
    const manifestJson = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Config: string }>;
    const src = JSON.parse(files.get(manifestJson[0]!.Config)!.toString()) as Record<string, unknown> & { history: unknown[] };
    const out = parseOutput(await squashTo(image));
    for (const key of Object.keys(src)) if (!['rootfs', 'history'].includes(key)) expect(out.config[key], key).toEqual(src[key]);
    const layer = out.files.get(`blobs/sha256/${out.manifest.layers[0]!.digest.slice(7)}`)!;
    expect(out.config.rootfs.diff_ids).toEqual([`sha256:${sha(layer)}`]);
    expect(out.config.history).toHaveLength(src.history.length + 1);
    expect(out.config.history.slice(0, -1).every((h) => h.empty_layer === true)).toBe(true);
    const later = parseOutput(await squashTo(image, { created: T0 }));
    expect(later.config.created).toBe('2020-09-13T12:26:40Z');
    expect(later.config.history.at(-1)!.created).toBe('2020-09-13T12:26:40Z');
  });

  it('is reproducible: the same bytes twice, in every format and compression', async () => {
    for (const [output, extra] of [
      ['a.tar', {}],
      ['oci-archive:', { compression: 'gzip' }],
      ['oci-archive:', { compression: 'zstd' }],
      ['docker-archive:', { keep: 2, compression: 'gzip', tag: 'x/y:1' }],
    ] as const) {
      const [first, second] = [scratchDir(), scratchDir()].map((d) => (output.endsWith(':') ? `${output}${join(d, 'out.tar')}` : join(d, output)));
      await squashImage(image, { output: first!, ...extra });
      await squashImage(image, { output: second!, ...extra });
      const path = (o: string) => o.replace(/^[a-z-]+:/, '');
      expect(sha(readFileSync(path(first!))), `${output} ${JSON.stringify(extra)}`).toBe(sha(readFileSync(path(second!))));
    }
  });

  it('gzip: header with mtime 0 and the OS byte fixed (255), as Go writes it', async () => {
    const out = parseOutput(await squashTo(image, { compression: 'gzip' }));
    const layer = out.files.get(`blobs/sha256/${out.manifest.layers[0]!.digest.slice(7)}`)!;
    expect([...layer.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    expect(layer.readUInt32LE(4)).toBe(0);
    expect(layer[9]).toBe(255);
    expect(out.manifest.layers[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
  });

  it('oci:DIR is an OCI layout with the same blobs; a non-empty DIR is refused before any work', async () => {
    const dir = join(scratchDir(), 'layout');
    await squashImage(image, { output: `oci:${dir}` });
    expect(readdirSync(dir).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
    expect(sha(await exportOf(dir))).toBe(sha(await exportOf(image)));
    await expect(squashImage(image, { output: `oci:${dir}` })).rejects.toThrow(/not empty/);
  });

  it('--keep N with as many layers as the image has is refused; --format against the transport too', async () => {
    const r = await cli(['squash', image, '--keep', '9', '-o', join(scratchDir(), 'x.tar')]);
    expectOneLine(r, /--keep 9: the image has 7 layers; keep fewer/);
    const f = await cli(['squash', image, '--format', 'docker', '-o', `oci:${join(scratchDir(), 'x')}`]);
    expectOneLine(f, /oci: writes an OCI image; drop --format docker/);
  });

  it('an interrupted or failed write leaves nothing behind', async () => {
    const dir = scratchDir();
    const broken = readFileSync(image);
    // flip a byte inside the last layer's data: its digest check fails after the layer is written
    broken[broken.length - 4096] ^= 0xff;
    const bad = join(dir, 'bad.tar');
    writeFileSync(bad, broken);
    const out = join(dir, 'out');
    mkdirSync(out);
    const r = await cli(['squash', bad, '-o', join(out, 'sq.tar')]);
    expect(r.code).toBe(2);
    expect(readdirSync(out)).toEqual([]);
    const r2 = await cli(['squash', bad, '-o', `oci:${join(out, 'layout')}`]);
    expect(r2.code).toBe(2);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('--keep: the layer over the kept base', () => {
  /** Base: d/ with a, b, sub/x; h1 = h2 hard links; e/ with k. Upper: rm d/a; e replaced whole; new hard links; chmod. */
  async function crafted(): Promise<string> {
    const base = await layerTar([e('d/', { mtime: T0 }), e('d/a'), e('d/b'), e('d/sub/'), e('d/sub/x'), e('e/'), e('e/k'), e('e/l'), e('h1'), e('h2', { type: 'link', linkname: 'h1' }), e('m', { mode: 0o644 })]);
    const upper = await layerTar([
      e('d/', { mtime: T0 + 5 }),
      e('d/.wh.a'),
      e('e/', { mode: 0o700 }),
      e('e/.wh..wh..opq'),
      e('e/new'),
      e('n1', { content: 'linked' }),
      e('n2', { type: 'link', linkname: 'n1' }),
      e('m', { mode: 0o600, content: 'm' }),
      e('.wh.h1'),
    ]);
    return writeTemp(await imageArchive([base, upper]), 'crafted.tar');
  }

  it('writes whiteouts, an opaque marker, hard links and changed entries only', async () => {
    const image = await crafted();
    const out = parseOutput(await squashTo(image, { keep: 1 }));
    const top = out.files.get(`blobs/sha256/${out.manifest.layers[1]!.digest.slice(7)}`)!;
    const names = [...members(top).keys()];
    // h1 deleted (h2 keeps the kept inode); d/a deleted beside kept d/b (a whiteout); e replaced whole
    // (an opaque marker); m changed mode (rewritten whole); d/sub untouched (not written)
    expect(names).toEqual(['.wh.h1', 'd/', 'd/.wh.a', 'e/', 'e/.wh..wh..opq', 'e/new', 'm', 'n1', 'n2']);
    expect(sha(await exportOf(await squashTo(image, { keep: 1 })))).toBe(sha(await exportOf(image)));
  });

  it('an empty implied directory named .wh.X stays implied, through an opaque marker', async () => {
    // `.wh.y` inside `a/.wh.x/` implies that directory and leaves it empty; an entry `a/.wh.x/` would be a whiteout
    const image = writeTemp(await imageArchive([await layerTar([e('f')]), await layerTar([e('a/.wh.x/.wh.y')])]), 'whdir.tar');
    for (const keep of [0, 1]) {
      const out = parseOutput(await squashTo(image, { keep }));
      const top = out.files.get(`blobs/sha256/${out.manifest.layers.at(-1)!.digest.slice(7)}`)!;
      expect([...members(top).keys()]).toContain('a/.wh.x/.wh..wh..opq');
      expect(sha(await exportOf(await squashTo(image, { keep }))), `--keep ${keep}`).toBe(sha(await exportOf(image)));
    }
  });

  it('two kept layers with the same bytes are one blob, listed twice', async () => {
    const same = await layerTar([e('x')]);
    const image = writeTemp(await imageArchive([same, same, await layerTar([e('y')])]), 'dup.tar');
    const path = await squashTo(image, { keep: 2 });
    const out = parseOutput(path);
    expect(out.manifest.layers[0]!.digest).toBe(out.manifest.layers[1]!.digest);
    expect([...out.files.keys()].filter((n) => n.startsWith('blobs/sha256/') && n.length > 13)).toHaveLength(4); // layer, top, config, manifest
    expect(sha(await exportOf(path))).toBe(sha(await exportOf(image)));
    if (hasCommand('tar')) expect(spawnSync('tar', ['-tf', path]).status).toBe(0);
  });

  it.skipIf(!hasCommand('tar'))('GNU tar reads the squashed layer, with n2 a hard link to n1', async () => {
    const image = await crafted();
    const out = parseOutput(await squashTo(image, { keep: 1 }));
    const top = writeTemp(out.files.get(`blobs/sha256/${out.manifest.layers[1]!.digest.slice(7)}`)!, 'layer.tar');
    const r = spawnSync('tar', ['-tvf', top], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^h.* n2 link to n1$/m);
    expect(r.stdout).toMatch(/\.wh\.\.wh\.\.opq/);
  });
});

/** An OCI archive whose index holds amd64, arm64/v8 (two layers each) and an attestation manifest. */
async function multiPlatform(): Promise<string> {
  const blobs: Array<{ path: string; content: Buffer }> = [];
  const put = (b: Buffer) => {
    blobs.push({ path: `blobs/sha256/${sha256(b)}`, content: b });
    return { digest: `sha256:${sha256(b)}`, size: b.length };
  };
  const manifests = [];
  for (const [arch, variant] of [['amd64', undefined], ['arm64', 'v8']] as const) {
    const layers = [await layerTar([e('common'), e('gone')]), await layerTar([e(`${arch}-only`), e('.wh.gone')])];
    const config = JSON.parse(configFor(layers).toString()) as Record<string, unknown>;
    config.architecture = arch;
    if (variant) config.variant = variant;
    const c = put(Buffer.from(JSON.stringify(config)));
    const ls = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzipSync(l)) }));
    const m = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c }, layers: ls })));
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) } });
  }
  const att = put(Buffer.from('{"schemaVersion":2,"layers":[]}'));
  manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...att, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } });
  const nested = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...nested, annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' } }] };
  return writeTemp(await layerTar([...blobs, { path: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' }, { path: 'index.json', content: JSON.stringify(index) }]), 'multi.tar');
}

async function exportPlatform(image: string, platform: string): Promise<string> {
  const out = join(scratchDir(), 'p.tar');
  await exportRootfs(image, { output: out, platform });
  return sha(readFileSync(out));
}

describe('--all-platforms', () => {
  it('squashes each platform into an OCI index; each exports as the original platform does', async () => {
    const image = await multiPlatform();
    const output = join(scratchDir(), 'all.tar');
    const result = await squashImage(image, { output: `oci-archive:${output}`, allPlatforms: true, tag: 'multi:squashed' });
    expect(result.platforms?.map((p) => p.platform).sort()).toEqual(['linux/amd64', 'linux/arm64/v8']);
    const files = members(readFileSync(output));
    const top = JSON.parse(files.get('index.json')!.toString()) as { manifests: Array<{ mediaType: string; digest: string }> };
    expect(top.manifests[0]!.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const index = JSON.parse(files.get(`blobs/sha256/${top.manifests[0]!.digest.slice(7)}`)!.toString()) as { manifests: Array<{ platform: { architecture: string } }> };
    expect(index.manifests.map((m) => m.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
    for (const platform of ['linux/amd64', 'linux/arm64/v8']) expect(await exportPlatform(output, platform), platform).toBe(await exportPlatform(image, platform));
    if (hasCommand('skopeo')) {
      const r = spawnSync('skopeo', ['inspect', '--override-arch', 'arm64', '--override-variant', 'v8', `oci-archive:${output}`], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).Architecture).toBe('arm64');
    }
  });

  it('a docker load archive cannot hold an index: refused before any work', async () => {
    const r = await cli(['squash', await multiPlatform(), '--all-platforms', '-o', join(scratchDir(), 'x.tar')]);
    expectOneLine(r, /--all-platforms writes an index, which a docker load archive cannot hold/);
  });
});

const missing = missingTools();
describe.skipIf(missing.length > 0)('docker:// push to loopback registries', () => {
  let regs: { plain: { host: string }; secure: { host: string }; token: { host: string }; creds: { user: string; pass: string }; stop(): Promise<void> };
  let creds: string;
  const image = 'fixtures/docker/build-busybox-realistic/image.tar';

  beforeAll(async () => {
    regs = await startTestRegistries();
    creds = `${regs.creds.user}:${regs.creds.pass}`;
    process.env.DOCKER_CONFIG = scratchDir();
  }, 60_000);
  afterAll(async () => {
    await regs?.stop();
  });

  function skopeoDigest(ref: string, withCreds?: string): string {
    const dir = join(scratchDir(), 'copy');
    const r = spawnSync('skopeo', ['copy', '-q', '--src-tls-verify=false', ...(withCreds ? ['--src-creds', withCreds] : []), `docker://${ref}`, `dir:${dir}`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return `sha256:${sha(readFileSync(join(dir, 'manifest.json')))}`;
  }

  it('plain HTTP, --keep 1: skopeo copies back the same manifest; export of it equals the original export', async () => {
    const ref = `${regs.plain.host}/sq/a:1`;
    const result = await squashImage(image, { output: `docker://${ref}`, insecure: true, keep: 1 });
    expect(skopeoDigest(ref)).toBe(result.manifestDigest);
    expect(sha(readFileSync(await exportVia(`docker://${ref}`)))).toBe(sha(await exportOf(image)));
  });

  async function exportVia(input: string): Promise<string> {
    const out = join(scratchDir(), 'r.tar');
    await exportRootfs(input, { output: out, insecure: true });
    return out;
  }

  it('registry → registry, same registry: the kept layer is mounted, not uploaded again', async () => {
    const from = `${regs.plain.host}/sq/src:1`;
    await squashImage(image, { output: `docker://${from}`, insecure: true, keep: 2 });
    const to = `${regs.plain.host}/sq/dst:1`;
    const result = await squashImage(`docker://${from}`, { output: `docker://${to}`, insecure: true, keep: 1 });
    expect(result.push).toEqual({ uploaded: 2, mounted: 1, existing: 0 });
    expect(skopeoDigest(to)).toBe(result.manifestDigest);
    expect(sha(readFileSync(await exportVia(`docker://${to}`)))).toBe(sha(await exportOf(image)));
  });

  it('TLS + htpasswd: pushed with --creds; a wrong password names the request and leaves no tag', async () => {
    const ref = `${regs.secure.host}/sq/b:1`;
    const result = await squashImage(image, { output: `docker://${ref}`, insecure: true, creds, compression: 'zstd', format: 'oci' });
    expect(skopeoDigest(ref, creds)).toBe(result.manifestDigest);
    const bad = `${regs.secure.host}/sq/c:1`;
    const r = await cli(['squash', image, '-o', `docker://${bad}`, '--insecure', '--creds', 'tester:wrong']);
    expectOneLine(r, /docker:\/\/127\.0\.0\.1:\d+\/sq\/c:1: (HEAD|POST|PUT) \/v2\/sq\/c\/\S+: access denied \(401/);
    const tags = spawnSync('skopeo', ['list-tags', '--tls-verify=false', '--creds', creds, `docker://${bad}`], { encoding: 'utf8' });
    expect(tags.stdout).not.toMatch(/"1"/);
  });

  it('--all-platforms: an index under the tag, its manifests by digest; skopeo reads the same index back', async () => {
    const ref = `${regs.plain.host}/sq/multi:1`;
    const result = await squashImage(await multiPlatform(), { output: `docker://${ref}`, insecure: true, allPlatforms: true, format: 'oci' });
    expect(skopeoDigest(ref)).not.toBe('');
    const raw = spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' });
    expect(`sha256:${sha(Buffer.from(raw.stdout))}`).toBe(result.manifestDigest);
    expect(JSON.parse(raw.stdout).manifests).toHaveLength(2);
  });

  it('bearer tokens: the push scope the registry asks for is obtained', async () => {
    const ref = `${regs.token.host}/private/sq:1`;
    const result = await squashImage(image, { output: `docker://${ref}`, insecure: true, creds });
    expect(result.layers).toHaveLength(1);
    expect(sha(readFileSync(await exportViaCreds(`docker://${ref}`)))).toBe(sha(await exportOf(image)));
  });

  async function exportViaCreds(input: string): Promise<string> {
    const out = join(scratchDir(), 'r.tar');
    await exportRootfs(input, { output: out, insecure: true, creds });
    return out;
  }

  it('a registry that refuses the manifest: the push fails naming the PUT, and the tag is absent', async () => {
    // the manifest names a layer that was never uploaded: the registry refuses it (MANIFEST_BLOB_UNKNOWN)
    const { pushLayout } = await import('../src/write/push.js');
    const { parseDockerReference } = await import('../src/read/registry/reference.js');
    const dir = scratchDir();
    const config = Buffer.from('{}');
    const configDigest = `sha256:${sha(config)}`;
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'blobs', 'sha256', sha(config)), config);
    const type = 'application/vnd.oci.image.manifest.v1+json';
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: type, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 2 }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'0'.repeat(64)}`, size: 1 }] }));
    const ref = parseDockerReference(`${regs.plain.host}/sq/refused:1`);
    const err = await pushLayout(dir, { manifestBytes: manifest, manifestType: type, manifestDigest: `sha256:${sha(manifest)}`, configDigest, layers: [] }, ref, { insecure: true }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(LayerfoldError);
    expect(String((err as Error).message)).toMatch(/: PUT \/v2\/sq\/refused\/manifests\/1: the registry answered 400 \(MANIFEST_BLOB_UNKNOWN/);
    const tags = spawnSync('skopeo', ['list-tags', '--tls-verify=false', `docker://${regs.plain.host}/sq/refused`], { encoding: 'utf8' });
    expect(tags.stdout).not.toMatch(/"1"/);
  });
});
