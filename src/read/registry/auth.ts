/**
 * Registry authentication, as docker does it:
 * - credentials: `--creds USER:PASS`, else docker's config (`$DOCKER_CONFIG/config.json`, default
 *   `~/.docker/config.json`): a `credHelpers` / `credsStore` helper (`docker-credential-NAME get`), or
 *   `auths[host].auth` (base64 `user:pass`) / `username` + `password`; none means anonymous;
 * - the first request goes out without credentials; a 401's `WWW-Authenticate` says what to do next:
 *   `Basic` → send the credentials; `Bearer realm=…,service=…,scope=…` → get a token from the realm
 *   (with the credentials as Basic auth when there are any, anonymously otherwise) and send it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LayerfoldError } from '../../errors.js';
import { readBody, type RegistryHttp } from './http.js';

export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for messages. */
  from: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `--creds USER:PASS` */
export function parseCreds(text: string): Credentials {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new LayerfoldError('USAGE', '--creds takes USER:PASS');
  return { username: text.slice(0, colon), password: text.slice(colon + 1), from: '--creds' };
}

/** Config keys name registries in several ways: `https://index.docker.io/v1/`, `host:port`, `http://host/path`. */
function hostOfKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!.toLowerCase();
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function fromHelper(helper: string, serverKey: string): Credentials | undefined {
  try {
    const out = execFileSync(`docker-credential-${helper}`, ['get'], { input: serverKey, timeout: 10_000, stdio: ['pipe', 'pipe', 'ignore'] });
    const parsed = JSON.parse(out.toString('utf8')) as { Username?: string; Secret?: string };
    if (parsed.Username && parsed.Secret) return { username: parsed.Username, password: parsed.Secret, from: `docker-credential-${helper}` };
  } catch {
    // a helper that is missing or knows nothing of this registry: anonymous
  }
  return undefined;
}

/** Credentials for `registry` (host[:port], `docker.io` for Docker Hub) from docker's config file. */
export function credentialsFromDockerConfig(registry: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const file = join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json');
  if (!existsSync(file)) return undefined;
  let config: DockerConfig;
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as DockerConfig;
  } catch (e) {
    throw new LayerfoldError('USAGE', `${file}: not valid JSON (${(e as Error).message})`);
  }
  const key = registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry;
  const helperKey = Object.keys(config.credHelpers ?? {}).find((k) => hostOfKey(k) === registry);
  if (helperKey) return fromHelper(config.credHelpers![helperKey]!, key);
  const authKey = Object.keys(config.auths ?? {}).find((k) => hostOfKey(k) === registry);
  const entry = authKey ? config.auths![authKey]! : undefined;
  if (entry?.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), from: file };
  }
  if (entry?.username && entry.password) return { username: entry.username, password: entry.password, from: file };
  if (config.credsStore) return fromHelper(config.credsStore, key);
  return undefined;
}

/** Parse `Bearer realm="…",service="…",scope="…"` (quoted or bare values). */
export function parseChallenge(header: string): Challenge {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const m of (space < 0 ? '' : header.slice(space + 1)).matchAll(re)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return { scheme, params };
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** The Authorization header for one registry and repository, obtained on demand from 401 challenges. */
export class RegistryAuth {
  private header: string | undefined;

  constructor(
    private readonly http: RegistryHttp,
    readonly registry: string,
    private readonly repository: string,
    readonly credentials: Credentials | undefined,
  ) {}

  headers(): Record<string, string> {
    return this.header ? { authorization: this.header } : {};
  }

  /** Answer a 401: returns true when there is a new Authorization header worth a retry. */
  async answer(wwwAuthenticate: string | undefined, label: string): Promise<boolean> {
    if (!wwwAuthenticate) return false;
    const challenge = parseChallenge(wwwAuthenticate);
    if (challenge.scheme === 'basic') {
      if (!this.credentials) throw this.required(label);
      const next = basic(this.credentials);
      if (next === this.header) return false;
      this.header = next;
      return true;
    }
    if (challenge.scheme === 'bearer') {
      const token = await this.token(challenge, label);
      const next = `Bearer ${token}`;
      if (next === this.header) return false;
      this.header = next;
      return true;
    }
    throw new LayerfoldError('UNSUPPORTED', `${label}: the registry asks for ${challenge.scheme} authentication, which is not supported`);
  }

  private async token(challenge: Challenge, label: string): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new LayerfoldError('AUTH', `${label}: the registry's Bearer challenge names no token realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new LayerfoldError('AUTH', `${label}: the registry's token realm ${JSON.stringify(realm)} is not a URL`);
    }
    // The realm may be another host (auth.docker.io for Docker Hub): the registry names it, and the
    // credentials go there as docker sends them. Never in clear text, though, unless --insecure.
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new LayerfoldError('AUTH', `${label}: the registry's token realm ${url.protocol}//${url.host} is not http(s), refused`);
    }
    if (url.protocol === 'http:' && !this.http.insecure) {
      throw new LayerfoldError('AUTH', `${label}: the registry's token realm ${url.host} is plain http, refused: nothing is sent in clear text without --insecure`);
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', challenge.params.scope ?? `repository:${this.repository}:pull`);
    const headers: Record<string, string> = this.credentials ? { authorization: basic(this.credentials) } : {};
    const res = await this.http.retrying(() => this.http.get(url.host, url.href, headers));
    const body = await readBody(res, 1 << 20, `${url.host} token`);
    if (res.status === 401 || res.status === 403) {
      throw this.credentials ? this.refused(label, res.status, body) : this.required(label);
    }
    if (res.status !== 200) throw new LayerfoldError('AUTH', `${label}: the token service ${url.host} answered ${res.status}`);
    let parsed: { token?: string; access_token?: string };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new LayerfoldError('AUTH', `${label}: the token service ${url.host} did not answer JSON`);
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new LayerfoldError('AUTH', `${label}: the token service ${url.host} gave no token`);
    return token;
  }

  required(label: string): LayerfoldError {
    return new LayerfoldError('AUTH', `${label}: authentication required; give --creds USER:PASS or log in with docker login ${this.registry}`);
  }

  refused(label: string, status: number, body?: Buffer): LayerfoldError {
    const why = body ? registryErrorText(body) : '';
    const from = this.credentials ? ` with the credentials from ${this.credentials.from}` : ' anonymously';
    return new LayerfoldError('AUTH', `${label}: access denied (${status}${why ? ` ${why}` : ''})${from}`);
  }
}

/** The registry's error body (`{"errors":[{"code":…,"message":…}]}`) as a short phrase. */
export function registryErrorText(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }>; details?: string };
    const first = parsed.errors?.[0];
    if (first) return [first.code, first.message].filter(Boolean).join(': ');
  } catch {
    // not JSON: say nothing more
  }
  return '';
}
