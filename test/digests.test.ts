/**
 * Integrity with every digest algorithm the OCI image spec registers (sha256, sha512): for each
 * algorithm, each blob kind (index, manifest, config, layer blob, diff_id) and each source (OCI archive,
 * OCI directory, stdin, Docker 25+ and legacy docker-archives, a stand-in Docker engine, a stand-in
 * registry on loopback), other bytes stored under a digest's name are DIGEST_MISMATCH, one line, exit 2;
 * the same image untampered gives the same export as its sha256 twin; a digest of any other algorithm
 * is refused with one line (BAD_LAYOUT). The attack that pinned this: an OCI archive naming its config
 * and a layer by sha512 with a backdoored layer stored under that name was exported without a word.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerTar, scratchDir, writeTemp } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';

type Alg = 'sha256' | 'sha512';
type Kind = 'index' | 'manifest' | 'config' | 'layer' | 'diffid';
const ALGS: Alg[] = ['sha256', 'sha512'];

const hex = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');
const digest = (alg: string, b: Buffer) => `${alg}:${hex(alg, b)}`;
const path = (d: string) => `blobs/${d.replace(':', '/')}`;
const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Layout {
  /** path → bytes: index.json, oci-layout, blobs/<alg>/<hex> */
  files: Map<string, Buffer>;
  /** For a Docker 25+ archive: manifest.json's Config and Layers. */
  config: string;
  layers: string[];
  /** The top index (what a registry serves for the tag). */
  top: Buffer;
}

interface Options {
  alg: Alg;
  tamper?: Kind;
  gzip?: boolean;
  /** The algorithm of the diff_ids, when not `alg`. */
  diffAlg?: Alg;
}

async function contents(evil: boolean) {
  const layer = await layerTar([
    { path: 'etc/', type: 'dir' },
    { path: 'etc/motd', content: evil ? 'backdoored\n' : 'hello\n' },
    ...(evil ? [{ path: 'usr/bin/backdoor', content: 'evil', mode: 0o4755 }] : []),
  ]);
  return { layer, env: evil ? ['EVIL=1'] : ['PATH=/bin'] };
}

/**
 * top index.json → a nested index → the image manifest → config and one layer, every digest in `alg`
 * (diff_ids in `diffAlg`). `tamper` stores other bytes under one name, its descriptor's size adjusted
 * to them (as an attacker would); for `diffid`, the layer is named honestly but the config's diff_id
 * is another layer's.
 */
async function buildLayout(o: Options): Promise<Layout> {
  const alg = o.alg;
  const diffAlg = o.diffAlg ?? alg;
  const files = new Map<string, Buffer>();
  const put = (b: Buffer) => {
    const d = digest(alg, b);
    files.set(path(d), b);
    return d;
  };
  const good = await contents(false);
  const evil = await contents(true);
  const stored = (l: Buffer) => (o.gzip ? gzipSync(l) : l);
  const layerMediaType = `application/vnd.oci.image.layer.v1.tar${o.gzip ? '+gzip' : ''}`;
  const image = (c: Awaited<ReturnType<typeof contents>>, diffId = digest(diffAlg, c.layer)) => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: c.env }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const blob = stored(c.layer);
    return { config, blob };
  };
  const manifestOf = (config: Buffer, blob: Buffer, names = { config: digest(alg, config), layer: digest(alg, blob) }) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: names.config, size: config.length },
        layers: [{ mediaType: layerMediaType, digest: names.layer, size: blob.length }],
      }),
    );
  const indexOf = (m: Buffer, name = digest(alg, m), mediaType = MANIFEST) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType, digest: name, size: m.length }] }));

  const g = image(good, o.tamper === 'diffid' ? digest(diffAlg, evil.layer) : undefined);
  const e = image(evil);
  let configName = put(g.config);
  let layerName = put(g.blob);
  if (o.tamper === 'config') {
    // the config says EVIL=1; same diff_ids, so only the config's own digest can tell
    const bad = Buffer.from(JSON.stringify({ ...JSON.parse(g.config.toString()), config: { Env: evil.env } }));
    files.set(path(configName), bad);
  }
  if (o.tamper === 'layer') files.set(path(layerName), e.blob);
  const sizes = { config: files.get(path(configName))!, layer: files.get(path(layerName))! };
  let manifest = manifestOf(sizes.config, sizes.layer, { config: configName, layer: layerName });
  const manifestName = put(manifest);
  if (o.tamper === 'manifest') {
    // a manifest for the evil image (whose blobs are stored honestly) under the good manifest's name
    configName = put(e.config);
    layerName = put(e.blob);
    manifest = manifestOf(e.config, e.blob);
    files.set(path(manifestName), manifest);
  }
  let nested = indexOf(manifest, manifestName);
  const nestedName = put(nested);
  if (o.tamper === 'index') {
    const evilManifest = manifestOf(e.config, e.blob);
    put(e.config);
    put(e.blob);
    put(evilManifest);
    nested = indexOf(evilManifest);
    files.set(path(nestedName), nested);
  }
  const top = indexOf(nested, nestedName, INDEX);
  files.set('index.json', top);
  files.set('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  return { files, config: path(configName), layers: [path(layerName)], top };
}

