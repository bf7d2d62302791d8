/**
 * SIGINT and SIGTERM mid-run, on the built CLI (`node bin/layerfold.js`, so `npm test` builds first):
 * exit 130 / 143, one line on stderr, and nothing left in the output directory or in --tmpdir —
 * neither the `.NAME.layerfold-PID.tmp` output nor a spooled layer. The signal is sent once the run
 * is seen at work: a spooled layer growing in --tmpdir, or the temporary output growing beside -o.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { listTree } from './support/hostile.js';
// @ts-expect-error plain-JS helper without type declarations
import { wideEntries, writeTreeImage } from '../scripts/bench/shapes.js';

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

/**
 * A long walk (one directory of 250,000 empty files: the time goes into entries, not bytes) and a
 * stalled registry (a loopback server that accepts and never answers, with time-outs far away): the
 * signal must end the run promptly, within 5 s of being sent, with the conventional code.
 */
describe.skipIf(!built)('signals during a long walk or a stalled pull (built CLI)', () => {
  const PROMPT_MS = 5000;
  let wide: Promise<string> | undefined;
  const wideImage = () =>
    (wide ??= (async () => {
      const image = join(scratchDir(), 'wide.tar');
      await writeTreeImage(image, wideEntries(250_000));
      return image;
    })());

  /** Run argv; once `busy` holds (or after `afterMs`), send `signal`; how it ended and how long after the signal. */
  async function signalled(argv: string[], signal: 'SIGINT' | 'SIGTERM', busy: (stdoutBytes: number) => boolean) {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdoutBytes = 0;
    child.stdout.on('data', (c: Buffer) => (stdoutBytes += c.length));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let sentAt: number | undefined;
    const started = Date.now();
    while (sentAt === undefined && Date.now() - started < 60_000 && child.exitCode === null) {
      if (busy(stdoutBytes)) {
        child.kill(signal);
        sentAt = Date.now();
      } else await new Promise((r) => setTimeout(r, 5));
    }
    const code = await exited;
    return { code, stderr, sent: sentAt !== undefined, afterMs: sentAt === undefined ? Infinity : Date.now() - sentAt };
  }

  const walks: Array<[string, (image: string, out: string, tmp: string) => string[], (out: string, stdoutBytes: number) => boolean]> = [
    ['export', (image, out, tmp) => ['export', image, '-o', join(out, 'rootfs.tar'), '--tmpdir', tmp], (out) => bytesUnder(out) > 1 << 20],
    ['ls', (image, _out, tmp) => ['ls', image, '--tmpdir', tmp], (_out, n) => n > 64 << 10],
    ['extract', (image, out, tmp) => ['extract', image, join(out, 'root'), '--tmpdir', tmp], (out) => existsSync(join(out, 'root', 'wide', 'f00100'))],
  ];
  for (const [name, argv, busy] of walks) {
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      it(`${signal} while ${name} walks 250,000 entries: exit ${code} within 5 s, one line, nothing left`, async () => {
        const image = await wideImage();
        const root = scratchDir();
        const [out, tmp] = [join(root, 'out'), join(root, 'tmp')];
        mkdirSync(out);
        mkdirSync(tmp);
        const run = await signalled(argv(image, out, tmp), signal, (n) => busy(out, n));
        expect(run.sent, 'the run ended before it could be interrupted').toBe(true);
        expect(run.code).toBe(code);
        expect(run.afterMs).toBeLessThan(PROMPT_MS);
        expect(run.stderr).toMatch(new RegExp(`^layerfold: interrupted by ${signal}; partial output removed\\n$`));
        expect(listTree(out)).toEqual([]);
        expect(listTree(tmp)).toEqual([]);
      }, 120_000);
    }
  }

  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${signal} while a pull waits on a registry that never answers: exit ${code} within 5 s, nothing left`, async () => {
      const sockets = new Set<net.Socket>();
      let accepted = false;
      const server = net.createServer((sock) => {
        sockets.add(sock);
        accepted = true;
        sock.on('error', () => undefined);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      const root = scratchDir();
      const [out, tmp] = [join(root, 'out'), join(root, 'tmp')];
      mkdirSync(out);
      mkdirSync(tmp);
      try {
        const argv = ['export', `docker://${host}/app:1`, '--insecure', '-o', join(out, 'rootfs.tar'), '--tmpdir', tmp, '--response-timeout', '60', '--stall-timeout', '60'];
        const run = await signalled(argv, signal, () => accepted);
        expect(run.sent).toBe(true);
        expect(run.code).toBe(code);
        expect(run.afterMs).toBeLessThan(PROMPT_MS);
        expect(run.stderr).toMatch(new RegExp(`^layerfold: interrupted by ${signal}; partial output removed\\n$`));
        expect(listTree(out)).toEqual([]);
        expect(listTree(tmp)).toEqual([]);
      } finally {
        for (const sock of sockets) sock.destroy();
        await new Promise((r) => server.close(r));
      }
    }, 60_000);
  }
});
