/**
 * src/read/oci.ts alone: index.json layouts. Docker 25+'s `docker save` writes one image twice — an
 * OCI index.json and its own manifest.json (fixtures/docker/<case>/image-docker26.tar, Docker 26.1):
 * what oci.ts reads from the index (nested descriptors, digests checked) must be the config and the
 * layer blobs docker's manifest.json names. ARCHITECTURE.md, `src/read/oci.ts`.
 */
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLayerfoldError } from '../src/errors.js';
import { readDockerManifest } from '../src/read/docker-manifest.js';
import { asDescriptor, isAttestation, readOciLayout } from '../src/read/oci.js';
import { readJson, TarArchiveSource } from '../src/read/source.js';

const saves = readdirSync('fixtures/docker')
  .sort()
  .map((name) => join('fixtures/docker', name, 'image-docker26.tar'))
  .filter((path) => existsSync(path));

describe("index.json names what docker's own manifest.json names", () => {
  it.each(saves)('%s', async (path) => {
    const fd = openSync(path, 'r');
    try {
      const source = new TarArchiveSource(fd, path);
      const oci = await readOciLayout(source, 'oci-archive', readJson(source, 'index.json'), {});
      const docker = readDockerManifest(source, readJson(source, 'manifest.json'), undefined);
      expect(oci.configDigest).toBe(docker.configDigest);
      expect(oci.layers.map((l) => [l.diffId, l.blobDigest, l.blob.offset, l.blob.size])).toEqual(docker.layers.map((l) => [l.diffId, l.blobDigest, l.blob.offset, l.blob.size]));
    } finally {
      closeSync(fd);
    }
  });
});

describe('descriptors', () => {
  const digest = `sha256:${'a'.repeat(64)}`;

  it('a buildkit attestation manifest is not an image (buildkit attestation-storage: vnd.docker.reference.type, platform unknown/unknown)', () => {
    expect(isAttestation({ digest, size: 1, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } })).toBe(true);
    expect(isAttestation({ digest, size: 1, platform: { os: 'unknown', architecture: 'unknown' } })).toBe(true);
    expect(isAttestation({ digest, size: 1, platform: { os: 'linux', architecture: 'amd64' } })).toBe(false);
  });

  it('takes the digests the image spec registers and refuses others and bad sizes, BAD_LAYOUT with one line (image-spec descriptor.md)', () => {
    expect(asDescriptor({ digest, size: 3 }, 'index.json').size).toBe(3);
    expect(asDescriptor({ digest: `sha512:${'b'.repeat(128)}`, size: 0 }, 'index.json').size).toBe(0);
    const refused = (value: unknown) => {
      try {
        asDescriptor(value, 'index.json');
      } catch (e) {
        return isLayerfoldError(e) ? `${e.code}: ${e.message}` : String(e);
      }
      return 'accepted';
    };
    expect(refused({ digest: `sha1:${'c'.repeat(40)}`, size: 1 })).toBe('BAD_LAYOUT: index.json: a descriptor has digest sha1:' + 'c'.repeat(40) + ' uses the algorithm sha1, which layerfold cannot verify (only sha256 and sha512, those the OCI image spec registers)');
    expect(refused({ digest, size: -1 })).toBe(`BAD_LAYOUT: index.json: descriptor ${digest} has no valid size`);
    expect(refused({ digest: `sha256:${'A'.repeat(64)}`, size: 1 })).toMatch(/^BAD_LAYOUT: index\.json: a descriptor has digest .* is not a valid digest/);
  });
});
