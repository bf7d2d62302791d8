/**
 * SIGINT and SIGTERM mid-run, on the built CLI (`node bin/layerfold.js`, so `npm test` builds first):
 * exit 130 / 143, one line on stderr, and nothing left in the output directory or in --tmpdir —
 * neither the `.NAME.layerfold-PID.tmp` output nor a spooled layer. The signal is sent once the run
 * is seen at work: a spooled layer growing in --tmpdir, or the temporary output growing beside -o.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { listTree } from './support/hostile.js';

const BIN = 'bin/layerfold.js';
const built = existsSync('dist/cli/main.js');

/** A layer holding one file of `size` zeros. */
const zerosLayer = (size: number): Promise<Buffer> => layerTar([e('zeros', { content: Buffer.alloc(size) })]);

function bytesUnder(dir: string): number {
  let total = 0;
  for (const name of listTree(dir)) if (!name.endsWith('/')) total += statSync(join(dir, name)).size;
  return total;
}

type Argv = (image: string, out: string, tmp: string) => string[];
const exportArgv: Argv = (image, out, tmp) => ['export', image, '-o', join(out, 'rootfs.tar'), '--tmpdir', tmp];

async function interrupt(image: string, signal: 'SIGINT' | 'SIGTERM', busy: (out: string, tmp: string) => boolean, argv: Argv = exportArgv) {
  const root = scratchDir();
  const out = join(root, 'out');
  const tmp = join(root, 'tmp');
  mkdirSync(out);
  mkdirSync(tmp);
  const child = spawn(process.execPath, [BIN, ...argv(image, out, tmp)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let sent = false;
  const started = Date.now();
  while (!sent && Date.now() - started < 30_000 && child.exitCode === null) {
    if (busy(out, tmp)) {
      child.kill(signal);
      sent = true;
    } else await new Promise((r) => setTimeout(r, 5));
  }
  const code = await exited;
  return { code, stderr, sent, out, tmp };
}

describe.skipIf(!built)('signals (built CLI)', () => {
  // 300 MB of zeros, built once: long enough to be caught mid-way, while a layer inflates or the output is written.
  let images: Promise<{ gzip: string; plain: string }> | undefined;
  const bigImages = () =>
    (images ??= zerosLayer(300 << 20).then(async (layer) => ({
      gzip: writeTemp(await imageArchive([layer], { layout: 'oci', compression: 'gzip' }), 'big-gzip.tar'),
      plain: writeTemp(await imageArchive([layer]), 'big-plain.tar'),
    })));

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} while a layer is spooled: exit ${code}, one line, --tmpdir and the output dir empty`, async () => {
      const image = (await bigImages()).gzip;
      const run = await interrupt(image, signal, (_out, tmp) => bytesUnder(tmp) > 20 << 20);
      expect(run.sent, 'the run ended before it could be interrupted').toBe(true);
      expect(run.code).toBe(code);
      expect(run.stderr).toMatch(new RegExp(`^layerfold: interrupted by ${signal}; partial output removed\\n$`));
      expect(listTree(run.tmp)).toEqual([]);
      expect(listTree(run.out)).toEqual([]);
    });
  }

  it('SIGTERM while the output is written: exit 143, no .rootfs.tar.layerfold-*.tmp left', async () => {
    // An uncompressed layer is read in place: the time goes into writing the output.
    const image = (await bigImages()).plain;
    const run = await interrupt(image, 'SIGTERM', (out) => bytesUnder(out) > 20 << 20);
    expect(run.sent, 'the run ended before it could be interrupted').toBe(true);
    expect(run.code).toBe(143);
    expect(run.stderr).toMatch(/^layerfold: interrupted by SIGTERM; partial output removed\n$/);
    expect(listTree(run.out)).toEqual([]);
    expect(listTree(run.tmp)).toEqual([]);
  });

  for (const [what, target] of [['an archive', 'image.tar'], ['oci:DIR', 'oci:DIR']] as const) {
    it(`squash: SIGINT while ${what} is written leaves nothing behind`, async () => {
      const image = (await bigImages()).plain;
      const argv: Argv = (img, out, tmp) => ['squash', img, '-o', target.startsWith('oci:') ? `oci:${join(out, 'layout')}` : join(out, target), '--tmpdir', tmp];
      const run = await interrupt(image, 'SIGINT', (out) => bytesUnder(out) > 20 << 20, argv);
      expect(run.sent, 'the run ended before it could be interrupted').toBe(true);
      expect(run.code).toBe(130);
      expect(run.stderr).toMatch(/^layerfold: interrupted by SIGINT; partial output removed\n$/);
      expect(listTree(run.out)).toEqual([]);
      expect(listTree(run.tmp)).toEqual([]);
    });
  }
});

