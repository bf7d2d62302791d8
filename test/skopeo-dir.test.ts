/**
 * skopeo's dir: layout. fixtures/skopeo-dir/<case>/<variant> are copies of each conformance image made
 * by real skopeo (scripts/make-skopeo-dirs.sh: docker v2s2 as stored, OCI with gzip, OCI with zstd);
 * each must export, as a plain path and as dir:PATH, to the case's docker export.tar (the implied
 * directories' mtimes aside, as for every pair), and diff must take such a directory for an image.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffRootfs, exportRootfs, isLayerfoldError, type ExportOptions } from '../src/index.js';
import { flattenImage } from '../src/flatten.js';
import { scratchDir, sha256 } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';
import { compareBytes, dockerPairs, impliedDirs } from './support/pairs.js';
import { readWithNodeTar } from './support/read.js';

const ROOT = 'fixtures/skopeo-dir';
const pairs = dockerPairs().filter((p) => p.id.startsWith('conformance/'));
const copies = pairs.flatMap((pair) => readdirSync(join(ROOT, pair.name)).map((variant) => ({ pair, variant, dir: join(ROOT, pair.name, variant) })));

async function exportTo(input: string, options: ExportOptions = {}): Promise<Buffer> {
  const out = join(scratchDir(), 'out.tar');
  await exportRootfs(input, { ...options, output: out });
  return readFileSync(out);
}

async function failure(input: string): Promise<{ code: string; message: string }> {
  const err = await exportRootfs(input, { output: join(scratchDir(), 'out.tar') }).catch((x: unknown) => x);
  if (!isLayerfoldError(err)) throw new Error(`expected a LayerfoldError, got ${String(err)}`);
  return { code: err.code, message: err.message };
}

/** A writable copy of a fixture, to break. */
function copyOf(dir: string): string {
  const to = join(scratchDir(), 'copy');
  cpSync(dir, to, { recursive: true });
  return to;
}

describe('skopeo dir: copies of every conformance image', () => {
  it('covers every conformance case', () => {
    expect(new Set(copies.map((c) => c.pair.name))).toEqual(new Set(pairs.map((p) => p.name)));
  });

  it.each(copies.map((c) => [`${c.pair.name}/${c.variant}`, c]))('%s exports to docker export.tar', async (_label, { pair, dir }) => {
    const ours = await exportTo(dir, { dockerInit: pair.createdSecs });
    const docker = readFileSync(pair.exportTar);
    if (pair.engine.startsWith('20.')) {
      // Docker 20.10 writes type bits in the mode field and host user names: compare the rest, and
      // hold the bytes to the export of the archive skopeo copied from
      const strip = (list: Awaited<ReturnType<typeof readWithNodeTar>>) => list.map((x) => ({ ...x, mode: x.mode & 0o7777 }));
      expect(strip(await readWithNodeTar(ours))).toEqual(strip(await readWithNodeTar(docker)));
    } else {
      expect(compareBytes(ours, docker, await impliedDirs(pair.image, pair.createdSecs))).toEqual([]);
    }
    expect(ours.equals(await exportTo(pair.image, { dockerInit: pair.createdSecs }))).toBe(true);
    expect((await exportTo(`dir:${dir}`, { dockerInit: pair.createdSecs })).equals(ours)).toBe(true);
  });
});

describe('the dir: layout', () => {
  const oci = join(ROOT, 'whiteout-nested', 'oci-gzip');
  const v2s2 = join(ROOT, 'whiteout-nested', 'v2s2');

  it('is named skopeo-dir, with its platform and config digest', async () => {
    const flat = await flattenImage(oci);
    try {
      expect(flat.image.layout).toBe('skopeo-dir');
      expect(flat.image.platform).toBe('linux/amd64');
      const manifest = JSON.parse(readFileSync(join(oci, 'manifest.json'), 'utf8')) as { config: { digest: string } };
      expect(flat.image.configDigest).toBe(manifest.config.digest);
    } finally {
      flat.close();
    }
  });

  it('reads a tar of a dir: copy too', async () => {
    const tar = join(scratchDir(), 'dir.tar');
    execFileSync('tar', ['-cf', tar, '-C', v2s2, '.']);
    expect((await exportTo(tar)).equals(await exportTo(v2s2))).toBe(true);
  });

  it('diff takes a dir: copy for an image, as it takes an OCI layout and an unpacked docker save', async () => {
    const pair = pairs.find((p) => p.name === 'whiteout-nested')!;
    const opts = { ignoreInit: true };
    const viaDir = await diffRootfs(v2s2, pair.exportTar, opts);
    expect(viaDir.mode === 'entries' && viaDir.result.a.kind).toBe('image');
    expect(viaDir.mode === 'entries' && viaDir.result.equal).toBe(true);
    const unpacked = scratchDir();
    execFileSync('tar', ['-xf', pair.image, '-C', unpacked]);
    const viaSave = await diffRootfs(unpacked, pair.exportTar, opts);
    expect(viaSave.mode === 'entries' && viaSave.result.a.kind).toBe('image');
    expect(viaSave.mode === 'entries' && viaSave.result.equal).toBe(true);
    const rootfs = scratchDir();
    writeFileSync(join(rootfs, 'index.json'), '{}'); // index.json alone is a file of a rootfs
    const plain = await diffRootfs(rootfs, rootfs);
    expect(plain.mode === 'entries' && plain.result.a.kind).toBe('directory');
  });

  it('picks the platform of a --all copy (a manifest list, instances in <hex>.manifest.json)', async () => {
    const dir = copyOf(v2s2);
    const manifest = readFileSync(join(dir, 'manifest.json'));
    const hex = sha256(manifest);
    writeFileSync(join(dir, `${hex}.manifest.json`), manifest);
    const list = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [
        { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', size: manifest.length, digest: `sha256:${hex}`, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', size: 10, digest: `sha256:${'0'.repeat(64)}`, platform: { os: 'linux', architecture: 's390x' } },
      ],
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(list));
    const expected = await exportTo(v2s2);
    expect((await exportTo(dir, { platform: 'linux/amd64' })).equals(expected)).toBe(true);
    const f = await exportRootfs(dir, { output: join(scratchDir(), 'o.tar'), platform: 'linux/arm64' }).catch((x: unknown) => x);
    expect(isLayerfoldError(f) && f.message).toMatch(/^skopeo dir: no image for platform linux\/arm64; the directory has: linux\/amd64, linux\/s390x/);
  });
});

