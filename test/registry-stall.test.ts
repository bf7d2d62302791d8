/**
 * The time-outs of issue 20 against a real registry — Debian's `docker-registry` (the CNCF distribution
 * registry) with an image skopeo pushed — reached through a small TCP proxy written here that throttles
 * what the registry sends back: a trickle of one byte a second after N bytes of a connection, a stop
 * after N bytes (the connection kept open), or a proxy that accepts and never answers. network.test.ts
 * checks the same guards against fake servers; here the far end is the real thing, so the requests,
 * headers, keep-alive and chunking are the registry's own. Each case must end with one line naming the
 * host (the proxy's address, the one layerfold was given) and what stalled, exit 2, nothing left in the
 * output or --tmpdir, within the bound the README documents for the flags given (the time-outs are
 * shortened through the flags to keep the suite fast). A pass-through proxy pulls the image as it is.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUTS, type NetTimeouts } from '../src/read/net-guard.js';
import { worstCaseMs } from '../src/read/registry/http.js';
// @ts-expect-error: a plain JS script shared with the benchmark
import { missingTools, push, startRegistry } from '../scripts/registry-setup.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { cli, exportOf } from './support/cli.js';

type Mode = { kind: 'pass' } | { kind: 'trickle'; after: number } | { kind: 'stop'; after: number } | { kind: 'silent' };

interface Proxy {
  host: string;
  /** The request lines the client sent through (`GET /v2/…`). */
  requests: string[];
  close(): Promise<void>;
}

