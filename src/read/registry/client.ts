/**
 * The two reads of the OCI distribution API that pulling needs — `GET /v2/REPO/manifests/REF` and
 * `GET /v2/REPO/blobs/DIGEST` — with authentication answered on a 401 (see auth.ts) and every
 * non-success status turned into one line: 404 → NOT_FOUND, 401/403 → AUTH, anything else → IO.
 * Manifests are verified against the digest they were asked by, and against Docker-Content-Digest.
 */
import { LayerfoldError } from '../../errors.js';
import { algorithmOf, digestOf, isDigest } from '../digest.js';
import { credentialsFromDockerConfig, parseCreds, registryErrorText, RegistryAuth } from './auth.js';
import { NetTimeoutError, type NetTimeouts } from '../net-guard.js';
import { isTransientStreamError, readBody, RegistryHttp, TransientError, type HttpResponse } from './http.js';
import { apiHost, type DockerReference } from './reference.js';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
const MAX_MANIFEST = 4 * 1024 * 1024;

export interface ClientOptions {
  insecure?: boolean;
  /** `USER:PASS`; default: docker's config file, else anonymous. */
  creds?: string;
  env?: NodeJS.ProcessEnv;
  /** Attempts for transient failures (default 5) and the first backoff delay (default 250 ms). */
  attempts?: number;
  backoffMs?: number;
  /** Connect, response, idle and speed limits (defaults: net-guard.ts DEFAULT_TIMEOUTS). */
  timeouts?: Partial<NetTimeouts>;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export class RegistryClient {
  readonly http: RegistryHttp;
  readonly auth: RegistryAuth;
  readonly host: string;
  /** `docker://…` as the user would recognise it, first in every message. */
  readonly label: string;

  constructor(
    readonly ref: DockerReference,
    options: ClientOptions = {},
  ) {
    const env = options.env ?? process.env;
    this.http = new RegistryHttp({
      insecure: options.insecure ?? false,
      env,
      ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
      ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    });
    this.host = apiHost(ref.registry);
    this.label = `docker://${ref.canonical}`;
    const credentials = options.creds !== undefined ? parseCreds(options.creds) : credentialsFromDockerConfig(ref.registry, env);
    this.auth = new RegistryAuth(this.http, ref.registry, ref.repository, credentials);
  }

  /** One authenticated GET (no retries here: callers wrap whole operations in `http.retrying`). */
  private async get(path: string, headers: Record<string, string>, what: string, signal?: AbortSignal): Promise<HttpResponse> {
    let res = await this.http.get(this.host, path, { ...headers, ...this.auth.headers() }, signal);
    if (res.status === 401 && !this.isRegistry(res.url)) {
      // A redirect target (blob storage) asking for credentials: they are the registry's, not its.
      res.body.resume();
      throw new LayerfoldError('AUTH', `${this.label}: ${what}: ${res.url.host}, where the registry redirected, asks for authentication; the registry's credentials are not sent there`);
    }
    if (res.status === 401) {
      res.body.resume();
      if (await this.auth.answer(res.headers['www-authenticate'], this.label)) {
        res = await this.http.get(this.host, path, { ...headers, ...this.auth.headers() }, signal);
      }
    }
    if (res.status === 200) return res;
    const body = await readBody(res, 64 * 1024, what).catch(() => Buffer.alloc(0));
    if (res.status === 401 && !this.auth.credentials) throw this.auth.required(this.label);
    if (res.status === 401 || res.status === 403) throw this.auth.refused(this.label, res.status, body);
    const why = registryErrorText(body);
    if (res.status === 404) throw new LayerfoldError('NOT_FOUND', `${this.label}: ${what} not found in the registry${why ? ` (${why})` : ''}`);
    throw new LayerfoldError('IO', `${this.label}: ${what}: the registry answered ${res.status}${why ? ` (${why})` : ''}`);
  }

  /** Whether `url` is the registry itself (same scheme, host and port), not where it redirected. */
  private isRegistry(url: URL): boolean {
    return url.origin === new URL(this.http.base(this.host)).origin;
  }

  /** A manifest or index by tag or digest; verified when `expected` (a digest) is given. */
  async manifest(reference: string, expected?: { digest: string; size?: number }): Promise<FetchedManifest> {
    const what = reference.includes(':') ? `manifest ${reference}` : `tag ${reference}`;
    return this.http.retrying(async () => {
      const res = await this.get(`/v2/${this.ref.repository}/manifests/${reference}`, { accept: MANIFEST_TYPES.join(', ') }, what);
      const bytes = await readBody(res, MAX_MANIFEST, `${this.label}: ${what}`).catch((e: unknown) => {
        // a body that broke off or stalled: name it and the host it came from, then retry
        if (e instanceof NetTimeoutError) throw new NetTimeoutError(`${this.label}: ${what}: ${e.message}`);
        if (isTransientStreamError(e)) throw new TransientError(`${this.label}: ${what}: ${res.url.host}: the transfer broke off (${(e as Error).message})`);
        throw e;
      });
      const contentType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
      let mediaType = contentType;
      try {
        const declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
        if (typeof declared === 'string') mediaType = declared;
      } catch {
        throw new LayerfoldError('BAD_LAYOUT', `${this.label}: ${what} is not valid JSON`);
      }
      const algorithm = expected ? algorithmOf(expected.digest) : 'sha256';
      const digest = digestOf(bytes, algorithm);
      if (expected) {
        if (expected.size !== undefined && expected.size !== bytes.length) {
          throw new LayerfoldError('DIGEST_MISMATCH', `${this.label}: ${what} is ${bytes.length} bytes, but its descriptor says ${expected.size}`);
        }
        if (digest !== expected.digest) throw new LayerfoldError('DIGEST_MISMATCH', `${this.label}: ${what}: content is ${digest}, but it was asked for by ${expected.digest}`);
      }
      // the registry's own claim is checked in its algorithm (one we can verify; any other is advisory only)
      const served = res.headers['docker-content-digest'];
      if (isDigest(served) && digestOf(bytes, algorithmOf(served)) !== served) {
        throw new LayerfoldError('DIGEST_MISMATCH', `${this.label}: ${what}: content is ${digestOf(bytes, algorithmOf(served))}, but the registry says ${served}`);
      }
      return { bytes, mediaType, digest };
    });
  }

  /** The response whose body is the blob; the caller streams, verifies and retries. `signal` ends the request. */
  blob(digest: string, what: string, signal?: AbortSignal): Promise<HttpResponse> {
    return this.get(`/v2/${this.ref.repository}/blobs/${digest}`, {}, what, signal);
  }

  close(): void {
    this.http.close();
  }
}