async function ociArchive(l: Layout, dockerManifest = false): Promise<Buffer> {
  const entries = [...l.files].map(([p, content]) => ({ path: p, content }));
  if (dockerManifest) entries.push({ path: 'manifest.json', content: Buffer.from(JSON.stringify([{ Config: l.config, RepoTags: ['x:1'], Layers: l.layers }])) });
  return layerTar(entries);
}

function ociDir(l: Layout): string {
  const dir = join(scratchDir(), 'layout');
  for (const [p, b] of l.files) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), b);
  }
  return dir;
}

const MISMATCH: Record<Kind, RegExp> = {
  index: /blobs\/sha(256|512)\/[0-9a-f]+: content is sha(256|512):[0-9a-f]+, but it is named/,
  manifest: /blobs\/sha(256|512)\/[0-9a-f]+: content is sha(256|512):[0-9a-f]+, but it is named/,
  config: /blobs\/sha(256|512)\/[0-9a-f]+: content is sha(256|512):[0-9a-f]+, but it is named/,
  layer: /layer 0 .*: the stored blob is sha(256|512):[0-9a-f]+, but its descriptor names sha(256|512):/,
  diffid: /layer 0 .*: the (uncompressed )?layer is sha(256|512):[0-9a-f]+, but the config's diff_id is sha(256|512):/,
};

const exportArgs = (image: string) => ['export', image, '-o', '-'];
let reference: Buffer;

beforeAll(async () => {
  const r = await cli(exportArgs(writeTemp(await ociArchive(await buildLayout({ alg: 'sha256' })))));
  expect(r.stderr).toBe('');
  reference = r.stdout;
});

describe.each(ALGS)('%s digests in an OCI layout', (alg) => {
  it.each([false, true])('untampered (gzip %s): the same export as the sha256 image, from an archive, a directory and stdin', async (gzip) => {
    const l = await buildLayout({ alg, gzip });
    const archive = await ociArchive(l);
    for (const r of [await cli(exportArgs(writeTemp(archive))), await cli(exportArgs(`oci:${ociDir(l)}`)), await cli(exportArgs('-'), { stdin: archive })]) {
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(reference)).toBe(true);
    }
  });

  it('inspect shows the short digests as 12 hex, whatever the algorithm', async () => {
    const l = await buildLayout({ alg });
    const r = await cli(['inspect', writeTemp(await ociArchive(l))]);
    expect(r.stderr).toBe('');
    const diffId = JSON.parse(l.files.get(l.config)!.toString()).rootfs.diff_ids[0] as string;
    expect(r.stdout.toString()).toMatch(new RegExp(`^0\\s+${diffId.split(':')[1]!.slice(0, 12)}\\s`, 'm'));
  });

  const kinds: Kind[] = ['index', 'manifest', 'config', 'layer', 'diffid'];
  describe.each(kinds)('other bytes stored under the %s digest', (kind) => {
    it.each([false, true])('gzip %s: DIGEST_MISMATCH from an archive, a directory and stdin', async (gzip) => {
      const l = await buildLayout({ alg, tamper: kind, gzip });
      const archive = await ociArchive(l);
      const out = scratchDir();
      const to = (image: string) => ['export', image, '-o', join(out, 'rootfs.tar')];
      for (const r of [await cli(to(writeTemp(archive))), await cli(to(`oci:${ociDir(l)}`)), await cli(to('-'), { stdin: archive })]) {
        expectOneLine(r, MISMATCH[kind]);
        expect(r.stderr).toContain(alg === 'sha512' ? 'sha512:' : 'sha256:');
        expect(readdirSync(out)).toEqual([]);
      }
    });
  });

  it.each(['config', 'layer', 'diffid'] as const)('a Docker 25+ archive (manifest.json into blobs/): other bytes under the %s name are DIGEST_MISMATCH', async (kind) => {
    const l = await buildLayout({ alg, tamper: kind });
    expectOneLine(await cli(exportArgs(`docker-archive:${writeTemp(await ociArchive(l, true))}`)), MISMATCH[kind]);
  });
});

