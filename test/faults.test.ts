/**
 * Limits and faults: --max-entries and --max-size (a layer that inflates to 2 GiB of zeros, with
 * memory measured in a child process), a full disk (a 1 MiB tmpfs, when mount works), an unwritable
 * target, and two flattens at once. Every failure must be one LayerfoldError line, exit 2 from the
 * CLI, and leave no partial file; nothing may leak (open files) after a FlattenedImage is closed.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { zstdBackend, zstdNapiAvailable, zstdSync, type ZstdBackend } from '../src/io/compression.js';
import { exportRootfs, isLayerfoldError } from '../src/index.js';
import { flattenImage } from '../src/flatten.js';
import { walkTree } from '../src/tree/walk.js';
import { e, imageArchive, layerTar, scratchDir, sha256, writeTemp } from './support/build.js';
import { isOneLineRefusal, listTree, runCli } from './support/hostile.js';

const zstdCompress = zstdSync.compress;

async function refusal(work: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await work;
  } catch (err) {
    if (isLayerfoldError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

const manyEntries = (n: number) => layerTar(Array.from({ length: n }, (_, i) => e(`f${i}`, { content: '' })));

describe('--max-entries', () => {
  it('refuses past the limit, accepts at it', async () => {
    const image = writeTemp(await imageArchive([await manyEntries(300), await manyEntries(300)]));
    const out = scratchDir();
    const r = await refusal(exportRootfs(image, { output: join(out, 'r.tar'), maxEntries: 599 }));
    expect(r.code).toBe('LIMIT');
    expect(r.message).toMatch(/^layer 1 \(.*\): more entries than --max-entries allows \(299 left for this layer\)$/);
    expect(readdirSync(out)).toEqual([]);
    const ok = await exportRootfs(image, { output: join(out, 'r.tar'), maxEntries: 600 });
    expect(ok.entries).toBe(300); // the same 300 names twice
  });

  it('from the CLI: exit 2, one line, nothing left', async () => {
    const image = writeTemp(await imageArchive([await manyEntries(50)]));
    const out = scratchDir();
    const run = await runCli(['export', image, '-o', join(out, 'r.tar'), '--max-entries', '10']);
    expect(run.code).toBe(2);
    expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
    expect(run.stderr).toMatch(/--max-entries/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('stops reading a layer at the limit (a layer of 200,000 headers, limit 1000)', async () => {
    // 200,000 headers of empty files f0, f1, …: one header from tar-stream, renamed by hand (name field
    // rewritten, checksum recomputed as the sum of the bytes with the checksum field as spaces).
    const template = (await layerTar([e('f', { content: '' })])).subarray(0, 512);
    const header = (i: number) => {
      const h = Buffer.from(template);
      h.fill(0, 0, 100);
      h.write(`f${i}`, 0, 'latin1');
      h.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      return h;
    };
    const layer = Buffer.concat([...Array.from({ length: 200_000 }, (_, i) => header(i)), Buffer.alloc(1024)]);
    const image = writeTemp(await imageArchive([layer], { layout: 'oci', compression: 'gzip' }));
    const r = await refusal(flattenImage(image, { maxEntries: 1000 }));
    expect(r.code).toBe('LIMIT');
  });
});

describe('--max-size', () => {
  it('refuses plain layers that add up past the limit', async () => {
    const layer = await layerTar([e('big', { content: 'x'.repeat(100_000) })]);
    const image = writeTemp(await imageArchive([layer, layer]));
    const r = await refusal(flattenImage(image, { maxSize: 150_000 }));
    expect(r.code).toBe('LIMIT');
    expect(r.message).toMatch(/--max-size/);
  });

  it('the CLI rejects a non-positive limit', async () => {
    const run = await runCli(['export', 'x.tar', '--max-size', '0']);
    expect(run.code).toBe(2);
    expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
  });

  /**
   * A layer that inflates to 2 GiB of zeros: a tar header for one 2 GiB file, then 32 gzip (or zstd)
   * members of 64 MiB of zeros each — concatenated members are one valid stream — so the bomb is made
   * from one 64 MiB buffer in a few KB. Run in a child so its peak RSS is its own.
   */
  // zstd through node:zlib where Node has it, and through the zstd-napi addon wherever it is installed
  const bombs: Array<['gzip' | 'zstd', ZstdBackend | undefined]> = [['gzip', undefined], ['zstd', undefined]];
  if (zstdBackend() === 'node:zlib' && zstdNapiAvailable()) bombs.push(['zstd', 'zstd-napi']);
  for (const [kind, backend] of bombs) {
    it(`a ${kind} layer${backend ? ` (${backend})` : ''} inflating to 2 GiB of zeros is refused under --max-size 100MB, in bounded memory`, async () => {
      const size = 2 ** 31;
      const head = await zerosHeader(size);
      const z = kind === 'gzip' ? gzipSync : (b: Buffer) => zstdCompress(b);
      const zeros = z(Buffer.alloc(64 << 20));
      const bomb = Buffer.concat([z(head), ...Array.from({ length: size / (64 << 20) }, () => zeros), z(Buffer.alloc(1024))]);
      expect(bomb.length).toBeLessThan(8 << 20);
      const dir = scratchDir();
      const tmp = join(dir, 'tmp');
      mkdirSync(tmp);
      const image = writeTemp(await bombImage(bomb, kind));
      const script = `
        import { exportRootfs } from ${JSON.stringify(join(process.cwd(), 'dist/index.js'))};
        import { useZstdBackend } from ${JSON.stringify(join(process.cwd(), 'dist/io/compression.js'))};
        useZstdBackend(${JSON.stringify(backend)});
        let code = 'none';
        try { await exportRootfs(${JSON.stringify(image)}, { output: ${JSON.stringify(join(dir, 'r.tar'))}, tmpDir: ${JSON.stringify(tmp)}, maxSize: 100_000_000 }); }
        catch (e) { code = e.code; if (process.env.BOMB_DEBUG) console.error(e); }
        console.log(JSON.stringify({ code, maxRssKiB: process.resourceUsage().maxRSS }));`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      expect(child.status, child.stderr).toBe(0);
      const result = JSON.parse(child.stdout.trim()) as { code: string; maxRssKiB: number };
      expect(result.code).toBe('LIMIT');
      expect(result.maxRssKiB).toBeLessThan(400 * 1024);
      expect(readdirSync(tmp)).toEqual([]);
      expect(listTree(dir).filter((n) => n !== 'image.tar' && n !== 'tmp/')).toEqual([]);
    });
  }
});

