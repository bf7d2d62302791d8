/**
 * HTTP for the registry client: node's http/https with keep-alive agents, TLS verified against the
 * system roots (SSL_CERT_FILE or the distribution's bundle, plus node's own and docker's per-registry
 * `/etc/docker/certs.d/HOST[:PORT]/*.crt`), redirects followed — but never from https to plain http
 * without `insecure`, and the Authorization header (Basic credentials or a bearer token) goes only to
 * the origin (scheme, host and port) it was meant for: blob storage on another host (a CDN) is
 * followed to without it. Every request is guarded by the time-outs of net-guard.ts.
 *
 * `insecure`: certificates are not verified, and a registry that does not speak TLS is retried over
 * plain HTTP (then remembered), as docker does for an insecure registry.
 *
 * Transient failures — connection resets, timeouts, 408/429/5xx — are retried with exponential
 * backoff; everything else becomes one LayerfoldError line naming the host and what went wrong.
 *
 * Retries are bounded in count (`attempts`, --retries) and in time: a new attempt starts only within
 * the retry window, `attemptBoundMs` (net-guard.ts) after the first began. A failure that comes fast
 * (refused, reset, 503) gets all its retries — backoff 0.25+0.5+1+2 s — as docker's pull retries a
 * layer (dockerd --max-download-attempts, default 5) and go-containerregistry retries temporary
 * errors and 408/429/5xx (3 tries, 1 s then 3 s). A stall costs a whole time-out, so it gets one or
 * two more: neither docker nor go-containerregistry detects a stall at all (they wait on the socket;
 * containerd's CRI cancels a pull only after image_pull_progress_timeout, 5 min, without progress),
 * and issue 20 wants every command to end within 60 s. So one operation that makes no progress ends
 * within `worstCaseMs` (window + one last attempt): 50 s with the defaults, however the far end
 * stalls. An attempt that ran longer than a stalled one can has made progress (it passed a speed
 * window): after it the window starts again, so a long transfer that breaks off is still retried.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { LayerfoldError } from '../../errors.js';
import { attemptBoundMs, DEFAULT_TIMEOUTS, guardBody, guardRequest, NetTimeoutError, StallClock, type NetTimeouts } from '../net-guard.js';

export interface HttpSettings {
  insecure?: boolean;
  /** Attempts for a transient failure (default 5). */
  attempts?: number;
  /** First backoff delay; doubles each time (default 250 ms). */
  backoffMs?: number;
  /** Connect, response, idle and speed limits (defaults: DEFAULT_TIMEOUTS). */
  timeouts?: Partial<NetTimeouts>;
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
    // Node 24 appends "; if the root CA is installed locally, try running Node.js with --use-system-ca"
    return `${host}: TLS certificate not trusted (${e.message.split(';')[0]}); add its CA to /etc/docker/certs.d/${host}/ca.crt or SSL_CERT_FILE, or use --insecure`;
  }
  if (e.code === 'EPROTO' && /wrong version number|packet length too long/.test(e.message)) {
    return `${host}: the registry does not speak TLS (use --insecure for a plain-HTTP registry)`;
  }
  if (e.code === 'ECONNREFUSED') return `${host}: connection refused (is the registry running there?)`;
  if (e.code === 'ENOTFOUND') return `${host}: no such host`;
  if (e.code === 'ECONNRESET') return `${host}: the connection was reset (${e.message})`;
  const message = e.message.replace(/\s+/g, ' ').trim();
  return `${host}: ${message}${e.code && !message.includes(e.code) ? ` (${e.code})` : ''}`;
}

/** The numbers the retry decision is made from. */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
  /** No new attempt starts later than this after the first (or after the last attempt that made progress). */
  windowMs: number;
}

export function retryPolicy(timeouts: NetTimeouts, attempts = 5, backoffMs = 250): RetryPolicy {
  return { attempts, backoffMs, windowMs: attemptBoundMs(timeouts) };
}

/**
 * After failed attempt number `attempt`, `elapsedMs` into the retry window: how long to wait before
 * the next attempt, or undefined to give up. Pure, so the policy's bound is testable without clocks.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, elapsedMs: number, retryAfterMs?: number): number | undefined {
  if (attempt >= policy.attempts) return undefined;
  const delay = retryAfterMs ?? policy.backoffMs * 2 ** (attempt - 1);
  return elapsedMs + delay <= policy.windowMs ? delay : undefined;
}

/** The longest one retried operation can take while the far end makes no progress. */
export function worstCaseMs(timeouts: NetTimeouts): number {
  return retryPolicy(timeouts).windowMs + attemptBoundMs(timeouts);
}

