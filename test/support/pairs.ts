/**
 * The real docker pairs every suite checks against: fixtures/conformance (from ../shared/conformance)
 * and fixtures/docker (made by scripts/make-fixtures.js on a Docker 26.1 engine).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { flattenImage } from '../../src/flatten.js';
import { parseTime } from '../../src/time.js';
import { Dir } from '../../src/tree/node.js';
import { walkTree } from '../../src/tree/walk.js';

const ROOTS = ['fixtures/conformance', 'fixtures/docker'];

export interface DockerPair {
  /** `conformance/<case>` or `docker/<case>`: unique across both roots. */
  id: string;
  /** The case's folder name. */
  name: string;
  dir: string;
  /** `image.tar`, the archive docker loaded. */
  image: string;
  /** Every saved layout of the image (`image*.tar`). */
  images: string[];
  exportTar: string;
  /** `created.txt` as docker printed it. */
  created: string;
  createdSecs: number;
  engine: string;
}

/** Every case folder that has a `docker export` beside its image. */
export function dockerPairs(): DockerPair[] {
  const out: DockerPair[] = [];
  for (const root of ROOTS) {
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      if (!existsSync(join(dir, 'export.tar'))) continue;
      const created = readFileSync(join(dir, 'created.txt'), 'utf8').trim();
      out.push({
        id: `${root.split('/')[1]}/${name}`,
        name,
        dir,
        image: join(dir, 'image.tar'),
        images: readdirSync(dir).filter((f) => /^image.*\.tar$/.test(f)).map((f) => join(dir, f)),
        exportTar: join(dir, 'export.tar'),
        created,
        createdSecs: parseTime(created, 'created'),
        engine: readFileSync(join(dir, 'docker-version.txt'), 'utf8').trim(),
      });
    }
  }
  return out;
}

/** Case folders where docker refused the image (`load-error.txt` / `create-error.txt`). */
export function refusedCases(): Array<{ name: string; image: string; why: string }> {
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

/** The export names (directories end in '/') of the directories docker made while unpacking. */
export async function impliedDirs(image: string, created: number): Promise<Set<string>> {
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
export function compareBytes(ours: Buffer, docker: Buffer, implied: Set<string>): string[] {
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