/** A TCP proxy to `upstream` that forwards what the client sends and throttles what comes back. */
async function throttle(upstream: string, mode: Mode): Promise<Proxy> {
  const [upHost, upPort] = upstream.split(':') as [string, string];
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const requests: string[] = [];
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    if (mode.kind === 'silent') return; // accepted, never a byte back, never connected onwards
    const up = net.connect(Number(upPort), upHost);
    sockets.add(up);
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString('latin1').matchAll(/^(GET|HEAD) (\S+) HTTP/gm)) requests.push(`${m[1]} ${m[2]}`);
      up.write(chunk);
    });
    let sent = 0;
    let held: Buffer[] = [];
    up.on('data', (chunk: Buffer) => {
      if (mode.kind === 'pass' || sent + chunk.length <= mode.after) {
        sent += chunk.length;
        client.write(chunk);
        return;
      }
      const room = Math.max(0, mode.after - sent);
      if (room > 0) client.write(chunk.subarray(0, room));
      sent += room;
      up.pause(); // the registry's further bytes wait in its socket buffer
      if (mode.kind === 'stop' || held.length > 0) return;
      held = [chunk.subarray(room)];
      const t = setInterval(() => {
        const next = held[0];
        if (client.destroyed || next === undefined || next.length === 0) return clearInterval(t);
        client.write(next.subarray(0, 1));
        held[0] = next.subarray(1);
      }, 1000);
      timers.add(t);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    requests,
    close: () =>
      new Promise((r) => {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

interface Pulled {
  code: number;
  stderr: string;
  ms: number;
  /** What is left in --tmpdir and beside the output (the output itself only after a success). */
  left: string[];
  stdout: Buffer;
}

/** `layerfold export` (or `extract`) of docker://HOST/stall:1, timed, with a --tmpdir that must be empty after. */
async function pull(host: string, command: 'export' | 'extract', ...flags: string[]): Promise<Pulled> {
  const tmp = scratchDir();
  const parent = scratchDir();
  const out = join(parent, command === 'export' ? 'rootfs.tar' : 'rootfs');
  const began = Date.now();
  const r = await cli([command, `docker://${host}/stall:1`, ...(command === 'export' ? ['-o', out] : [out]), '--tmpdir', tmp, ...flags]);
  const ms = Date.now() - began;
  const left = [...readdirSync(tmp), ...readdirSync(parent).filter((f) => r.code !== 0 || f !== 'rootfs.tar')];
  return { code: r.code, stderr: r.stderr, ms, left, stdout: r.code === 0 && command === 'export' ? readFileSync(out) : Buffer.alloc(0) };
}

/** One line, exit 2, nothing left, within `boundMs` (plus slack for a loaded 2-core machine). */
function expectStalled(r: Pulled, line: RegExp, boundMs: number): void {
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(line);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.code).toBe(2);
  expect(r.left).toEqual([]);
  expect(r.ms).toBeLessThan(boundMs + 3000);
}

/**
 * Flags setting every per-request time-out (ms → seconds), and the bound the README gives for them:
 * one stalled operation with its retries ends within worstCaseMs (retry window + one attempt).
 */
function shortened(t: Pick<NetTimeouts, 'connectMs' | 'responseMs' | 'idleMs'>): { flags: string[]; boundMs: number } {
  const flags = ['--connect-timeout', String(t.connectMs / 1000), '--response-timeout', String(t.responseMs / 1000), '--idle-timeout', String(t.idleMs / 1000)];
  return { flags, boundMs: worstCaseMs({ ...DEFAULT_TIMEOUTS, ...t }) };
}

const AFTER = 16 * 1024; // the manifest, the config and their headers pass; the 256 KiB layer does not
const missing = missingTools() as string[];

describe.skipIf(missing.length > 0)('time-outs against a real docker-registry behind a throttling proxy', () => {
  let registry: { host: string; stop(): Promise<void> };
  let archive = '';
  const proxies: Proxy[] = [];
  const via = async (mode: Mode) => {
    const p = await throttle(registry.host, mode);
    proxies.push(p);
    return p;
  };
  const layerGets = (p: Proxy) => p.requests.filter((q) => /^GET \/v2\/stall\/blobs\/sha256:/.test(q));

  beforeAll(async () => {
    // incompressible: the gzip layer is as big as its file, far past AFTER
    archive = writeTemp(await imageArchive([await layerTar([e('etc/'), e('etc/os-release', { content: 'ID=stall\n' }), e('data', { content: randomBytes(256 * 1024) })])], { layout: 'oci', compression: 'gzip' }));
    registry = (await startRegistry(scratchDir(), 'stall')) as typeof registry;
    await push(`oci-archive:${archive}`, `${registry.host}/stall:1`);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await registry?.stop();
  });

  it('through a pass-through proxy the image is pulled as it is (the proxy itself does not stall)', async () => {
    const p = await via({ kind: 'pass' });
    const r = await pull(p.host, 'export', '--insecure');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.equals(await exportOf(archive))).toBe(true);
    expect(layerGets(p).length).toBe(2); // the config and the layer
  });

  it('one byte a second after 16 KiB: --min-speed over an --idle-timeout window ends it, naming the layer and the host', async () => {
    const p = await via({ kind: 'trickle', after: AFTER });
    // bytes a second apart never go idle for 2 s; 2 bytes in a 2 s window are under 1024 a second
    const { flags, boundMs } = shortened({ connectMs: 1000, responseMs: 1000, idleMs: 2000 });
    const r = await pull(p.host, 'export', '--insecure', ...flags, '--retries', '0');
    expectStalled(r, new RegExp(`^layerfold: .*: layer 0 \\(sha256:[0-9a-f]{12}…\\): ${p.host}: the transfer stalled: \\d+ bytes in \\d+(\\.\\d+)? s, under --min-speed 1024 bytes/s \\(gave up after 1 attempt\\)$`, 'm'), boundMs);
  });

  it('the same trickle with every per-request time-out far above: --stall-timeout ends the pull', async () => {
    const p = await via({ kind: 'trickle', after: AFTER });
    const r = await pull(p.host, 'extract', '--insecure', '--idle-timeout', '30', '--response-timeout', '30', '--stall-timeout', '1.5');
    expectStalled(r, new RegExp(`^layerfold: (docker://${p.host}/stall:1: .*)?${p.host}: the pull made no progress for 1.5 s in all \\(--stall-timeout\\)$`, 'm'), 1500);
    expect(layerGets(p).length).toBeGreaterThanOrEqual(1);
  });

  it('a layer that stops after 16 KiB, the connection left open: --idle-timeout, retried once, then one line; DIR not left behind', async () => {
    const p = await via({ kind: 'stop', after: AFTER });
    const { flags, boundMs } = shortened({ connectMs: 1000, responseMs: 1000, idleMs: 500 });
    const r = await pull(p.host, 'extract', '--insecure', ...flags, '--retries', '1');
    expectStalled(r, new RegExp(`^layerfold: .*: layer 0 \\(sha256:[0-9a-f]{12}…\\): ${p.host}: the transfer stalled: no data for 0.5 s \\(--idle-timeout\\) \\(gave up after 2 attempts\\)$`, 'm'), boundMs);
    const layer = layerGets(p).filter((q) => q === layerGets(p).at(-1));
    expect(layer.length).toBe(2); // the first attempt and its retry, each stopped at 16 KiB
  });

  it('the same stop with --idle-timeout far above: --stall-timeout ends it', async () => {
    const p = await via({ kind: 'stop', after: AFTER });
    const r = await pull(p.host, 'export', '--insecure', '--idle-timeout', '30', '--stall-timeout', '1');
    expectStalled(r, new RegExp(`^layerfold: (docker://${p.host}/stall:1: .*)?${p.host}: the pull made no progress for 1 s in all \\(--stall-timeout\\)$`, 'm'), 1000);
  });

  it('a proxy that accepts and never answers, plain HTTP: --response-timeout, after the retries', async () => {
    const p = await via({ kind: 'silent' });
    const { flags, boundMs } = shortened({ connectMs: 500, responseMs: 500, idleMs: 500 });
    const r = await pull(p.host, 'export', '--insecure', ...flags, '--retries', '1');
    expectStalled(r, new RegExp(`^layerfold: ${p.host}: no response within 0.5 s \\(--response-timeout\\) \\(gave up after 2 attempts\\)$`, 'm'), boundMs);
  });

  it('a proxy that accepts and never answers, HTTPS (no TLS handshake ever): --connect-timeout', async () => {
    const p = await via({ kind: 'silent' });
    const { flags, boundMs } = shortened({ connectMs: 500, responseMs: 1000, idleMs: 500 });
    const r = await pull(p.host, 'export', ...flags, '--retries', '0');
    expectStalled(r, new RegExp(`^layerfold: ${p.host}: no connection within 0.5 s \\(--connect-timeout\\) \\(gave up after 1 attempt\\)$`, 'm'), boundMs);
  });

  it('a proxy that never answers, with --response-timeout far above: --stall-timeout ends it first', async () => {
    const p = await via({ kind: 'silent' });
    const r = await pull(p.host, 'export', '--insecure', '--response-timeout', '30', '--stall-timeout', '0.8');
    expectStalled(r, new RegExp(`^layerfold: ${p.host}: the pull made no progress for 0.8 s in all \\(--stall-timeout\\)$`, 'm'), 800);
  });
});

describe('the README documents every time-out flag with the default the code uses', () => {
  const readme = readFileSync('README.md', 'utf8');
  const row = (flag: string) => readme.split('\n').find((l) => l.startsWith(`| \`${flag} `)) ?? '';
  it.each([
    ['--connect-timeout', DEFAULT_TIMEOUTS.connectMs / 1000],
    ['--response-timeout', DEFAULT_TIMEOUTS.responseMs / 1000],
    ['--idle-timeout', DEFAULT_TIMEOUTS.idleMs / 1000],
    ['--min-speed', DEFAULT_TIMEOUTS.minBytesPerSecond],
    ['--stall-timeout', DEFAULT_TIMEOUTS.stallMs / 1000],
  ])('%s (default %d)', (flag, value) => {
    expect(row(flag)).toMatch(new RegExp(`\\(default ${value}[;)]`));
  });
  it('the registry section gives the bound they make with the defaults', () => {
    expect(worstCaseMs(DEFAULT_TIMEOUTS)).toBeLessThanOrEqual(50_000);
    expect(readme).toMatch(/ends within twice the window \(50 s\s+with the defaults\)/);
  });
  it('the registry tests above ran (docker-registry, skopeo, openssl, htpasswd installed), or say why not', () => {
    if (missing.length > 0) console.log(`skipped the real-registry cases: missing ${missing.join(', ')}`);
    expect(existsSync('scripts/registry-setup.js')).toBe(true);
  });
});