/** Wait `ms`; an abort ends the wait at once (rejecting with its reason) and clears the timer. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const stop = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    signal?.addEventListener('abort', stop, { once: true });
  });
}

export class RegistryHttp {
  private readonly plainHosts = new Set<string>();
  private readonly agents = new Map<string, http.Agent>();
  readonly insecure: boolean;
  private readonly policy: RetryPolicy;
  private readonly timeouts: NetTimeouts;
  private readonly env: NodeJS.ProcessEnv;
  private stall: StallClock | undefined;

  constructor(settings: HttpSettings = {}) {
    this.insecure = settings.insecure ?? false;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...settings.timeouts };
    this.policy = retryPolicy(this.timeouts, settings.attempts, settings.backoffMs);
    this.env = settings.env ?? process.env;
  }

  /**
   * From now until close(), bound the time all requests together go without progress (StallClock,
   * --stall-timeout): a pull's. Not for a push, whose progress is the bytes it sends.
   */
  watchStalls(host: string): void {
    this.stall ??= new StallClock(host, this.timeouts.stallMs, this.timeouts.minBytesPerSecond);
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
  private send(url: URL, headers: Record<string, string>, redirects = 0, sentAt = Date.now(), signal?: AbortSignal): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const lib = url.protocol === 'http:' ? http : https;
      const req = lib.request(url, { method: 'GET', headers, agent: this.agentFor(url), ...(signal ? { signal } : {}) }, (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if ([301, 302, 303, 307, 308].includes(status) && location) {
          res.resume();
          if (redirects >= 5) return reject(new LayerfoldError('IO', `${url.host}: too many redirects`));
          let next: URL;
          try {
            next = this.redirectTarget(url, location);
          } catch (e) {
            return reject(e);
          }
          const nextHeaders = { ...headers };
          // Credentials and tokens are for the origin that asked for them, never for another scheme, host or port.
          if (next.origin !== url.origin) delete nextHeaders.authorization;
          return resolve(this.send(next, nextHeaders, redirects + 1, sentAt, signal));
        }
        guardBody(res, url.host, this.timeouts);
        if (status >= 200 && status < 300) this.stall?.body(res);
        resolve({ status, headers: res.headers, body: res, url });
      });
      guardRequest(req, url.host, this.timeouts, sentAt);
      this.stall?.request(req);
      req.on('error', reject);
      req.end();
    });
  }

  /** Where a redirect leads: http(s) only, and from https never down to plain http unless insecure. */
  private redirectTarget(from: URL, location: string): URL {
    let next: URL;
    try {
      next = new URL(location, from);
    } catch {
      throw new LayerfoldError('IO', `${from.host}: redirects to ${JSON.stringify(location.slice(0, 200))}, which is not a URL`);
    }
    if (next.protocol !== 'https:' && next.protocol !== 'http:') {
      throw new LayerfoldError('IO', `${from.host}: redirects to a ${next.protocol} URL, refused`);
    }
    if (from.protocol === 'https:' && next.protocol === 'http:' && !this.insecure) {
      throw new LayerfoldError('IO', `${from.host}: redirects from https to plain http (${next.host}), refused: nothing is sent in clear text without --insecure`);
    }
    return next;
  }

  /**
   * GET host+path. Transient statuses are turned into TransientError (the caller retries through
   * `retrying`); other statuses are returned for the caller to interpret.
   */
  async get(host: string, pathOrUrl: string, headers: Record<string, string>, signal?: AbortSignal): Promise<HttpResponse> {
    const url = new URL(pathOrUrl, this.base(host));
    let res: HttpResponse;
    try {
      res = await this.send(url, headers, 0, Date.now(), signal);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (e instanceof LayerfoldError) throw e;
      if (signal?.aborted) throw signal.reason; // stopped (another blob failed): not a network error
      if (this.insecure && url.protocol === 'https:' && url.host === host && err.code !== 'ECONNREFUSED' && err.code !== 'ENOTFOUND') {
        // An insecure registry may not speak TLS at all: try plain HTTP, and remember if it answers.
        const plain = new URL(url.href.replace(/^https:/, 'http:'));
        res = await this.send(plain, headers, 0, Date.now(), signal).catch((plainErr: unknown) => {
          if (signal?.aborted) throw signal.reason;
          // It speaks plain HTTP but stalled
          // (or the pull's stall bound ended it): say so (and retry a time-out), not that TLS failed.
          if (plainErr instanceof LayerfoldError) throw plainErr;
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

  /**
   * Run `fn` again after a transient failure, within the retry policy; the last failure is one line.
   * `signal` (a pull stopped by another blob's failure) ends a backoff at once: no attempt starts after it.
   */
  async retrying<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    let windowStart = Date.now();
    for (let attempt = 1; ; attempt++) {
      const began = Date.now();
      signal?.throwIfAborted();
      this.stall?.check();
      try {
        return await fn();
      } catch (e) {
        const transient = e instanceof TransientError ? e : e instanceof NetTimeoutError || isTransientStreamError(e) ? new TransientError((e as Error).message) : undefined;
        if (!transient) throw e;
        const now = Date.now();
        if (now - began > this.policy.windowMs) windowStart = now; // it made progress: a new window
        const delay = retryDelay(this.policy, attempt, now - windowStart, transient.retryAfterMs);
        if (delay === undefined) throw new LayerfoldError('IO', `${transient.message} (gave up after ${attempt} attempt${attempt === 1 ? '' : 's'})`);
        await (this.stall ? this.stall.wait(delay, signal) : sleep(delay, signal));
      }
    }
  }

  close(): void {
    this.stall?.stop();
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
