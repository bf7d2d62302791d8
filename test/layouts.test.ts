/**
 * Every input layout, compression, stdin, --platform, --image, digest checks and their error paths.
 * The same layers in every layout must give the same bytes; the layers here are built with tar-stream.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { zstdSync } from '../src/io/compression.js';
import { describe, expect, it } from 'vitest';
import { exportRootfs, isLayerfoldError, type ExportOptions } from '../src/index.js';
import { flattenImage } from '../src/flatten.js';
import { configFor, e, imageArchive, layerTar, scratchDir, sha256, writeTemp } from './support/build.js';
import { readWithNodeTar } from './support/read.js';

const zstdCompress = zstdSync.compress;

const LAYERS = [
  [e('etc/'), e('etc/os-release', { content: 'ID=test\n' }), e('bin/'), e('bin/sh', { content: '#!', mode: 0o755 })],
  [e('etc/'), e('etc/.wh.os-release'), e('etc/hostname', { content: 'x\n' })],
];

async function layers(): Promise<Buffer[]> {
  return Promise.all(LAYERS.map((l) => layerTar(l)));
}

async function exportTo(input: string, options: ExportOptions = {}): Promise<Buffer> {
  const out = join(scratchDir(), 'out.tar');
  await exportRootfs(input, { ...options, output: out });
  return readFileSync(out);
}

async function failure(input: string, options: ExportOptions = {}): Promise<{ code: string; message: string; outDir: string }> {
  const outDir = scratchDir();
  const err = await exportRootfs(input, { ...options, output: join(outDir, 'out.tar') }).catch((x: unknown) => x);
  if (!isLayerfoldError(err)) throw new Error(`expected a LayerfoldError, got ${String(err)}`);
  return { code: err.code, message: err.message, outDir };
}

describe('layouts', () => {
  it('legacy, Docker 25+ and OCI archives with plain, gzip and zstd layers all give the same bytes', async () => {
    const ls = await layers();
    const reference = await exportTo(writeTemp(await imageArchive(ls, { layout: 'legacy' })));
    const names = (await readWithNodeTar(reference)).map((x) => x.path);
    expect(names).toEqual(['bin/', 'bin/sh', 'etc/', 'etc/hostname']);
    for (const layout of ['docker-oci', 'oci'] as const) {
      for (const compression of ['none', 'gzip', 'zstd'] as const) {
        const out = await exportTo(writeTemp(await imageArchive(ls, { layout, compression })));
        expect(out.equals(reference), `${layout} ${compression}`).toBe(true);
      }
    }
  });

  it('an OCI layout directory', async () => {
    const ls = await layers();
    const archive = await imageArchive(ls, { layout: 'oci', compression: 'gzip' });
    const dir = scratchDir();
    // unpack the archive with tar-stream's counterpart: GNU tar
    const tarFile = writeTemp(archive);
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-xf', tarFile, '-C', dir]);
    expect((await exportTo(dir)).equals(await exportTo(tarFile))).toBe(true);
  });

  it('an archive that is itself gzip- or zstd-compressed', async () => {
    const archive = await imageArchive(await layers());
    const reference = await exportTo(writeTemp(archive));
    expect((await exportTo(writeTemp(gzipSync(archive), 'image.tar.gz'))).equals(reference)).toBe(true);
    expect((await exportTo(writeTemp(zstdCompress(archive), 'image.bin'))).equals(reference)).toBe(true);
  });

  it('reads - from stdin, plain or compressed', async () => {
    const archive = await imageArchive(await layers());
    const reference = await exportTo(writeTemp(archive));
    for (const bytes of [archive, gzipSync(archive)]) {
      const out = await exportTo('-', { stdin: Readable.from([bytes.subarray(0, 3), bytes.subarray(3)]) });
      expect(out.equals(reference)).toBe(true);
    }
  });

  it('--max-size also bounds a spooled stdin or compressed archive', async () => {
    const archive = await imageArchive(await layers());
    const viaStdin = await failure('-', { stdin: Readable.from([archive]), maxSize: 4096 });
    expect(viaStdin.code).toBe('LIMIT');
    expect(viaStdin.message).toContain('stdin');
    expect((await failure(writeTemp(gzipSync(archive), 'image.tar.gz'), { maxSize: 4096 })).code).toBe('LIMIT');
  });

  it('a repeated legacy layer stored as a symlink to another layer.tar', async () => {
    const l = await layerTar([e('f', { content: 'same' })]);
    const config = configFor([l, l]);
    const configHex = sha256(config);
    const archive = await layerTar([
      { path: 'aaa/', type: 'dir' },
      { path: 'aaa/layer.tar', content: l },
      { path: 'bbb/', type: 'dir' },
      { path: 'bbb/layer.tar', type: 'symlink', linkname: '../aaa/layer.tar' },
      { path: `${configHex}.json`, content: config },
      { path: 'manifest.json', content: JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['x:1'], Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }]) },
    ]);
    const list = await readWithNodeTar(await exportTo(writeTemp(archive)));
    expect(list.map((x) => `${x.path}=${x.content}`)).toEqual(['f=same']);
  });
});

describe('choosing an image', () => {
  async function twoImages(): Promise<string> {
    const a = await layerTar([e('a')]);
    const b = await layerTar([e('b')]);
    const ca = configFor([a]);
    const cb = configFor([b]);
    return writeTemp(
      await layerTar([
        { path: 'la/layer.tar', content: a },
        { path: 'lb/layer.tar', content: b },
        { path: `${sha256(ca)}.json`, content: ca },
        { path: `${sha256(cb)}.json`, content: cb },
        {
          path: 'manifest.json',
          content: JSON.stringify([
            { Config: `${sha256(ca)}.json`, RepoTags: ['app:1'], Layers: ['la/layer.tar'] },
            { Config: `${sha256(cb)}.json`, RepoTags: ['docker.io/library/other:latest'], Layers: ['lb/layer.tar'] },
          ]),
        },
      ]),
    );
  }

  it('--image picks one, accepting docker\'s short forms', async () => {
    const path = await twoImages();
    expect((await readWithNodeTar(await exportTo(path, { image: 'app:1' }))).map((x) => x.path)).toEqual(['a']);
    expect((await readWithNodeTar(await exportTo(path, { image: 'other' }))).map((x) => x.path)).toEqual(['b']);
  });

  it('without --image, several images are an error that lists them', async () => {
    const f = await failure(await twoImages());
    expect(f.code).toBe('NOT_FOUND');
    expect(f.message).toContain('app:1');
    expect(f.message).toContain('other:latest');
  });

  it('an unknown --image lists what is there', async () => {
    expect((await failure(await twoImages(), { image: 'nope:2' })).message).toMatch(/nope:2.*app:1/);
  });
});

describe('platforms', () => {
  /** An OCI archive whose index holds amd64, arm64/v8 and an attestation manifest. */
  async function multiPlatform(): Promise<string> {
    const blobs: Array<{ path: string; content: Buffer }> = [];
    const add = (b: Buffer) => {
      blobs.push({ path: `blobs/sha256/${sha256(b)}`, content: b });
      return { digest: `sha256:${sha256(b)}`, size: b.length };
    };
    const manifests = [];
    for (const [arch, variant] of [['amd64', undefined], ['arm64', 'v8']] as const) {
      const layer = await layerTar([e(`${arch}-only`)]);
      const config = JSON.parse(configFor([layer]).toString()) as Record<string, unknown>;
      config.architecture = arch;
      if (variant) config.variant = variant;
      const c = add(Buffer.from(JSON.stringify(config)));
      const l = add(gzipSync(layer));
      const m = add(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l }] })));
      manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) } });
    }
    const att = add(Buffer.from('{"schemaVersion":2,"layers":[]}'));
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...att, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } });
    const nested = add(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
    const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...nested, annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' } }] };
    return writeTemp(await layerTar([...blobs, { path: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' }, { path: 'index.json', content: JSON.stringify(index) }]));
  }

  it('--platform picks one from a nested index; attestation manifests are skipped', async () => {
    const path = await multiPlatform();
    for (const [platform, name] of [['linux/amd64', 'amd64-only'], ['linux/arm64', 'arm64-only'], ['linux/arm64/v8', 'arm64-only'], ['linux/aarch64', 'arm64-only']]) {
      expect((await readWithNodeTar(await exportTo(path, { platform }))).map((x) => x.path)).toEqual([name]);
    }
  });

  it('defaults to the host platform', async () => {
    const flat = await flattenImage(await multiPlatform());
    try {
      expect(flat.image.platform).toBe(process.arch === 'arm64' ? 'linux/arm64/v8' : 'linux/amd64');
    } finally {
      flat.close();
    }
  });

  it('a platform that is not there is an error listing those that are', async () => {
    const f = await failure(await multiPlatform(), { platform: 'linux/s390x' });
    expect(f.code).toBe('NOT_FOUND');
    expect(f.message).toContain('linux/amd64');
    expect(f.message).toContain('linux/arm64/v8');
    expect(f.message).not.toContain('unknown');
  });
});

describe('integrity', () => {
  it('a layer whose bytes do not match its diff_id is refused, naming both digests, leaving no output', async () => {
    const [l0] = await layers();
    const config = configFor([l0!]);
    const tampered = Buffer.from(l0!);
    tampered[tampered.indexOf('ID=test')] ^= 1; // inside a file's data: still a valid tar
    const archive = await layerTar([
      { path: 'l/layer.tar', content: tampered },
      { path: `${sha256(config)}.json`, content: config },
      { path: 'manifest.json', content: JSON.stringify([{ Config: `${sha256(config)}.json`, RepoTags: ['t:1'], Layers: ['l/layer.tar'] }]) },
    ]);
    const f = await failure(writeTemp(archive));
    expect(f.code).toBe('DIGEST_MISMATCH');
    expect(f.message).toContain(`sha256:${sha256(tampered)}`);
    expect(f.message).toContain(`sha256:${sha256(l0!)}`);
    expect(f.message).toContain('l/layer.tar');
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(f.outDir)).toEqual([]);
    // --no-verify takes it as it is
    expect((await exportTo(writeTemp(archive), { verify: false })).length).toBeGreaterThan(0);
  });

  it('a blob whose bytes do not match its descriptor is refused', async () => {
    const archive = await imageArchive(await layers(), { layout: 'oci', compression: 'gzip' });
    const dir = scratchDir();
    const { execFileSync } = await import('node:child_process');
    const tarFile = writeTemp(archive);
    execFileSync('tar', ['-xf', tarFile, '-C', dir]);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(readFileSync(join(dir, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
    const layerPath = join(dir, 'blobs/sha256', manifest.layers[1]!.digest.slice(7));
    const bytes = readFileSync(layerPath);
    // recompress the same tar differently: same diff_id, different blob digest
    const { gunzipSync } = await import('node:zlib');
    writeFileSync(layerPath, gzipSync(gunzipSync(bytes), { level: 1 }));
    const f = await failure(dir);
    expect(f.code).toBe('DIGEST_MISMATCH');
  });

  it('a missing blob is named', async () => {
    const dir = scratchDir();
    mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
    const digest = `sha256:${'a'.repeat(64)}`;
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 10 }] }));
    const f = await failure(dir);
    expect(f.code).toBe('NOT_FOUND');
    expect(f.message).toContain(`blobs/sha256/${'a'.repeat(64)}`);
  });
});

