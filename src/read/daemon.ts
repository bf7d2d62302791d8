/**
 * `docker-daemon:NAME[:TAG]`: the image straight from a running Docker engine through its API —
 * `GET /images/get?names=NAME` streams the same archive `docker save NAME` writes. The engine is found
 * as the docker CLI finds it: DOCKER_HOST (`unix:///path`, `tcp://host:port`; with DOCKER_TLS_VERIFY,
 * https with `ca.pem`/`cert.pem`/`key.pem` from DOCKER_CERT_PATH, default ~/.docker), else
 * /var/run/docker.sock. The stream is spooled once by the caller (the archive reader needs positional
 * reads), exactly as stdin is. An engine that cannot be reached or has no such image is one line.
 * The request is guarded by net-guard.ts (an engine that accepts and never answers, or stops sending,
 * ends with one line naming it); an error body is read up to 64 KiB, never whole.
 */
import { existsSync, readFileSync } from 'node:fs';
import http, { type IncomingMessage, type RequestOptions } from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LayerfoldError } from '../errors.js';
import { DEFAULT_TIMEOUTS, guardBody, guardRequest, NetTimeoutError, type NetTimeouts } from './net-guard.js';

/** What of an engine's error body is read: its message is a line, the rest is not worth the memory. */
const MAX_ERROR_BODY = 64 * 1024;

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

export interface DaemonEndpoint {
  /** As the user would name it in DOCKER_HOST. */
  host: string;
  request: RequestOptions;
  tls: boolean;
}

/** Where the engine listens, from DOCKER_HOST (and the TLS variables), as request options. */
export function daemonEndpoint(env: NodeJS.ProcessEnv = process.env): DaemonEndpoint {
  const host = env.DOCKER_HOST || DEFAULT_DOCKER_HOST;
  if (host.startsWith('unix://')) return { host, request: { socketPath: host.slice('unix://'.length) }, tls: false };
  const m = /^(?:tcp|http|https):\/\/([^/]+)\/?$/.exec(host);
  if (!m) throw new LayerfoldError('UNSUPPORTED', `DOCKER_HOST=${host}: only unix:// and tcp:// engines are supported`);
  const url = new URL(`http://${m[1]}`);
  const tls = host.startsWith('https://') || (env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== '');
  const request: RequestOptions = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || (tls ? 2376 : 2375)) };
  if (tls) {
    const dir = env.DOCKER_CERT_PATH || join(env.HOME ?? homedir(), '.docker');
    const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f)) : undefined);
    const ca = read('ca.pem');
    const cert = read('cert.pem');
    const key = read('key.pem');
    Object.assign(request, { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) });
  }
  return { host, request, tls };
}

/** The engine's error message: the JSON `message`, else the first line; a body past MAX_ERROR_BODY is cut there. */
async function errorText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res) {
    const chunk = c as Buffer;
    chunks.push(chunk.subarray(0, MAX_ERROR_BODY - size));
    size += chunk.length;
    if (size >= MAX_ERROR_BODY) {
      res.destroy();
      break;
    }
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  try {
    const message = (JSON.parse(text) as { message?: string }).message;
    if (message) return message;
  } catch {
    // plain text
  }
  return text.split('\n')[0]!.slice(0, 200);
}

function unreachable(label: string, endpoint: DaemonEndpoint, e: NodeJS.ErrnoException): LayerfoldError {
  if (e instanceof NetTimeoutError) return new NetTimeoutError(`${label}: the Docker engine at ${e.message}`);
  const why =
    e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
      ? 'no engine answers there (is dockerd running? set DOCKER_HOST)'
      : e.code === 'EACCES'
        ? 'permission denied (are you in the docker group?)'
        : e.message;
  return new LayerfoldError('IO', `${label}: cannot reach the Docker engine at ${endpoint.host}: ${why}`, { cause: e });
}

/** The `docker save` stream of one image; rejects with one line when the engine refuses. */
export function daemonSaveStream(name: string, env: NodeJS.ProcessEnv = process.env, timeouts: Partial<NetTimeouts> = {}): Promise<IncomingMessage> {
  const label = `docker-daemon:${name}`;
  const endpoint = daemonEndpoint(env);
  const limits = { ...DEFAULT_TIMEOUTS, ...timeouts };
  const lib = endpoint.tls ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request({ ...endpoint.request, method: 'GET', path: `/images/get?names=${encodeURIComponent(name)}`, headers: { host: 'docker' } }, (res) => {
      const status = res.statusCode ?? 0;
      guardBody(res, endpoint.host, limits);
      if (status === 200) return resolve(res);
      errorText(res).then(
        (text) => {
          // podman's Docker-compatible API answers 500 "image not known" where docker answers 404
          const missing = status === 404 || (status === 500 && /image not known|no such image/i.test(text));
          const code = missing ? 'NOT_FOUND' : 'IO';
          const what = missing ? 'the engine has no such image' : `the engine answered ${status}`;
          reject(new LayerfoldError(code, `${label}: ${what}${text ? ` (${text})` : ''}`));
        },
        (e: Error) => reject(unreachable(label, endpoint, e)),
      );
    });
    guardRequest(req, endpoint.host, limits);
    req.on('error', (e) => reject(unreachable(label, endpoint, e)));
    req.end();
  });
}