describe('diff_ids and blob digests of different algorithms', () => {
  it.each([
    ['sha256', 'sha512'],
    ['sha512', 'sha256'],
  ] as const)('blobs %s, diff_ids %s: verified both ways in one read, tampering caught', async (alg, diffAlg) => {
    for (const gzip of [false, true]) {
      const r = await cli(exportArgs(writeTemp(await ociArchive(await buildLayout({ alg, diffAlg, gzip })))));
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(reference)).toBe(true);
      expectOneLine(await cli(exportArgs(writeTemp(await ociArchive(await buildLayout({ alg, diffAlg, gzip, tamper: 'diffid' }))))), MISMATCH.diffid);
      expectOneLine(await cli(exportArgs(writeTemp(await ociArchive(await buildLayout({ alg, diffAlg, gzip, tamper: 'layer' }))))), MISMATCH.layer);
    }
  });
});

describe('a legacy docker-archive with sha512 diff_ids', () => {
  async function legacy(tamper: boolean): Promise<Buffer> {
    const good = await contents(false);
    const evil = await contents(true);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: good.env }, rootfs: { type: 'layers', diff_ids: [digest('sha512', good.layer)] } }));
    const configHex = hex('sha256', config);
    return layerTar([
      { path: 'l1/layer.tar', content: tamper ? evil.layer : good.layer },
      { path: `${configHex}.json`, content: config },
      { path: 'manifest.json', content: JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['x:1'], Layers: ['l1/layer.tar'] }]) },
    ]);
  }
  it('untampered: the same export; a swapped layer.tar is DIGEST_MISMATCH', async () => {
    const r = await cli(exportArgs(writeTemp(await legacy(false))));
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(reference)).toBe(true);
    expectOneLine(await cli(exportArgs(writeTemp(await legacy(true)))), /layer 0 .*: the layer is sha512:[0-9a-f]{128}, but the config's diff_id is sha512:/);
  });
});