describe('inputs that are not images', () => {
  it('a rootfs tar, an empty file, random bytes, a missing file', async () => {
    expect((await failure(writeTemp(await layerTar([e('etc/'), e('etc/passwd')])))).message).toContain('not an image');
    expect((await failure(writeTemp(Buffer.alloc(0)))).code).toBe('BAD_ARCHIVE');
    expect((await failure(writeTemp(Buffer.from('this is not a tar at all, just some text'.repeat(20))))).code).toBe('BAD_ARCHIVE');
    expect((await failure(join(scratchDir(), 'missing.tar'))).code).toBe('NOT_FOUND');
  });
});

describe('an index listing one multi-platform image under two names (docker save app:1 app:latest)', () => {
  async function twoNames(): Promise<string> {
    const blobs = new Map<string, Buffer>();
    const add = (text: string | Buffer) => {
      const b = Buffer.from(text);
      blobs.set(sha256(b), b);
      return { digest: `sha256:${sha256(b)}`, size: b.length };
    };
    const platformManifest = async (arch: string) => {
      const l = await layerTar([e(`${arch}.txt`)]);
      const cfg = JSON.parse(configFor([l]).toString()) as Record<string, unknown>;
      cfg.architecture = arch;
      const m = add(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...add(JSON.stringify(cfg)) }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...add(l) }] }));
      return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: { os: 'linux', architecture: arch } };
    };
    const inner = add(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [await platformManifest('amd64'), await platformManifest('arm64')] }));
    const named = (tag: string) => ({ mediaType: 'application/vnd.oci.image.index.v1+json', ...inner, annotations: { 'io.containerd.image.name': `docker.io/library/app:${tag}`, 'org.opencontainers.image.ref.name': tag } });
    const members = [e('blobs/'), e('blobs/sha256/')];
    for (const [h, b] of blobs) members.push(e(`blobs/sha256/${h}`, { content: b }));
    members.push(e('index.json', { content: JSON.stringify({ schemaVersion: 2, manifests: [named('1'), named('latest')] }) }), e('oci-layout', { content: '{"imageLayoutVersion":"1.0.0"}' }));
    return writeTemp(await layerTar(members), 'two-names.tar');
  }

  it('finds the image by either name, and the platform picks the manifest', async () => {
    const archive = await twoNames();
    for (const image of ['app:1', 'app:latest']) {
      const flat = await flattenImage(archive, { image, platform: 'linux/arm64' });
      try {
        expect([...flat.tree.root.children.keys()]).toEqual(['arm64.txt']);
        expect(flat.image.images.some((n) => n.includes('app:latest'))).toBe(true);
      } finally {
        flat.close();
      }
    }
  });
});