describe('diff --max-size', () => {
  it('a gzip bomb given to diff as a rootfs side is refused in one line, the spool stopped at the limit', async () => {
    // 256 MiB of zeros under one tar header, gzip: about 250 KB
    const size = 256 << 20;
    const head = await zerosHeader(size);
    const bomb = writeTemp(Buffer.concat([gzipSync(head), gzipSync(Buffer.alloc(size))]), 'bomb.tar.gz');
    const tmp = join(scratchDir(), 'tmp');
    mkdirSync(tmp);
    const run = await runCli(['diff', bomb, 'fixtures/conformance/natural-docker26/export.tar', '--max-size', '10000000', '--tmpdir', tmp]);
    expect(run.code).toBe(2);
    expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
    expect(run.stderr).toMatch(/bomb\.tar\.gz: the input unpacks to more than 10000000 bytes \(--max-size\)/);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

/** One tar header for a file `zeros` of `size` bytes, written by tar-stream then given the size by hand. */
async function zerosHeader(size: number): Promise<Buffer> {
  const head = (await layerTar([e('zeros', { content: 'x' })])).subarray(0, 512);
  head.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  head.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of head) sum += b;
  head.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return head;
}

/** An OCI archive whose one layer blob is `stored`: its descriptor matches; its diff_id is a stand-in, since the limit must stop the layer before the digest is known. */
async function bombImage(stored: Buffer, kind: 'gzip' | 'zstd'): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
      layers: [{ mediaType: `application/vnd.oci.image.layer.v1.tar+${kind}`, digest: `sha256:${sha256(stored)}`, size: stored.length }],
    }),
  );
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha256(manifest)}`, size: manifest.length }] }));
  return layerTar([
    ...[config, manifest, stored].map((b) => e(`blobs/sha256/${sha256(b)}`, { content: b })),
    e('index.json', { content: index }),
    e('oci-layout', { content: '{"imageLayoutVersion":"1.0.0"}' }),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Full disks and unwritable targets

const mounts: string[] = [];
function mountTmpfs(options: string): string | undefined {
  const dir = scratchDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  mounts.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of mounts) {
    try {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      rmdirSync(dir);
    } catch {
      // best effort
    }
  }
});

const bigImage = async (compression: 'none' | 'gzip' = 'none') => {
  const layer = await layerTar([e('big', { content: Buffer.alloc(3 << 20, 0x61) })]);
  return writeTemp(await imageArchive([layer], compression === 'none' ? {} : { layout: 'oci', compression }));
};

describe('faults', () => {
  const canMount = mountTmpfs('size=64k') !== undefined;

  it.skipIf(!canMount)('a full disk for the output (1 MiB tmpfs): one line, exit 2, no partial file', async () => {
    const full = mountTmpfs('size=1m')!;
    const run = await runCli(['export', await bigImage(), '-o', join(full, 'rootfs.tar')]);
    expect(run.code).toBe(2);
    expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
    expect(run.stderr).toMatch(/no space left on device/);
    expect(readdirSync(full)).toEqual([]);
  });

  it.skipIf(!canMount)('a full disk for --tmpdir while a layer is spooled: one line, exit 2, nothing left', async () => {
    const full = mountTmpfs('size=1m')!;
    const out = scratchDir();
    const run = await runCli(['export', await bigImage('gzip'), '-o', join(out, 'rootfs.tar'), '--tmpdir', full]);
    expect(run.code).toBe(2);
    expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
    expect(run.stderr).toMatch(/ENOSPC|no space left/);
    expect(readdirSync(full)).toEqual([]);
    expect(readdirSync(out)).toEqual([]);
  });

  it.skipIf(!canMount)('a read-only target: one line, exit 2', async () => {
    const ro = mountTmpfs('ro,size=64k')!;
    const run = await runCli(['export', await bigImage(), '-o', join(ro, 'rootfs.tar')]);
    expect(run.code).toBe(2);
    expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
    expect(readdirSync(ro)).toEqual([]);
  });

  it('a target in a missing directory, or that is a directory: one line, exit 2, nothing left', async () => {
    const image = await bigImage();
    const dir = scratchDir();
    const missing = await runCli(['export', image, '-o', join(dir, 'no/such/dir/rootfs.tar')]);
    expect(missing.code).toBe(2);
    expect(isOneLineRefusal(missing.stderr), missing.stderr).toBe(true);
    mkdirSync(join(dir, 'isdir'));
    const isDir = await runCli(['export', image, '-o', join(dir, 'isdir')]);
    expect(isDir.code).toBe(2);
    expect(isOneLineRefusal(isDir.stderr), isDir.stderr).toBe(true);
    expect(listTree(dir)).toEqual(['isdir/']);
  });

  // Random bytes: compressed output that does not shrink, so the compressor has to write at once.
  const noisyImage = async () => {
    const noise = Buffer.alloc(24 << 20); // more than a compressor holds: a stuck one never calls back
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    return writeTemp(await imageArchive([await layerTar([e('noise', { content: noise })])]));
  };

  for (const kind of ['gzip', 'zstd'] as const) {
    it(`compressed (${kind}) output to a full device: the device's error, one line, exit 2, no spool left`, async () => {
      const tmp = scratchDir();
      const run = await runCli(['export', await noisyImage(), '-o', '/dev/full', '--compress', kind, '--tmpdir', tmp]);
      expect(run.code).toBe(2);
      expect(isOneLineRefusal(run.stderr), run.stderr).toBe(true);
      expect(run.stderr).toMatch(/\/dev\/full: cannot write: no space left on device/);
      expect(readdirSync(tmp)).toEqual([]);
    });

    it(`compressed (${kind}) output to a stdout that fails: the failure, not a run that never ends`, async () => {
      const { Writable } = await import('node:stream');
      const broken = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' })) });
      const r = await refusal(exportRootfs(await noisyImage(), { output: '-', stdout: broken, compression: kind }));
      expect(r.code).toBe('IO');
      expect(r.message).toMatch(/^stdout: cannot write: no space left on device$/);
    });
  }

  it('a closed stdout (EPIPE-like): a clean error, nothing left', async () => {
    const { Writable } = await import('node:stream');
    const broken = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
    const r = await refusal(exportRootfs(await bigImage(), { output: '-', stdout: broken }));
    expect(r.code).toBe('IO');
    expect(r.message).not.toContain('\n');
  });
});

