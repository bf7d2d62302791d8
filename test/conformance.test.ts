/**
 * Real docker pairs: fixtures/conformance (from ../shared/conformance) and fixtures/docker (made by a
 * Docker 26.1 engine, see fixtures/docker/FINDINGS.md). For each, `export --docker-init=<created>` must
 * equal docker's `export.tar` byte for byte, except the mtime (and so the checksum) of directories
 * docker made while unpacking, whose time no archive records. Cases docker refused must be refused.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportRootfs, flattenImage, isLayerfoldError, parseTime, walkTree, Dir } from '../src/index.js';
import { scratchDir } from './support/build.js';
import { gnuLongListing, hasCommand, listWith, readWithNodeTar } from './support/read.js';

const ROOTS = ['fixtures/conformance', 'fixtures/docker'];

interface Pair {
  name: string;
  dir: string;
  images: string[];
  created: number;
  engine: string;
}

function pairs(): Pair[] {
  const out: Pair[] = [];
  for (const root of ROOTS) {
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      if (!existsSync(join(dir, 'export.tar'))) continue;
      const images = readdirSync(dir).filter((f) => /^image.*\.tar$/.test(f)).map((f) => join(dir, f));
      out.push({ name: `${root.split('/')[1]}/${name}`, dir, images, created: parseTime(readFileSync(join(dir, 'created.txt'), 'utf8'), 'created'), engine: readFileSync(join(dir, 'docker-version.txt'), 'utf8').trim() });
    }
  }
  return out;
}

function refusals(): Array<{ name: string; image: string; why: string }> {
  const out = [];
  for (const root of ROOTS) {
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      const errFile = ['load-error.txt', 'create-error.txt'].map((f) => join(dir, f)).find((f) => existsSync(f));
      if (errFile) out.push({ name, image: join(dir, 'image.tar'), why: readFileSync(errFile, 'utf8').trim() });
    }
  }
  return out;
}

async function impliedDirs(image: string, created: number): Promise<Set<string>> {
  const flat = await flattenImage(image, { dockerInit: created });
  try {
    const names = new Set<string>();
    for (const entry of walkTree(flat.tree)) if (entry.node instanceof Dir && entry.node.implied) names.add(entry.name);
    return names;
  } finally {
    flat.close();
  }
}

/** Walk two tars block by block; every difference must be the mtime/checksum of an implied dir. */
function compareBytes(ours: Buffer, docker: Buffer, implied: Set<string>): string[] {
  const problems: string[] = [];
  if (ours.length !== docker.length) problems.push(`length ${ours.length} != ${docker.length}`);
  for (let off = 0; off < Math.min(ours.length, docker.length); off += 512) {
    const a = ours.subarray(off, off + 512);
    const b = docker.subarray(off, off + 512);
    if (a.equals(b)) continue;
    const name = b.toString('latin1', 0, 100).replace(/\0.*$/s, '');
    const diffAt: number[] = [];
    for (let i = 0; i < 512; i++) if (a[i] !== b[i]) diffAt.push(i);
    const onlyTime = diffAt.every((i) => i >= 136 && i < 156);
    if (!(onlyTime && b[156] === 0x35 && implied.has(name))) problems.push(`block at ${off} (${name}) differs at bytes ${diffAt.slice(0, 8).join(',')}`);
  }
  return problems;
}

describe.each(pairs())('docker pair $name', (pair) => {
  const docker26 = !pair.engine.startsWith('20.');

  it.each(pair.images.map((p) => [p.split('/').pop()!, p]))('%s flattens to docker export', async (_label, image) => {
    const out = join(scratchDir(), 'rootfs.tar');
    await exportRootfs(image, { output: out, dockerInit: pair.created });
    const ours = readFileSync(out);
    const docker = readFileSync(join(pair.dir, 'export.tar'));
    if (docker26) {
      expect(compareBytes(ours, docker, await impliedDirs(image, pair.created))).toEqual([]);
    } else {
      // Docker 20.10 writes type bits in the mode field and host user names: compare the rest.
      const strip = (list: Awaited<ReturnType<typeof readWithNodeTar>>) => list.map((x) => ({ ...x, mode: x.mode & 0o7777 }));
      expect(strip(await readWithNodeTar(ours))).toEqual(strip(await readWithNodeTar(docker)));
    }
  });

  it('reads back the same with GNU tar, bsdtar and node-tar', async () => {
    const out = join(scratchDir(), 'rootfs.tar');
    await exportRootfs(pair.images[0]!, { output: out, dockerInit: pair.created });
    const nodeNames = (await readWithNodeTar(out)).map((x) => x.path);
    const docker = join(pair.dir, 'export.tar');
    const gnu = listWith('tar', out);
    expect(gnu).toEqual(listWith('tar', docker));
    expect(gnu.pop()).toBe('exit 0');
    if (hasCommand('bsdtar')) expect(listWith('bsdtar', out)).toEqual(listWith('bsdtar', docker));
    // node-tar reads names as UTF-8, so compare it only where the names are ASCII
    if (gnu.every((n) => /^[\x20-\x7e]*$/.test(n))) expect(nodeNames).toEqual(gnu);
    if (docker26) {
      const ignoreImplied = (lines: string[], implied: Set<string>) => lines.filter((l) => ![...implied].some((d) => l.endsWith(` ${d}`)));
      const implied = await impliedDirs(pair.images[0]!, pair.created);
      expect(ignoreImplied(gnuLongListing(out), implied)).toEqual(ignoreImplied(gnuLongListing(docker), implied));
    }
  });
});

describe('archives docker refuses', () => {
  it.each(refusals().map((r) => [r.name, r]))('%s is refused with one clear error', async (_name, r) => {
    const err = await exportRootfs(r.image, { output: join(scratchDir(), 'out.tar'), dockerInit: 0 }).catch((e: unknown) => e);
    expect(isLayerfoldError(err)).toBe(true);
    expect((err as Error).message).not.toContain('\n');
  });
});