describe('a recognised layout that is broken names it', () => {
  const v2s2 = join(ROOT, 'capability', 'v2s2');

  it('skopeo dir', async () => {
    const dir = copyOf(v2s2);
    writeFileSync(join(dir, 'manifest.json'), '{"schemaVersion":2,"config":{}}');
    expect(await failure(dir)).toEqual({ code: 'BAD_LAYOUT', message: 'skopeo dir (manifest.json): a descriptor has no digest (expected sha256:<64 hex> or sha512:<128 hex>)' });
    writeFileSync(join(dir, 'manifest.json'), '{"schemaVersion":1}');
    expect(await failure(dir)).toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/^skopeo dir \(manifest\.json\): schemaVersion 1;/) as unknown });
    writeFileSync(join(dir, 'manifest.json'), 'not json');
    expect(await failure(dir)).toMatchObject({ code: 'BAD_LAYOUT', message: expect.stringMatching(/^skopeo dir \(manifest\.json\): not valid JSON/) as unknown });
    writeFileSync(join(dir, 'version'), 'Directory Transport Version: 2.0\n');
    writeFileSync(join(dir, 'manifest.json'), readFileSync(join(v2s2, 'manifest.json')));
    expect(await failure(`dir:${dir}`)).toMatchObject({ code: 'UNSUPPORTED', message: 'skopeo dir (version): directory transport version 2.0 (only 1.x is known)' });
  });

  it('a blob of a dir: copy that is missing or altered', async () => {
    const dir = copyOf(v2s2);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const config = manifest.config.digest.slice(7);
    writeFileSync(join(dir, config), readFileSync(join(dir, config), 'utf8').replace('amd64', 'arm64'));
    expect(await failure(dir)).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(new RegExp(`^skopeo dir: ${config}: content is sha256:`)) as unknown });
    const layer = manifest.layers[0]!.digest.slice(7);
    const dir2 = copyOf(v2s2);
    execFileSync('rm', [join(dir2, layer)]);
    expect(await failure(dir2)).toEqual({ code: 'NOT_FOUND', message: `skopeo dir: ${layer}: layer 0 blob is referenced but missing` });
  });

  it('docker-archive and oci layout', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'manifest.json'), '[]');
    expect(await failure(dir)).toEqual({ code: 'BAD_LAYOUT', message: 'docker-archive (manifest.json): expected a non-empty list of images' });
    const oci = scratchDir();
    writeFileSync(join(oci, 'index.json'), '{"schemaVersion":2}');
    writeFileSync(join(oci, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    expect(await failure(oci)).toEqual({ code: 'BAD_LAYOUT', message: 'oci layout (index.json): no manifests list' });
    const tar = join(scratchDir(), 'oci.tar');
    execFileSync('tar', ['-cf', tar, '-C', oci, '.']);
    expect(await failure(tar)).toEqual({ code: 'BAD_LAYOUT', message: 'oci-archive (index.json): no manifests list' });
  });

  it('the wrong transport for a dir: copy, or dir: for another layout, is one line naming the right one', async () => {
    expectOneLine(await cli(['export', `docker-archive:${v2s2}`, '-o', '-']), /is a directory; an OCI layout directory is oci:.*, a skopeo copy dir:/);
    expectOneLine(await cli(['export', `oci:${v2s2}`, '-o', '-']), /oci:.*: no index\.json \(a skopeo copy\? use dir:\)/);
    const tar = join(scratchDir(), 'dir.tar');
    execFileSync('tar', ['-cf', tar, '-C', v2s2, '.']);
    expectOneLine(await cli(['export', `docker-archive:${tar}`, '-o', '-']), /manifest\.json is one image manifest, not docker save's list of images \(a skopeo copy\? use dir:\)/);
    const unpacked = scratchDir();
    execFileSync('tar', ['-xf', 'fixtures/conformance/capability/image.tar', '-C', unpacked]);
    expectOneLine(await cli(['export', `dir:${unpacked}`, '-o', '-']), /manifest\.json is docker save's list of images, not one image manifest/);
    expectOneLine(await cli(['export', `dir:fixtures/conformance/capability/image.tar`, '-o', '-']), /is not a directory/);
    const empty = scratchDir();
    mkdirSync(join(empty, 'x'));
    expectOneLine(await cli(['export', `dir:${empty}`, '-o', '-']), /dir:.*: no manifest\.json/);
  });
});