// ---------------------------------------------------------------------------------------------
// Concurrency

const fdCount = () => readdirSync('/proc/self/fd').length;

describe('concurrent library calls', () => {
  it('two flattens of different images at once give what each gives alone, sharing a tmpdir', async () => {
    const a = writeTemp(await imageArchive([await layerTar([e('etc/'), e('etc/a'), e('x -> etc/a')]), await layerTar([e('etc/.wh.a'), e('b')])], { layout: 'oci', compression: 'gzip' }));
    const b = writeTemp(await imageArchive([await layerTar([e('usr/'), e('usr/b', { content: 'y'.repeat(100_000) })]), await layerTar([e('usr/c')])], { layout: 'oci', compression: 'zstd' }));
    const tmp = scratchDir();
    const outs = scratchDir();
    const alone = [];
    for (const [i, img] of [a, b].entries()) {
      await exportRootfs(img, { output: join(outs, `alone-${i}.tar`), tmpDir: tmp });
      alone.push(readFileSync(join(outs, `alone-${i}.tar`)));
    }
    await Promise.all([a, b, a, b].map((img, i) => exportRootfs(img, { output: join(outs, `together-${i}.tar`), tmpDir: tmp })));
    for (let i = 0; i < 4; i++) expect(readFileSync(join(outs, `together-${i}.tar`)).equals(alone[i % 2]!)).toBe(true);
    const names = await Promise.all([a, b].map(async (img) => {
      const flat = await flattenImage(img, { tmpDir: tmp });
      try {
        return [...walkTree(flat.tree)].map((w) => w.name);
      } finally {
        flat.close();
      }
    }));
    expect(names).toEqual([['b', 'etc/', 'x'], ['usr/', 'usr/b', 'usr/c']]);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('an archive refused while it is read leaves no file descriptor open', async () => {
    const notTar = writeTemp(Buffer.alloc(4096, 0x41)); // no valid header: refused by the archive reader
    await refusal(flattenImage(notTar)); // settle what the first call loads
    const before = fdCount();
    for (let i = 0; i < 5; i++) expect((await refusal(flattenImage(notTar))).code).toBe('BAD_ARCHIVE');
    expect(fdCount()).toBe(before);
  });

  it('one call failing does not disturb another running at the same time', async () => {
    const good = writeTemp(await imageArchive([await layerTar([e('ok', { content: 'z'.repeat(200_000) })])], { layout: 'oci', compression: 'gzip' }));
    const bad = 'fixtures/hostile/gzip-corrupt.tar';
    const tmp = scratchDir();
    const out = scratchDir();
    const [g, b] = await Promise.allSettled([exportRootfs(good, { output: join(out, 'good.tar'), tmpDir: tmp }), exportRootfs(bad, { output: join(out, 'bad.tar'), tmpDir: tmp })]);
    expect(g.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect(readdirSync(out)).toEqual(['good.tar']);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a closed FlattenedImage holds no open file (spooled layers included)', async () => {
    const image = writeTemp(await imageArchive([await layerTar([e('a')]), await layerTar([e('b')])], { layout: 'oci', compression: 'gzip' }));
    // Earlier tests' child processes close their pipes asynchronously: let the count settle first.
    const settle = async (target?: number) => {
      for (let i = 0; i < 40; i++) {
        if (target !== undefined ? fdCount() <= target : i > 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return fdCount();
    };
    const before = await settle();
    for (let i = 0; i < 5; i++) (await flattenImage(image)).close();
    await refusal(flattenImage('fixtures/hostile/gzip-corrupt.tar'));
    expect(await settle(before)).toBe(before);
  });
});
