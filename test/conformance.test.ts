/**
 * Real docker pairs: fixtures/conformance (from ../shared/conformance) and fixtures/docker (made by a
 * Docker 26.1 engine, see fixtures/docker/FINDINGS.md). For each, `export --docker-init=<created>` must
 * equal docker's `export.tar` byte for byte, except the mtime (and so the checksum) of directories
 * docker made while unpacking, whose time no archive records. Cases docker refused must be refused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportRootfs, isLayerfoldError } from '../src/index.js';
import type { LayerfoldError } from '../src/errors.js';
import { compareBytes, dockerPairs, impliedDirs, refusedCases } from './support/pairs.js';
import { scratchDir } from './support/build.js';
import { gnuLongListing, hasCommand, listWith, readWithNodeTar } from './support/read.js';

/**
 * The words of docker's refusal (fixtures/docker/<case>/load-error.txt or create-error.txt) that our
 * message must carry: the errno text or Go error after the last path, without the daemon's paths.
 */
function dockerReason(why: string): string {
  const known = ['cannot mount volume over existing file', 'too many links', 'Cannot mkdir', 'duplicates of file paths not supported', 'unhandled tar header type 83'];
  const hit = known.find((k) => why.includes(k));
  if (hit) return hit;
  const last = why.slice(why.lastIndexOf(': ') + 2);
  return last.replace(/^archive\/tar: /, '');
}

describe.each(dockerPairs())('docker pair $id', (pair) => {
  const docker26 = !pair.engine.startsWith('20.');

  it.each(pair.images.map((p) => [p.split('/').pop()!, p]))('%s flattens to docker export', async (_label, image) => {
    const out = join(scratchDir(), 'rootfs.tar');
    await exportRootfs(image, { output: out, dockerInit: pair.createdSecs });
    const ours = readFileSync(out);
    const docker = readFileSync(join(pair.dir, 'export.tar'));
    if (docker26) {
      expect(compareBytes(ours, docker, await impliedDirs(image, pair.createdSecs))).toEqual([]);
    } else {
      // Docker 20.10 writes type bits in the mode field and host user names: compare the rest.
      const strip = (list: Awaited<ReturnType<typeof readWithNodeTar>>) => list.map((x) => ({ ...x, mode: x.mode & 0o7777 }));
      expect(strip(await readWithNodeTar(ours))).toEqual(strip(await readWithNodeTar(docker)));
    }
  });

  it('reads back the same with GNU tar, bsdtar and node-tar', async () => {
    const out = join(scratchDir(), 'rootfs.tar');
    await exportRootfs(pair.images[0]!, { output: out, dockerInit: pair.createdSecs });
    const nodeNames = (await readWithNodeTar(out)).map((x) => x.path);
    const docker = join(pair.dir, 'export.tar');
    const gnu = listWith('tar', out);
    expect(gnu).toEqual(listWith('tar', docker));
    expect(gnu.pop()).toBe('exit 0');
    if (hasCommand('bsdtar')) expect(listWith('bsdtar', out)).toEqual(listWith('bsdtar', docker));
    // node-tar reads names as UTF-8 (compare it only where the names are ASCII), and it drops the
    // entry after a symlink whose PAX linkpath it cannot take (pax-long-forced): it must read our
    // export as it reads docker's
    if (gnu.every((n) => /^[\x20-\x7e]*$/.test(n))) expect(nodeNames).toEqual((await readWithNodeTar(docker)).map((x) => x.path));
    if (docker26) {
      const ignoreImplied = (lines: string[], implied: Set<string>) => lines.filter((l) => ![...implied].some((d) => l.endsWith(` ${d}`)));
      const implied = await impliedDirs(pair.images[0]!, pair.createdSecs);
      expect(ignoreImplied(gnuLongListing(out), implied)).toEqual(ignoreImplied(gnuLongListing(docker), implied));
    }
  });
});

describe('archives docker refuses', () => {
  it.each(refusedCases().map((r) => [r.name, r]))('%s is refused with one clear error giving docker\'s reason', async (name, r) => {
    const err = await exportRootfs(r.image, { output: join(scratchDir(), 'out.tar'), dockerInit: 0 }).catch((e: unknown) => e);
    expect(isLayerfoldError(err)).toBe(true);
    const { code, message } = err as LayerfoldError;
    expect(message).not.toContain('\n');
    // docker refused at load (a layer: BAD_ENTRY, the old GNU sparse type UNSUPPORTED) or at create (the image: BAD_LAYOUT)
    expect(code).toBe(name === 'sparse-gnu-old' ? 'UNSUPPORTED' : r.why.startsWith('Error response from daemon') ? 'BAD_LAYOUT' : 'BAD_ENTRY');
    const reason = dockerReason(r.why);
    expect(message.toLowerCase()).toContain(reason.toLowerCase());
  });
});
