/**
 * docker-daemon:NAME — the image from a Docker engine's API (`GET /images/get`).
 * With a real engine (DOCKER_HOST, or /var/run/docker.sock when it answers): the fixture is loaded,
 * read back through the API, and must flatten to the same bytes as the archive; a missing image is
 * one line. Without one, that part skips with one line. Always: a stand-in engine on a unix socket and
 * on tcp (serving the fixture archive as the API would) pins DOCKER_HOST handling and the messages.
 */
import { request } from 'node:http';
import { createReadStream, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { exportRootfs } from '../src/index.js';
import { daemonEndpoint } from '../src/read/daemon.js';
import { scratchDir } from './support/build.js';
import { expectOneLine, exportOf } from './support/cli.js';

const D26 = 'fixtures/conformance/natural-docker26/image.tar';
const D20 = 'fixtures/conformance/natural-docker20/image.tar';

async function cli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const out: Buffer[] = [];
  let stderr = '';
  const stdout = new PassThrough().on('data', (c: Buffer) => out.push(c));
  const err = new PassThrough().on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    const code = await run(args, { stdin: new PassThrough(), stdout, stderr: err, env: process.env });
    return { code, stdout: Buffer.concat(out), stderr };
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}


describe('DOCKER_HOST', () => {
  it('unix, tcp, default, and what is not supported', () => {
    expect(daemonEndpoint({}).request).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(daemonEndpoint({ DOCKER_HOST: 'unix:///tmp/x.sock' }).request).toEqual({ socketPath: '/tmp/x.sock' });
    expect(daemonEndpoint({ DOCKER_HOST: 'tcp://127.0.0.1:2375' }).request).toEqual({ host: '127.0.0.1', port: 2375 });
    expect(daemonEndpoint({ DOCKER_HOST: 'tcp://127.0.0.1', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nonexistent' })).toMatchObject({ tls: true, request: { port: 2376 } });
    expect(() => daemonEndpoint({ DOCKER_HOST: 'ssh://me@host' })).toThrow(/only unix:\/\/ and tcp:\/\//);
  });
});

describe('a stand-in engine serving the save archive', () => {
  const images: Record<string, string> = { 'app:1': D26, 'old:1': D20 };
  const seen: string[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    seen.push(`${req.method} ${url.pathname}?${url.searchParams}`);
    const name = url.searchParams.get('names') ?? '';
    if (url.pathname !== '/images/get' || !images[name]) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `No such image: ${name}` }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-tar' });
    createReadStream(images[name]!).pipe(res);
  };
  const unixServer = http.createServer(handler);
  const tcpServer = http.createServer(handler);
  const socket = join(scratchDir(), 'engine.sock');
  let tcpHost = '';

  beforeAll(async () => {
    await new Promise<void>((r) => unixServer.listen(socket, r));
    await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', r));
    tcpHost = `tcp://127.0.0.1:${(tcpServer.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => unixServer.close(r));
    await new Promise((r) => tcpServer.close(r));
  });

  it('over a unix socket: the same bytes as the archive, asked for as GET /images/get?names=', async () => {
    const r = await cli(['export', 'docker-daemon:app:1', '-o', '-'], { DOCKER_HOST: `unix://${socket}` });
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(await exportOf(D26))).toBe(true);
    expect(seen).toContain('GET /images/get?names=app%3A1');
  });

  it('over tcp, a legacy save', async () => {
    const r = await cli(['export', 'docker-daemon:old:1', '-o', '-'], { DOCKER_HOST: tcpHost });
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(await exportOf(D20))).toBe(true);
  });

  it('a missing image is one line with the engine\'s message', async () => {
    expectOneLine(await cli(['export', 'docker-daemon:nope:1', '-o', '-'], { DOCKER_HOST: `unix://${socket}` }), /^layerfold: docker-daemon:nope:1: the engine has no such image \(No such image: nope:1\)$/m);
  });

  it('no engine is one line naming where it looked', async () => {
    const missing = join(scratchDir(), 'none.sock');
    expectOneLine(await cli(['export', 'docker-daemon:app:1', '-o', '-'], { DOCKER_HOST: `unix://${missing}` }), new RegExp(`cannot reach the Docker engine at unix://${missing}: no engine answers there`));
  });
});

/** The engine to test against: DOCKER_HOST, else the default socket, if it answers /_ping. */
async function realEngine(): Promise<string | undefined> {
  const host = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  let endpoint;
  try {
    endpoint = daemonEndpoint({ DOCKER_HOST: host });
  } catch {
    return undefined;
  }
  if (endpoint.tls) return undefined;
  return new Promise((resolve) => {
    const req = request({ ...endpoint.request, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? host : undefined);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function engineCall(host: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const endpoint = daemonEndpoint({ DOCKER_HOST: host });
  return new Promise((resolve, reject) => {
    const req = request({ ...endpoint.request, method, path, headers: body ? { 'content-type': 'application/x-tar' } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    if (body) createReadStream(body).pipe(req);
    else req.end();
  });
}

const engine = await realEngine();
if (!engine) console.log('daemon test with a real engine skipped: no Docker engine answers at DOCKER_HOST or /var/run/docker.sock');

describe.skipIf(!engine)('a real Docker engine', () => {
  const tag = `layerfold-daemon-test:${process.pid}`;
  let loadedName = '';
  let hadLoadedName = true;

  beforeAll(async () => {
    hadLoadedName = (await engineCall(engine!, 'GET', '/images/vis-natural:latest/json')).status === 200;
    const load = await engineCall(engine!, 'POST', '/images/load?quiet=1', D26);
    expect(load.status).toBe(200);
    const loaded = /Loaded image: ([^\s"\\]+)/.exec(load.text)?.[1] ?? 'vis-natural:latest';
    loadedName = loaded;
    const [repo, t] = tag.split(':');
    const tagged = await engineCall(engine!, 'POST', `/images/${encodeURIComponent(loaded)}/tag?repo=${repo}&tag=${t}`);
    expect(tagged.status).toBe(201);
  });
  afterAll(async () => {
    if (!engine) return;
    await engineCall(engine, 'DELETE', `/images/${encodeURIComponent(tag)}`);
    if (!hadLoadedName && loadedName) await engineCall(engine, 'DELETE', `/images/${encodeURIComponent(loadedName)}`);
  });

  it('docker-daemon: gives the same bytes as the saved archive', async () => {
    const r = await cli(['export', `docker-daemon:${tag}`, '-o', '-'], { DOCKER_HOST: engine });
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(await exportOf(D26))).toBe(true);
  });

  it('an image the engine does not have is one line', async () => {
    expectOneLine(await cli(['export', 'docker-daemon:layerfold-absent:0', '-o', '-'], { DOCKER_HOST: engine }), /docker-daemon:layerfold-absent:0: the engine has no such image/);
  });
});
