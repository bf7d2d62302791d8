/**
 * skopeo's transport names for IMAGE arguments: parsing (skopeo's first-colon split, docker:// needs
 * the slashes, unknown prefixes are plain paths), and the file transports on real docker/skopeo
 * fixtures — each reads what it names (oci-archive: reads the OCI index of a Docker 25+ save even
 * though manifest.json is there too), refuses the other kind in one line, and picks the image it names.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { exportRootfs } from '../src/index.js';
import { flattenImage } from '../src/flatten.js';
import { parseImageReference } from '../src/read/transports.js';
import { scratchDir } from './support/build.js';

const D26 = 'fixtures/conformance/natural-docker26/image.tar';
const D20 = 'fixtures/conformance/natural-docker20/image.tar';
const D20_OCI = 'fixtures/conformance/natural-docker20/image-oci-gzip.tar';

async function cli(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  let stderr = '';
  const stdout = new PassThrough().on('data', (c: Buffer) => out.push(c));
  const err = new PassThrough().on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await run(args, { stdin: new PassThrough(), stdout, stderr: err, env: process.env });
  return { code, stdout: Buffer.concat(out), stderr };
}

async function exportOf(image: string): Promise<Buffer> {
  const out = join(scratchDir(), 'rootfs.tar');
  await exportRootfs(image, { output: out });
  return readFileSync(out);
}

async function layoutOf(image: string): Promise<string> {
  const flat = await flattenImage(image);
  try {
    return flat.image.layout;
  } finally {
    flat.close();
  }
}

function expectOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

describe('parseImageReference', () => {
  it.each([
    ['image.tar', { transport: 'path', path: 'image.tar' }],
    ['-', { transport: 'path', path: '-' }],
    ['./oci:x', { transport: 'path', path: './oci:x' }],
    ['C:/images/x.tar', { transport: 'path', path: 'C:/images/x.tar' }],
    ['docker-archive:a.tar', { transport: 'docker-archive', path: 'a.tar' }],
    ['docker-archive:a.tar:app:1', { transport: 'docker-archive', path: 'a.tar', image: 'app:1' }],
    ['oci-archive:/x/a.tar:latest', { transport: 'oci-archive', path: '/x/a.tar', image: 'latest' }],
    ['oci:dir', { transport: 'oci', dir: 'dir' }],
    ['oci:dir:v1', { transport: 'oci', dir: 'dir', image: 'v1' }],
    ['dir:copies/app:1', { transport: 'dir', dir: 'copies/app:1' }],
    ['docker-daemon:alpine:3.20', { transport: 'docker-daemon', name: 'alpine:3.20' }],
    ['docker://alpine', { transport: 'docker', reference: { registry: 'docker.io', repository: 'library/alpine', tag: 'latest', canonical: 'docker.io/library/alpine:latest' } }],
  ])('%s', (input, expected) => {
    expect(parseImageReference(input)).toEqual(expected);
  });

  it.each([
    ['docker:alpine', /docker:\/\/REGISTRY\/REPO/],
    ['oci:', /needs a path/],
    ['dir:', /needs a path/],
    ['docker-archive:', /needs a path/],
    ['docker-daemon:', /needs an image name/],
    ['docker://Bad', /not a valid repository name/],
  ])('%s is a usage error', (input, pattern) => {
    expect(() => parseImageReference(input)).toThrow(pattern);
  });
});

describe('file transports on real fixtures', () => {
  it('docker-archive: reads manifest.json; oci-archive: reads index.json of the same Docker 26 save', async () => {
    expect(await layoutOf(D26)).toBe('docker-oci');
    expect(await layoutOf(`docker-archive:${D26}`)).toBe('docker-oci');
    expect(await layoutOf(`oci-archive:${D26}`)).toBe('oci-archive');
    const plain = await exportOf(D26);
    expect((await exportOf(`docker-archive:${D26}`)).equals(plain)).toBe(true);
    expect((await exportOf(`oci-archive:${D26}`)).equals(plain)).toBe(true);
  });

  it('oci:DIR and oci:DIR:REF read a layout directory (skopeo oci-archive, unpacked by GNU tar)', async () => {
    const dir = scratchDir();
    execFileSync('tar', ['-xf', D20_OCI, '-C', dir]);
    const expected = await exportOf(D20_OCI);
    expect((await exportOf(`oci:${dir}`)).equals(expected)).toBe(true);
    expect((await exportOf(`oci:${dir}:latest`)).equals(expected)).toBe(true);
    expect((await exportOf(D20)).equals(expected)).toBe(true);
  });

  it('the image named after the path is the one picked', async () => {
    const r = await cli(['export', `docker-archive:${D26}:vis-natural:latest`, '-o', '-']);
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(await exportOf(D26))).toBe(true);
    expectOneLine(await cli(['export', `docker-archive:${D26}:other:1`, '-o', '-']), /--image other:1: no such image in the archive; it holds: vis-natural:latest/);
    expectOneLine(await cli(['export', `oci-archive:${D20_OCI}:v9`, '-o', '-']), /no such image/);
    expectOneLine(await cli(['export', `docker-archive:${D26}:a:1`, '--image', 'b:2', '-o', '-']), /names image a:1, but --image says b:2/);
  });

  it('the wrong kind of source is one line naming the right transport', async () => {
    expectOneLine(await cli(['export', `oci-archive:${D20}`, '-o', '-']), /oci-archive:.*: no index\.json \(a docker save archive\? use docker-archive:\)/);
    expectOneLine(await cli(['export', `docker-archive:${D20_OCI}`, '-o', '-']), /docker-archive:.*: no manifest\.json \(an OCI layout\? use oci-archive:\)/);
    expectOneLine(await cli(['export', `oci:${D20_OCI}`, '-o', '-']), /is not a directory; an OCI archive is oci-archive:/);
    expectOneLine(await cli(['export', `docker-archive:${scratchDir()}`, '-o', '-']), /is a directory; an OCI layout directory is oci:/);
    expectOneLine(await cli(['export', 'docker-archive:/nonexistent/x.tar', '-o', '-']), /\/nonexistent\/x\.tar: no such file or directory/);
    expectOneLine(await cli(['export', 'docker:alpine', '-o', '-']), /docker:\/\/REGISTRY/);
  });
});
