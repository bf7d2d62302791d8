/** `layerfold export` through the CLI: flags, stdout rules, errors and exit codes. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { zstdSync } from '../src/io/compression.js';
import { describe, expect, it } from 'vitest';
import { exportTotals } from '../src/export.js';
import { flattenImage } from '../src/flatten.js';
import { parseTime } from '../src/time.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { readWithNodeTar } from './support/read.js';
import { cli } from './support/cli.js';

const zstdDecompress = zstdSync.decompress;

const pair = 'fixtures/conformance/natural-docker26';
const created = readFileSync(join(pair, 'created.txt'), 'utf8').trim();
const dockerExport = readFileSync(join(pair, 'export.tar'));

describe('exportTotals', () => {
  it('predicts the entries and bytes of the export before it is written (docker\'s export.tar as the check)', async () => {
    const flat = await flattenImage(join(pair, 'image.tar'), { dockerInit: parseTime(created, 'created') });
    try {
      const totals = exportTotals(flat.tree);
      expect(totals.bytes).toBe(dockerExport.length);
      expect(totals.entries).toBe((await readWithNodeTar(dockerExport)).length);
    } finally {
      flat.close();
    }
  });
});

describe('layerfold export', () => {
  it('writes a file that is byte-identical to docker export with --docker-init=<created>', async () => {
    const out = join(scratchDir(), 'rootfs.tar');
    const r = await cli(['export', join(pair, 'image.tar'), '-o', out, `--docker-init=${created}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(out).equals(dockerExport)).toBe(true);
  });

  it('accepts --docker-init as epoch seconds', async () => {
    const secs = Math.floor(Date.parse(created.replace(/\.\d+Z$/, 'Z')) / 1000);
    const r = await cli(['export', join(pair, 'image.tar'), '-o', '-', `--docker-init=${secs}`]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(dockerExport)).toBe(true);
  });

  it('writes to stdout when stdout is not a terminal, and refuses a terminal without -o', async () => {
    const piped = await cli(['export', join(pair, 'image.tar'), `--docker-init=${created}`]);
    expect(piped.stdout.equals(dockerExport)).toBe(true);
    const tty = await cli(['export', join(pair, 'image.tar')], { stdoutIsTTY: true });
    expect(tty.code).toBe(2);
    expect(tty.stderr).toMatch(/terminal/);
  });

  it('compresses by output name (.tar.gz, .tar.zst) and with --compress on stdout', async () => {
    const dir = scratchDir();
    expect((await cli(['export', join(pair, 'image.tar'), '-o', join(dir, 'r.tar.gz'), `--docker-init=${created}`])).code).toBe(0);
    expect(gunzipSync(readFileSync(join(dir, 'r.tar.gz'))).equals(dockerExport)).toBe(true);
    expect((await cli(['export', join(pair, 'image.tar'), '-o', join(dir, 'r.tar.zst'), `--docker-init=${created}`])).code).toBe(0);
    expect(Buffer.from(zstdDecompress(readFileSync(join(dir, 'r.tar.zst')))).equals(dockerExport)).toBe(true);
    const z = await cli(['export', join(pair, 'image.tar'), '--compress', 'gzip', `--docker-init=${created}`]);
    expect(gunzipSync(z.stdout).equals(dockerExport)).toBe(true);
  });

  it('stdin that is a regular file is read where it lies (not spooled); from where its offset stands, spooled', async () => {
    const image = join(pair, 'image.tar');
    const bin = join(process.cwd(), 'bin/layerfold.js');
    const run = (fd: number, args: string[]) => spawnSync('node', [bin, 'export', '-', `--docker-init=${created}`, ...args], { stdio: [fd, 'pipe', 'pipe'], maxBuffer: 1 << 26 });
    const members = await readWithNodeTar(readFileSync(image));
    const listed = new Set<string>((JSON.parse(execFileSync('tar', ['-xOf', image, 'manifest.json'], { encoding: 'utf8' })) as Array<{ Layers: string[] }>)[0]!.Layers);
    const layers = members.filter((m) => listed.has(m.path)).reduce((n, m) => n + m.size, 0);
    expect(layers).toBeGreaterThan(0);
    // --max-size counts a spooled copy of the whole archive, but only the layers of one read in place
    const fd = openSync(image, 'r');
    try {
      const r = run(fd, ['--max-size', String(layers)]);
      expect(r.stderr.toString()).toBe('');
      expect(r.stdout.equals(dockerExport)).toBe(true);
    } finally {
      closeSync(fd);
    }
    // 512 bytes of something else, then the archive: a descriptor past them reads the archive (spooled)
    const prefixed = writeTemp(Buffer.concat([Buffer.alloc(512, 7), readFileSync(image)]));
    const at = openSync(prefixed, 'r');
    try {
      readSync(at, Buffer.alloc(512), 0, 512, null);
      const r = run(at, []);
      expect(r.stderr.toString()).toBe('');
      expect(r.stdout.equals(dockerExport)).toBe(true);
    } finally {
      closeSync(at);
    }
  });

  it('to a stream that keeps the chunks it is given (a PassThrough), bytes written stay as written', async () => {
    // 12 MiB of distinct bytes: more than two stage buffers of any size tried (1 and 4 MiB), so the
    // writer reuses a buffer the stream may still hold; to a file, the same tar
    const content = (n: number) => Buffer.alloc(6 * 1024 * 1024, n);
    const img = writeTemp(await imageArchive([await layerTar([e('a', { content: content(1) }), e('b', { content: content(2) })])]));
    const out = join(scratchDir(), 'rootfs.tar');
    expect((await cli(['export', img, '-o', out])).code).toBe(0);
    const r = await cli(['export', img]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(readFileSync(out))).toBe(true);
  });

  it('reads the archive from stdin with -', async () => {
    const r = await cli(['export', '-', `--docker-init=${created}`], { stdin: readFileSync(join(pair, 'image.tar')) });
    expect(r.code).toBe(0);
    expect(r.stdout.equals(dockerExport)).toBe(true);
  });

  it('bad input: one line on stderr, exit 2, no output file and no temporary left behind', async () => {
    const bad = writeTemp(await imageArchive([await layerTar([e('a'), e('a')])]));
    const dir = scratchDir();
    const r = await cli(['export', bad, '-o', join(dir, 'rootfs.tar')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^layerfold: layer 0 \(.*layer\.tar\) entry "a": the layer holds this path twice/);
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('--debug adds the stack trace', async () => {
    const r = await cli(['export', join(scratchDir(), 'missing.tar'), '-o', '-', '--debug']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').length).toBeGreaterThan(2);
  });

  it('writes into an existing fifo or device in place, never renaming a file over it (/dev/null regression)', async () => {
    const fifo = join(scratchDir(), 'pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise((r) => reader.on('close', r));
    const r = await cli(['export', join(pair, 'image.tar'), '-o', fifo, `--docker-init=${created}`]);
    await closed;
    expect(r.code).toBe(0);
    expect(Buffer.concat(chunks).equals(dockerExport)).toBe(true);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('an unwritable output is a clear error', async () => {
    const r = await cli(['export', join(pair, 'image.tar'), '-o', join(scratchDir(), 'no/such/dir/rootfs.tar')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot write/);
  });

  it('--help describes every flag; --version prints the version; an unknown flag is a usage error (exit 2)', async () => {
    const help = await cli(['export', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--output', '--docker-init', '--image', '--platform', '--verify', '--implied-mtime', '--tmpdir', '--max-size', '--max-entries', '--compress']) {
      expect(help.stdout.toString()).toContain(flag);
    }
    const version = await cli(['--version']);
    expect(version.stdout.toString().trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
    const bad = await cli(['export', join(pair, 'image.tar'), '--no-such-flag']);
    expect(bad.code).toBe(2);
    expect(existsSync('--no-such-flag')).toBe(false);
  });
});