describe('every command refuses the sha512 swap (config and layer both replaced, as in the attack)', () => {
  let image: string;
  beforeAll(async () => {
    // config says EVIL=1, layer holds the backdoor: both stored under the good image's sha512 names
    const l = await buildLayout({ alg: 'sha512', tamper: 'config' });
    const evil = await contents(true);
    const layerPath = l.layers[0]!;
    l.files.set(layerPath, evil.layer);
    image = writeTemp(await ociArchive(l));
  });
  it.each([
    ['export', (i: string, d: string) => ['export', i, '-o', join(d, 'out.tar')]],
    ['extract', (i: string, d: string) => ['extract', i, join(d, 'rootfs')]],
    ['bundle', (i: string, d: string) => ['bundle', i, join(d, 'bundle')]],
    ['ls', (i: string) => ['ls', i]],
    ['why', (i: string) => ['why', i, '/etc/motd']],
    ['inspect', (i: string) => ['inspect', i]],
    ['config', (i: string) => ['config', i]],
    ['diff', (i: string) => ['diff', i, i]],
  ])('%s: one line, exit 2, nothing left', async (_name, argv) => {
    const dir = scratchDir();
    const r = await cli(argv(image, dir));
    expectOneLine(r, /DIGEST_MISMATCH|content is sha512:[0-9a-f]{128}, but it is named sha512:/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('digests of other algorithms are refused, one line', () => {
  const SHA384 = `sha384:${'ab'.repeat(48)}`;
  const cases: Array<[string, (l: Layout) => void]> = [
    ['an index entry', (l) => l.files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MANIFEST, digest: SHA384, size: 1 }] })))],
    [
      'a config descriptor',
      (l) => {
        const idx = JSON.parse(l.files.get('index.json')!.toString()) as { manifests: Array<{ digest: string; size: number; mediaType: string }> };
        const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: { digest: SHA384, size: 2 }, layers: [] }));
        const d = digest('sha256', manifest);
        l.files.set(path(d), manifest);
        idx.manifests = [{ mediaType: MANIFEST, digest: d, size: manifest.length }];
        l.files.set('index.json', Buffer.from(JSON.stringify(idx)));
      },
    ],
    ['blake3', (l) => l.files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MANIFEST, digest: `blake3:${'cd'.repeat(32)}`, size: 1 }] })))],
  ];
  it.each(cases)('%s', async (_what, edit) => {
    const l = await buildLayout({ alg: 'sha256' });
    edit(l);
    expectOneLine(await cli(exportArgs(writeTemp(await ociArchive(l)))), /uses the algorithm (sha384|blake3), which layerfold cannot verify \(only sha256 and sha512/);
  });
  it('a sha384 diff_id', async () => {
    const good = await contents(false);
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [`sha384:${hex('sha384', good.layer)}`] } }));
    const tar = await layerTar([
      { path: 'l1/layer.tar', content: good.layer },
      { path: 'c.json', content: config },
      { path: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['l1/layer.tar'] }]) },
    ]);
    expectOneLine(await cli(exportArgs(writeTemp(tar))), /c\.json: rootfs\.diff_ids\[0\]: digest sha384:[0-9a-f]{96} uses the algorithm sha384/);
  });
  it('a Docker 25+ manifest.json naming blobs/sha512/<64 hex> (not a sha512 digest)', async () => {
    const l = await buildLayout({ alg: 'sha256' });
    const entries = [...l.files].map(([p, content]) => ({ path: p, content }));
    const fake = `blobs/sha512/${l.config.split('/')[2]}`;
    entries.push({ path: fake, content: l.files.get(l.config)! });
    entries.push({ path: 'manifest.json', content: Buffer.from(JSON.stringify([{ Config: fake, RepoTags: ['x:1'], Layers: l.layers }])) });
    expectOneLine(await cli(exportArgs(`docker-archive:${writeTemp(await layerTar(entries))}`)), /manifest\.json\)?: blobs\/sha512\/[0-9a-f]{64}: digest sha512:[0-9a-f]{64} is not a valid digest/);
  });
});

/** A registry that serves a layout as it is stored: tag `t` is index.json, blobs and manifests by digest. */
function fakeRegistry(): { server: http.Server; serve(l: Layout): void; host(): string } {
  let layout: Layout | undefined;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') return void res.writeHead(200).end('{}');
    const m = /^\/v2\/x\/(manifests|blobs)\/(.+)$/.exec(url);
    const body = !m || !layout ? undefined : m[1] === 'manifests' && m[2] === 't' ? layout.top : layout.files.get(path(decodeURIComponent(m[2]!)));
    if (!body) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}');
    const type = m![1] === 'manifests' ? ((JSON.parse(body.toString()) as { mediaType?: string }).mediaType ?? MANIFEST) : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': body.length }).end(body);
  });
  return {
    server,
    serve: (l) => void (layout = l),
    host: () => `127.0.0.1:${(server.address() as { port: number }).port}`,
  };
}

