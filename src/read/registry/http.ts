/**
 * HTTP for the registry client: node's http/https with keep-alive agents, TLS verified against the
 * system roots (SSL_CERT_FILE or the distribution's bundle, plus node's own and docker's per-registry
 * `/etc/docker/certs.d/HOST[:PORT]/*.crt`), redirects followed (the Authorization header is dropped
 * when the host changes, as blob storage on another host must not see registry credentials).
 *
 * `insecure`: certificates are not verified, and a registry that does not speak TLS is retried over
 * plain HTTP (then remembered), as docker does for an insecure registry.
 *
 * Transient failures — connection resets, timeouts, 408/429/5xx — are retried with exponential
 * backoff; everything else becomes one LayerfoldError line naming the host and what went wrong.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { LayerfoldError } from '../../errors.js';

export interface HttpSettings {
  insecure?: boolean;
  /** Attempts for a transient failure (default 5). */
  attempts?: number;
  /** First backoff delay; doubles each time (default 250 ms). */
  backoffMs?: number;
  /** Idle socket timeout (default 60 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem', '/etc/ssl/ca-bundle.pem'];
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH']);
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A failure worth another attempt; carries what to say if the attempts run out. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function systemRoots(env: NodeJS.ProcessEnv, host: string): string[] {
  const out = [...rootCertificates];
  const bundle = env.SSL_CERT_FILE ?? SYSTEM_BUNDLES.find((p) => existsSync(p));
  if (bundle && existsSync(bundle)) out.push(readFileSync(bundle, 'utf8'));
  const certsD = join(env.DOCKER_CERTS_D ?? '/etc/docker/certs.d', host);
  if (existsSync(certsD)) {
    for (const f of readdirSync(certsD)) if (f.endsWith('.crt')) out.push(readFileSync(join(certsD, f), 'utf8'));
  }
  return out;
}

function describeNetworkError(host: string, e: NodeJS.ErrnoException): string {
  if (e.code && TLS_TRUST_CODES.has(e.code)) {
    return `${host}: TLS certificate not trusted (${e.message}); add its CA to /etc/docker/certs.d/${host}/ca.crt or SSL_CERT_FILE, or use --insecure`;
  }
  if (e.code === 'EPROTO' && /wrong version number|packet length too long/.test(e.message)) {
    return `${host}: the registry does not speak TLS (use --insecure for a plain-HTTP registry)`;
  }
  if (e.code === 'ECONNREFUSED') return `${host}: connection refused (is the registry running there?)`;
  if (e.code === 'ENOTFOUND') return `${host}: no such host`;
  const message = e.message.replace(/\s+/g, ' ').trim();
  return `${host}: ${message}${e.code && !message.includes(e.code) ? ` (${e.code})` : ''}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class RegistryHttp {
  private readonly plainHosts = new Set<string>();
  private readonly agents = new Map<string, http.Agent>();
  readonly insecure: boolean;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private readonly env: NodeJS.ProcessEnv;

  constructor(settings: HttpSettings = {}) {
    this.insecure = settings.insecure ?? false;
    this.attempts = settings.attempts ?? 5;
    this.backoffMs = settings.backoffMs ?? 250;
    this.timeoutMs = settings.timeoutMs ?? 60_000;
    this.env = settings.env ?? process.env;
  }

  /** `https://host` (or `http://host` once an insecure registry turned out to speak plain HTTP). */
  base(host: string): string {
    return `${this.plainHosts.has(host) ? 'http' : 'https'}://${host}`;
  }

  /** The keep-alive agent (TLS trust as above) for a URL's host; push.ts sends its uploads through it. */
  agentFor(url: URL): http.Agent {
    const key = `${url.protocol}//${url.host}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent =
        url.protocol === 'http:'
          ? new http.Agent({ keepAlive: true })
          : new https.Agent({ keepAlive: true, rejectUnauthorized: !this.insecure, ...(this.insecure ? {} : { ca: systemRoots(this.env, url.host) }) });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One request, redirects followed; network errors rejected as they come. */
  private send(url: URL, headers: Record<string, string>, redirects = 0): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const lib = url.protocol === 'http:' ? http : https;
      const req = lib.request(url, { method: 'GET', headers, agent: this.agentFor(url) }, (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if ([301, 302, 303, 307, 308].includes(status) && location) {
          res.resume();
          if (redirects >= 5) return reject(new LayerfoldError('IO', `${url.host}: too many redirects`));
          const next = new URL(location, url);
          const nextHeaders = { ...headers };
          if (next.host !== url.host) delete nextHeaders.authorization;
          return resolve(this.send(next, nextHeaders, redirects + 1));
        }
        res.setTimeout(this.timeoutMs, () => res.destroy(Object.assign(new Error('read timed out'), { code: 'ETIMEDOUT' })));
        resolve({ status, headers: res.headers, body: res, url });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * GET host+path. Transient statuses are turned into TransientError (the caller retries through
   * `retrying`); other statuses are returned for the caller to interpret.
   */
  async get(host: string, pathOrUrl: string, headers: Record<string, string>): Promise<HttpResponse> {
    const url = new URL(pathOrUrl, this.base(host));
    let res: HttpResponse;
    try {
      res = await this.send(url, headers);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (e instanceof LayerfoldError) throw e;
      if (this.insecure && url.protocol === 'https:' && url.host === host && err.code !== 'ECONNREFUSED' && err.code !== 'ENOTFOUND') {
        // An insecure registry may not speak TLS at all: try plain HTTP, and remember if it answers.
        const plain = new URL(url.href.replace(/^https:/, 'http:'));
        res = await this.send(plain, headers).catch(() => {
          throw this.networkError(host, err);
        });
        this.plainHosts.add(host);
        return this.checkTransient(host, res);
      }
      throw this.networkError(host, err);
    }
    return this.checkTransient(host, res);
  }

  private networkError(host: string, e: NodeJS.ErrnoException): Error {
    const message = describeNetworkError(host, e);
    if (e.code && TRANSIENT_CODES.has(e.code)) return new TransientError(message);
    return new LayerfoldError('IO', message, { cause: e });
  }

  private checkTransient(host: string, res: HttpResponse): HttpResponse {
    if (!TRANSIENT_STATUS.has(res.status)) return res;
    res.body.resume();
    const after = Number(res.headers['retry-after']);
    throw new TransientError(`${host}: the registry answered ${res.status} ${http.STATUS_CODES[res.status] ?? ''}`.trimEnd(), Number.isFinite(after) ? Math.min(after * 1000, 10_000) : undefined);
  }

  /** Run `fn` again after a transient failure, with exponential backoff; the last failure is one line. */
  async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const transient = e instanceof TransientError ? e : isTransientStreamError(e) ? new TransientError((e as Error).message) : undefined;
        if (!transient) throw e;
        if (attempt >= this.attempts) throw new LayerfoldError('IO', `${transient.message} (gave up after ${attempt} attempts)`);
        await sleep(transient.retryAfterMs ?? this.backoffMs * 2 ** (attempt - 1));
      }
    }
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

/** An error from a response body that broke off (reset, timeout, premature close). */
export function isTransientStreamError(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException | undefined;
  if (!err || e instanceof LayerfoldError) return false;
  return (err.code !== undefined && (TRANSIENT_CODES.has(err.code) || err.code === 'ERR_STREAM_PREMATURE_CLOSE')) || err.message === 'aborted';
}

/** Read a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new LayerfoldError('BAD_LAYOUT', `${what}: more than ${limit} bytes, too large`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
