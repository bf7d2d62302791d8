/**
 * Push a written image (an OCI layout in a private temporary directory) to a registry, with the pull
 * side's stack: RegistryClient's TLS trust, credentials and 401 answers (auth.ts), http.ts's agents
 * and retries of transient failures. For each blob: `HEAD` (already there: skipped), else a cross-repo
 * mount when the image came from another repository of the same registry (`POST ?mount=&from=`; a
 * 202 instead of 201 is an upload session, used as one), else `POST` an upload and `PUT` it whole
 * with its digest. Then the manifest is `PUT` under the tag — the last request, so a push that fails
 * before leaves no tag — and read back by the pull side's client, which verifies its digest.
 * A failure names the request (method, path) and the registry's answer.
 */
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { addContext, LayerfoldError } from '../errors.js';
import { registryErrorText } from '../read/registry/auth.js';
import { RegistryClient } from '../read/registry/client.js';
import { readBody, TransientError, type HttpResponse } from '../read/registry/http.js';
import type { DockerReference } from '../read/registry/reference.js';
import { blobName } from './image-target.js';

export interface PushOptions {
  creds?: string;
  insecure?: boolean;
  env?: NodeJS.ProcessEnv;
  /** A repository of the same registry that holds the kept blobs (the image was pulled from it). */
  mountFrom?: string;
  attempts?: number;
  backoffMs?: number;
}

/** What is pushed: the manifest and the blobs it names (all in `dir`, an OCI layout). */
export interface PushImage {
  manifestBytes: Buffer;
  manifestType: string;
  manifestDigest: string;
  /** Absent for an index. */
  configDigest?: string;
  layers: Array<{ digest: string }>;
  /** An index: its manifests, pushed first by digest. */
  children?: PushImage[];
}

export interface PushResult {
  uploaded: number;
  mounted: number;
  existing: number;
}

const TIMEOUT_MS = 60_000;
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

type Body = Buffer | (() => Readable) | undefined;

class Pusher {
  private readonly client: RegistryClient;
  private readonly repo: string;

  constructor(
    readonly ref: DockerReference,
    options: PushOptions,
  ) {
    this.client = new RegistryClient(ref, {
      ...(options.creds !== undefined ? { creds: options.creds } : {}),
      ...(options.insecure ? { insecure: true } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
      ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
    });
    this.repo = ref.repository;
  }

  get label(): string {
    return this.client.label;
  }

  /** One request through the client's agent; no redirects (uploads are not redirected). */
  private send(method: string, url: URL, headers: Record<string, string>, body: Body, length?: number): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const lib = url.protocol === 'http:' ? http : https;
      const all: Record<string, string> = { ...headers };
      if (body !== undefined) all['content-length'] = String(Buffer.isBuffer(body) ? body.length : (length ?? 0));
      const req = lib.request(url, { method, headers: all, agent: this.client.http.agentFor(url) }, (res) => {
        res.setTimeout(TIMEOUT_MS, () => res.destroy(Object.assign(new Error('read timed out'), { code: 'ETIMEDOUT' })));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      req.setTimeout(TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const transient = ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED'].includes(e.code ?? '');
        reject(transient ? new TransientError(`${url.host}: ${method} ${url.pathname}: ${e.message}`) : new LayerfoldError('IO', `${this.label}: ${method} ${url.pathname}: ${e.message}`));
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const stream = body();
        stream.on('error', (e) => req.destroy(e));
        stream.pipe(req);
      }
    });
  }

  /** An authenticated request: a 401 is answered once (auth.ts) and the request sent again. */
  async request(method: string, pathOrUrl: string, headers: Record<string, string>, body?: Body, length?: number): Promise<HttpResponse> {
    const url = new URL(pathOrUrl, this.client.http.base(this.client.host));
    let res = await this.send(method, url, { ...headers, ...this.client.auth.headers() }, body, length);
    if (res.status === 401) {
      res.body.resume();
      if (await this.client.auth.answer(res.headers['www-authenticate'], this.label)) {
        res = await this.send(method, url, { ...headers, ...this.client.auth.headers() }, body, length);
      }
    }
    if (TRANSIENT_STATUS.has(res.status)) {
      res.body.resume();
      throw new TransientError(`${this.label}: ${method} ${url.pathname}: the registry answered ${res.status}`);
    }
    return res;
  }

  /** A response that is not one of `ok` becomes one line naming the request. */
  async expect(res: HttpResponse, ok: number[], method: string): Promise<void> {
    if (ok.includes(res.status)) return;
    const body = await readBody(res, 64 * 1024, 'error body').catch(() => Buffer.alloc(0));
    const why = registryErrorText(body);
    const what = `${this.label}: ${method} ${res.url.pathname}`;
    if (res.status === 401 && !this.client.auth.credentials) throw this.client.auth.required(this.label);
    if (res.status === 401 || res.status === 403) throw new LayerfoldError('AUTH', `${what}: access denied (${res.status}${why ? ` ${why}` : ''})`);
    throw new LayerfoldError('IO', `${what}: the registry answered ${res.status}${why ? ` (${why})` : ''}`);
  }