describe('docker:// from a stand-in registry', () => {
  const reg = fakeRegistry();
  beforeAll(() => new Promise<void>((r) => reg.server.listen(0, '127.0.0.1', r)));
  afterAll(() => new Promise((r) => reg.server.close(r)));
  const pull = (tmp: string) => ['export', `docker://${reg.host()}/x:t`, '--insecure', '--tmpdir', tmp, '-o', '-'];

  it.each(ALGS)('%s: untampered, the same export', async (alg) => {
    reg.serve(await buildLayout({ alg, gzip: true }));
    const r = await cli(pull(scratchDir()));
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(reference)).toBe(true);
  });

  it('by a sha512 digest (docker://…@sha512:…): verified with sha512, the same export', async () => {
    const l = await buildLayout({ alg: 'sha512' });
    reg.serve(l);
    const nested = (JSON.parse(l.top.toString()) as { manifests: Array<{ digest: string }> }).manifests[0]!.digest;
    const r = await cli(['export', `docker://${reg.host()}/x@${nested}`, '--insecure', '-o', '-']);
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(reference)).toBe(true);
    const wrong = `sha512:${'0'.repeat(128)}`;
    l.files.set(path(wrong), l.files.get(path(nested))!);
    expectOneLine(await cli(['export', `docker://${reg.host()}/x@${wrong}`, '--insecure', '-o', '-']), /manifest sha512:0{128}: content is sha512:[0-9a-f]{128}, but it was asked for by sha512:0{128}/);
  });

  const REGISTRY_MISMATCH: Record<Kind, RegExp> = {
    index: /docker:\/\/127\.0\.0\.1:\d+\/x:t: manifest sha(256|512):[0-9a-f]+: content is sha(256|512):[0-9a-f]+, but it was asked for by/,
    manifest: /docker:\/\/127\.0\.0\.1:\d+\/x:t: manifest sha(256|512):[0-9a-f]+: content is sha(256|512):[0-9a-f]+, but it was asked for by/,
    config: /x:t: config \(sha(256|512):[0-9a-f]{12}…\): content is sha(256|512):[0-9a-f]+, but the manifest names/,
    layer: /x:t: layer 0 \(sha(256|512):[0-9a-f]{12}…\): content is sha(256|512):[0-9a-f]+, but the manifest names/,
    diffid: MISMATCH.diffid,
  };
  describe.each(ALGS)('%s', (alg) => {
    it.each(['index', 'manifest', 'config', 'layer', 'diffid'] as Kind[])('other bytes served for the %s digest: DIGEST_MISMATCH, nothing left in --tmpdir', async (kind) => {
      reg.serve(await buildLayout({ alg, tamper: kind, gzip: true }));
      const tmp = scratchDir();
      const r = await cli(pull(tmp));
      expectOneLine(r, REGISTRY_MISMATCH[kind]);
      expect(r.stderr).toContain(`${alg}:`);
      expect(readdirSync(tmp)).toEqual([]);
    });
  });

  it('an index entry of another algorithm is one line', async () => {
    const l = await buildLayout({ alg: 'sha256' });
    l.top = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: MANIFEST, digest: `sha384:${'ab'.repeat(48)}`, size: 1 }] }));
    reg.serve(l);
    expectOneLine(await cli(pull(scratchDir())), /uses the algorithm sha384, which layerfold cannot verify/);
  });

  it('a Docker-Content-Digest in sha512 that the bytes do not have is one line', async () => {
    const l = await buildLayout({ alg: 'sha256' });
    reg.serve(l);
    const lying = http.createServer((req, res) => {
      const up = http.request({ host: '127.0.0.1', port: Number(reg.host().split(':')[1]), path: req.url, method: req.method }, (u) => {
        const headers = { ...u.headers };
        if (req.url?.endsWith('/manifests/t')) headers['docker-content-digest'] = `sha512:${'0'.repeat(128)}`;
        res.writeHead(u.statusCode ?? 502, headers);
        u.pipe(res);
      });
      up.end();
    });
    await new Promise<void>((r) => lying.listen(0, '127.0.0.1', r));
    try {
      const port = (lying.address() as { port: number }).port;
      expectOneLine(await cli(['export', `docker://127.0.0.1:${port}/x:t`, '--insecure', '-o', '-']), /tag t: content is sha512:[0-9a-f]{128}, but the registry says sha512:0{128}/);
    } finally {
      await new Promise((r) => lying.close(r));
    }
  });
});

describe('docker-daemon: from a stand-in engine (the save stream of a Docker 25+ engine)', () => {
  let archive: Buffer = Buffer.alloc(0);
  const socket = join(scratchDir(), 'engine.sock');
  const engine = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-tar' }).end(archive);
  });
  const saved = process.env.DOCKER_HOST;
  beforeAll(async () => {
    await new Promise<void>((r) => engine.listen(socket, r));
    process.env.DOCKER_HOST = `unix://${socket}`; // the engine is found as the docker CLI finds it
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
    await new Promise((r) => engine.close(r));
  });
  const env = process.env;

  describe.each(ALGS)('%s', (alg) => {
    it('untampered: the same export', async () => {
      archive = await ociArchive(await buildLayout({ alg }), true);
      const r = await cli(exportArgs('docker-daemon:x:1'), { env });
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(reference)).toBe(true);
    });
    it.each(['config', 'layer', 'diffid'] as const)('other bytes under the %s name: DIGEST_MISMATCH, nothing left in --tmpdir', async (kind) => {
      archive = await ociArchive(await buildLayout({ alg, tamper: kind }), true);
      const tmp = scratchDir();
      expectOneLine(await cli(['export', 'docker-daemon:x:1', '--tmpdir', tmp, '-o', '-'], { env }), MISMATCH[kind]);
      expect(readdirSync(tmp)).toEqual([]);
    });
  });
});