  /** `GET /v2/`: finds out whether an --insecure registry speaks plain HTTP (http.get remembers). */
  async ping(): Promise<void> {
    try {
      await this.client.http.retrying(async () => {
        const res = await this.client.http.get(this.client.host, '/v2/', {});
        res.body.resume();
      });
    } catch (e) {
      throw addContext(`${this.label}: GET /v2/`, e);
    }
  }

  async exists(digest: string): Promise<boolean> {
    return this.client.http.retrying(async () => {
      const res = await this.request('HEAD', `/v2/${this.repo}/blobs/${digest}`, {});
      res.body.resume();
      if (res.status === 200) return true;
      if (res.status === 404) return false;
      await this.expect(res, [200, 404], 'HEAD');
      return false;
    });
  }

  /** Mount from another repository; the upload location when the registry starts an upload instead. */
  async mount(digest: string, from: string): Promise<{ mounted: true } | { mounted: false; location?: string }> {
    return this.client.http.retrying(async () => {
      const res = await this.request('POST', `/v2/${this.repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {}, Buffer.alloc(0));
      res.body.resume();
      if (res.status === 201) return { mounted: true as const };
      const location = res.headers.location;
      if (res.status === 202 && location) return { mounted: false as const, location };
      return { mounted: false as const };
    });
  }

  async upload(digest: string, path: string, started?: string): Promise<void> {
    const size = statSync(path).size;
    let location = started;
    await this.client.http.retrying(async () => {
      if (location === undefined) {
        const res = await this.request('POST', `/v2/${this.repo}/blobs/uploads/`, {}, Buffer.alloc(0));
        await this.expect(res, [202], 'POST');
        res.body.resume();
        const loc = res.headers.location;
        if (!loc) throw new LayerfoldError('IO', `${this.label}: POST /v2/${this.repo}/blobs/uploads/: the registry gave no upload location`);
        location = loc;
      }
      const url = new URL(location, this.client.http.base(this.client.host));
      url.searchParams.set('digest', digest);
      location = undefined; // a retry starts a new upload
      const res = await this.request('PUT', url.href, { 'content-type': 'application/octet-stream' }, () => createReadStream(path), size);
      await this.expect(res, [201], `PUT (blob ${digest})`);
      res.body.resume();
    });
  }

  /** PUT a manifest under a tag or its digest. */
  async putManifest(tag: string, image: PushImage): Promise<void> {
    await this.client.http.retrying(async () => {
      const res = await this.request('PUT', `/v2/${this.repo}/manifests/${tag}`, { 'content-type': image.manifestType }, image.manifestBytes);
      await this.expect(res, [200, 201], 'PUT');
      res.body.resume();
      const served = res.headers['docker-content-digest'];
      if (typeof served === 'string' && served !== image.manifestDigest) {
        throw new LayerfoldError('DIGEST_MISMATCH', `${this.label}: PUT /v2/${this.repo}/manifests/${tag}: the registry stored ${served}, but the manifest is ${image.manifestDigest}`);
      }
    });
  }

  /** Read the tag back through the pull side's client, which checks its digest. */
  async verify(tag: string, image: PushImage): Promise<void> {
    const got = await this.client.manifest(tag);
    if (got.digest !== image.manifestDigest) {
      throw new LayerfoldError('DIGEST_MISMATCH', `${this.label}: GET /v2/${this.repo}/manifests/${tag} gives ${got.digest}, but ${image.manifestDigest} was pushed`);
    }
  }

  close(): void {
    this.client.close();
  }
}

export async function pushLayout(dir: string, image: PushImage, ref: DockerReference, options: PushOptions = {}): Promise<PushResult> {
  const tag = ref.tag ?? 'latest';
  const pusher = new Pusher(ref, options);
  const result: PushResult = { uploaded: 0, mounted: 0, existing: 0 };
  try {
    await pusher.ping();
    const images = image.children ?? [image];
    const blobs = images.flatMap((im) => [...im.layers.map((l) => l.digest), ...(im.configDigest ? [im.configDigest] : [])]);
    for (const digest of [...new Set(blobs)]) {
      if (await pusher.exists(digest)) {
        result.existing++;
        continue;
      }
      let location: string | undefined;
      if (options.mountFrom !== undefined && options.mountFrom !== ref.repository) {
        const mount = await pusher.mount(digest, options.mountFrom);
        if (mount.mounted) {
          result.mounted++;
          continue;
        }
        location = mount.location;
      }
      await pusher.upload(digest, join(dir, ...blobName(digest).split('/')), location);
      result.uploaded++;
    }
    // an index's manifests go by digest: the tag, last, is the only name a failed push never gets
    for (const child of image.children ?? []) await pusher.putManifest(child.manifestDigest, child);
    await pusher.putManifest(tag, image);
    await pusher.verify(tag, image);
    return result;
  } finally {
    pusher.close();
  }
}
