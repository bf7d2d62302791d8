/**
 * docker:// against real registries on loopback (Debian's docker-registry, the CNCF distribution
 * registry, started by scripts/registry-setup.js): plain HTTP; TLS with a self-signed certificate and
 * htpasswd auth; bearer tokens from a token service. Images are pushed with skopeo from the real
 * docker fixtures, so the registry holds skopeo's gzip (or zstd) re-compression of them; flattening
 * from the registry must give the same bytes as flattening the archive (itself checked against
 * docker's export in conformance.test.ts). Failures — 404, 401, an untrusted certificate, a tampered
 * blob served by a small proxy — must be one line and exit 2; a broken-off transfer is retried.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { exportRootfs } from '../src/index.js';
import { formatPlatform, hostPlatform } from '../src/read/platform.js';
import { parseChallenge, credentialsFromDockerConfig } from '../src/read/registry/auth.js';
import { choosePlatform } from '../src/read/registry/pull.js';
import { parseDockerReference } from '../src/read/registry/reference.js';
// @ts-expect-error: a plain JS script shared with the benchmark
import { freePort, missingTools, push, startTestRegistries } from '../scripts/registry-setup.js';
import { scratchDir } from './support/build.js';
import { expectOneLine, exportOf } from './support/cli.js';

const D26 = 'fixtures/conformance/natural-docker26/image.tar';
const D20 = 'fixtures/conformance/natural-docker20/image.tar';
const D20_ZSTD = 'fixtures/conformance/natural-docker20/image-oci-zstd.tar';

interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const out: Buffer[] = [];
  let err = '';
  const stdout = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c));
  const stderr = new PassThrough();
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  try {
    const code = await run(args, { stdin: new PassThrough(), stdout, stderr, env: process.env });
    return { code, stdout: Buffer.concat(out), stderr: err };
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}


describe('docker references (docker normalisation rules)', () => {
  it.each([
    ['alpine', 'docker.io', 'library/alpine', 'latest', 'docker.io/library/alpine:latest'],
    ['user/app:1.0', 'docker.io', 'user/app', '1.0', 'docker.io/user/app:1.0'],
    ['index.docker.io/library/busybox', 'docker.io', 'library/busybox', 'latest', 'docker.io/library/busybox:latest'],
    ['localhost/app', 'localhost', 'app', 'latest', 'localhost/app:latest'],
    ['localhost:5000/a/b:v2', 'localhost:5000', 'a/b', 'v2', 'localhost:5000/a/b:v2'],
    ['ghcr.io/o/r', 'ghcr.io', 'o/r', 'latest', 'ghcr.io/o/r:latest'],
    ['127.0.0.1:5000/x_y.z-w', '127.0.0.1:5000', 'x_y.z-w', 'latest', '127.0.0.1:5000/x_y.z-w:latest'],
  ])('%s', (text, registry, repository, tag, canonical) => {
    expect(parseDockerReference(text)).toEqual({ registry, repository, tag, canonical });
  });

  it('a digest is kept, and no tag is implied next to it', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseDockerReference(`quay.io/o/r@${digest}`)).toEqual({ registry: 'quay.io', repository: 'o/r', digest, canonical: `quay.io/o/r@${digest}` });
    expect(parseDockerReference(`r:1@${digest}`).tag).toBe('1');
  });

  it.each(['Alpine', 'a//b', 'x@sha256:abc', 'x:-bad', 'host:port/x', ''])('%j is refused', (text) => {
    expect(() => parseDockerReference(text)).toThrow(/USAGE|not/);
  });
});

describe('registry auth pieces', () => {
  it('parses a bearer challenge, quoted and bare', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    expect(parseChallenge('Basic realm=x')).toEqual({ scheme: 'basic', params: { realm: 'x' } });
  });

  it('reads base64 auths from docker config, Docker Hub under its v1 key', () => {
    const dir = scratchDir();
    const auth = (s: string) => Buffer.from(s).toString('base64');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: auth('hub:pw') }, 'reg.example:5000': { auth: auth('me:a:b') } } }));
    const env = { DOCKER_CONFIG: dir };
    expect(credentialsFromDockerConfig('docker.io', env)).toMatchObject({ username: 'hub', password: 'pw' });
    expect(credentialsFromDockerConfig('reg.example:5000', env)).toMatchObject({ username: 'me', password: 'a:b' });
    expect(credentialsFromDockerConfig('other.example', env)).toBeUndefined();
  });

  it('chooses a platform from an index, skipping attestations', () => {
    const d = (digit: string, os: string, architecture: string, variant?: string) => ({
      digest: `sha256:${digit.repeat(64)}`,
      size: 1,
      platform: { os, architecture, ...(variant ? { variant } : {}) },
    });
    const entries = [d('a', 'linux', 'amd64'), d('b', 'linux', 'arm64', 'v8'), d('c', 'unknown', 'unknown')];
    expect(choosePlatform(entries, { os: 'linux', architecture: 'arm64' }, 'x').digest).toBe(`sha256:${'b'.repeat(64)}`);
    expect(choosePlatform([entries[0]!, entries[2]!], undefined, 'x').digest).toBe(`sha256:${'a'.repeat(64)}`);
    expect(() => choosePlatform(entries, { os: 'linux', architecture: 's390x' }, 'x')).toThrow(/linux\/s390x; the registry has: linux\/amd64, linux\/arm64\/v8/);
  });
});

const missing = missingTools();
if (missing.length) console.log(`registry tests skipped: ${missing.join(', ')} not installed (apt-get install docker-registry skopeo openssl apache2-utils)`);

describe.skipIf(missing.length > 0)('docker:// from real registries on loopback', () => {
  let regs: {
    plain: { host: string };
    secure: { host: string };
    token: { host: string };
    tlsCert: string;
    creds: { user: string; pass: string };
    stop(): Promise<void>;
  };
  let creds: string;
  let ref26: Buffer;
  let ref20: Buffer;
  const noConfig = scratchDir(); // DOCKER_CONFIG without a config.json: the user's own never leaks in

  beforeAll(async () => {
    regs = await startTestRegistries();
    creds = `${regs.creds.user}:${regs.creds.pass}`;
    const p = regs.plain.host;
    await Promise.all([
      push(`docker-archive:${D26}`, `${p}/x:1`),
      push(`oci-archive:${D20_ZSTD}`, `${p}/zstd:1`),
      push(`docker-archive:${D26}`, `${p}/multi:a`),
      push(`docker-archive:${D20}`, `${p}/multi:b`),
      push(`docker-archive:${D26}`, `${regs.secure.host}/x:1`, creds),
      push(`docker-archive:${D26}`, `${regs.token.host}/public/x:1`, creds),
      push(`docker-archive:${D26}`, `${regs.token.host}/private/x:1`, creds),
    ]);
    [ref26, ref20] = await Promise.all([exportOf(D26), exportOf(D20)]);
    process.env.DOCKER_CONFIG = noConfig;
  }, 120_000);

  afterAll(async () => {
    await regs?.stop();
  });

  async function manifestOf(repoTag: string): Promise<{ digest: string; size: number; mediaType: string; body: { layers: Array<{ digest: string }>; config: { digest: string } } }> {
    const [repo, tag] = repoTag.split(':') as [string, string];
    const res = await fetch(`http://${regs.plain.host}/v2/${repo}/manifests/${tag}`, {
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
    });
    const text = await res.text();
    return { digest: res.headers.get('docker-content-digest')!, size: Buffer.byteLength(text), mediaType: res.headers.get('content-type')!, body: JSON.parse(text) };
  }

  it('plain HTTP with --insecure: the same bytes as the archive', async () => {
    const r = await cli(['export', `docker://${regs.plain.host}/x:1`, '--insecure', '-o', '-']);
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(ref26)).toBe(true);
  });

  it('zstd layers pushed from an OCI archive: the same bytes as the docker archive they came from', async () => {
    const r = await cli(['export', `docker://${regs.plain.host}/zstd:1`, '--insecure', '-o', '-']);
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(ref20)).toBe(true);
  });

  it('by digest, and by tag and digest', async () => {
    const { digest } = await manifestOf('x:1');
    for (const name of [`x@${digest}`, `x:1@${digest}`]) {
      const r = await cli(['export', `docker://${regs.plain.host}/${name}`, '--insecure', '-o', '-']);
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref26)).toBe(true);
    }
  });

  it('config takes --insecure (and the other source options) as export does', async () => {
    const r = await cli(['config', `docker://${regs.plain.host}/x:1`, '--insecure', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(Object.keys(JSON.parse(r.stdout.toString()) as object)).toContain('Cmd');
  });

  it('a plain-HTTP registry without --insecure is one line', async () => {
    expectOneLine(await cli(['export', `docker://${regs.plain.host}/x:1`, '-o', '-']), /does not speak TLS \(use --insecure/);
  });

  it('a missing tag, repository and digest are one line, exit 2', async () => {
    const p = regs.plain.host;
    expectOneLine(await cli(['export', `docker://${p}/x:nope`, '--insecure', '-o', '-']), new RegExp(`docker://${p}/x:nope: tag nope not found in the registry \\(MANIFEST_UNKNOWN`));
    expectOneLine(await cli(['export', `docker://${p}/nothing/here:1`, '--insecure', '-o', '-']), /not found in the registry \((NAME|MANIFEST)_UNKNOWN/);
    expectOneLine(await cli(['export', `docker://${p}/x@sha256:${'0'.repeat(64)}`, '--insecure', '-o', '-']), /manifest sha256:0{64} not found in the registry/);
  });

  describe('a manifest list resolved with --platform', () => {
    const here = hostPlatform();
    const other = { os: 'linux', architecture: here.architecture === 's390x' ? 'ppc64le' : 's390x' };

    beforeAll(async () => {
      const [a, b] = await Promise.all([manifestOf('multi:a'), manifestOf('multi:b')]);
      const list = {
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
        manifests: [
          { mediaType: a.mediaType, digest: a.digest, size: a.size, platform: here },
          { mediaType: b.mediaType, digest: b.digest, size: b.size, platform: other },
        ],
      };
      const res = await fetch(`http://${regs.plain.host}/v2/multi/manifests/both`, {
        method: 'PUT',
        headers: { 'content-type': list.mediaType },
        body: JSON.stringify(list),
      });
      expect(res.status).toBe(201);
    });

    it('default: the host platform', async () => {
      const r = await cli(['export', `docker://${regs.plain.host}/multi:both`, '--insecure', '-o', '-']);
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref26)).toBe(true);
    });

    it('--platform picks the other image', async () => {
      expect(ref20.equals(ref26)).toBe(false);
      const r = await cli(['export', `docker://${regs.plain.host}/multi:both`, '--insecure', '--platform', formatPlatform(other), '-o', '-']);
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref20)).toBe(true);
    });

    it('a platform that is not there lists those that are', async () => {
      expectOneLine(
        await cli(['export', `docker://${regs.plain.host}/multi:both`, '--insecure', '--platform', 'linux/riscv64', '-o', '-']),
        new RegExp(`no image for platform linux/riscv64; the registry has: ${formatPlatform(here)}, ${formatPlatform(other)}`),
      );
    });
  });

  describe('TLS with a self-signed certificate and htpasswd auth', () => {
    it('trusted through SSL_CERT_FILE, with --creds: the same bytes', async () => {
      const r = await cli(['export', `docker://${regs.secure.host}/x:1`, '--creds', creds, '-o', '-'], { SSL_CERT_FILE: regs.tlsCert });
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref26)).toBe(true);
    });

    it('credentials from docker config.json (base64 auth)', async () => {
      const dir = scratchDir();
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [`https://${regs.secure.host}`]: { auth: Buffer.from(creds).toString('base64') } } }));
      const r = await cli(['export', `docker://${regs.secure.host}/x:1`, '-o', '-'], { SSL_CERT_FILE: regs.tlsCert, DOCKER_CONFIG: dir });
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref26)).toBe(true);
    });

    it('an untrusted certificate is one line naming the way out', async () => {
      expectOneLine(await cli(['export', `docker://${regs.secure.host}/x:1`, '--creds', creds, '-o', '-']), /TLS certificate not trusted \(self[- ]signed certificate\).*--insecure/);
    });

    it('--insecure skips verification', async () => {
      const r = await cli(['export', `docker://${regs.secure.host}/x:1`, '--creds', creds, '--insecure', '-o', '-']);
      expect(r.stdout.equals(ref26)).toBe(true);
    });

    it('no credentials, and wrong ones, are one line (401)', async () => {
      const url = `docker://${regs.secure.host}/x:1`;
      expectOneLine(await cli(['export', url, '--insecure', '-o', '-']), /authentication required; give --creds USER:PASS/);
      expectOneLine(await cli(['export', url, '--insecure', '--creds', 'tester:wrong', '-o', '-']), /access denied \(401 UNAUTHORIZED.*\) with the credentials from --creds/);
    });
  });

  describe('bearer tokens (the challenge flow)', () => {
    it('anonymous token for a public repository', async () => {
      const r = await cli(['export', `docker://${regs.token.host}/public/x:1`, '--insecure', '-o', '-']);
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref26)).toBe(true);
    });

    it('a token for the credentials on a private repository', async () => {
      const r = await cli(['export', `docker://${regs.token.host}/private/x:1`, '--insecure', '--creds', creds, '-o', '-']);
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref26)).toBe(true);
    });

    it('anonymous on a private repository, and a wrong password, are one line', async () => {
      const url = `docker://${regs.token.host}/private/x:1`;
      expectOneLine(await cli(['export', url, '--insecure', '-o', '-']), /authentication required/);
      expectOneLine(await cli(['export', url, '--insecure', '--creds', 'tester:bad', '-o', '-']), /access denied \(401\) with the credentials from --creds/);
    });
  });

  describe('through a proxy that misbehaves', () => {
    type Mode = 'tamper' | 'reset-once' | 'busy-once' | 'pass';
    let mode: Mode = 'pass';
    let layerDigests: string[] = [];
    let upset = 0;
    let proxy: http.Server;
    let proxyHost = '';

    beforeAll(async () => {
      layerDigests = (await manifestOf('x:1')).body.layers.map((l) => l.digest);
      proxy = http.createServer((req, res) => {
        const isLayer = layerDigests.some((d) => req.url?.endsWith(`/blobs/${d}`));
        if (mode === 'busy-once' && upset === 0 && req.url?.includes('/manifests/')) {
          upset++;
          res.writeHead(503).end();
          return;
        }
        const up = http.request({ host: '127.0.0.1', port: Number(regs.plain.host.split(':')[1]), path: req.url, method: req.method, headers: req.headers }, (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          let first = true;
          upRes.on('data', (chunk: Buffer) => {
            if (isLayer && mode === 'tamper' && first) {
              chunk = Buffer.from(chunk);
              chunk[chunk.length - 1]! ^= 0xff;
            }
            if (isLayer && mode === 'reset-once' && upset === 0) {
              upset++;
              res.write(chunk.subarray(0, chunk.length >> 1));
              res.socket?.destroy();
              upRes.destroy();
              return;
            }
            first = false;
            res.write(chunk);
          });
          upRes.on('end', () => res.end());
        });
        req.pipe(up);
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      proxyHost = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    });

    afterAll(async () => {
      await new Promise((r) => proxy?.close(r));
    });

    it('a tampered layer blob is DIGEST_MISMATCH, one line, nothing left behind', async () => {
      mode = 'tamper';
      const tmp = scratchDir();
      const out = join(scratchDir(), 'rootfs.tar');
      const r = await cli(['export', `docker://${proxyHost}/x:1`, '--insecure', '--tmpdir', tmp, '-o', out]);
      expectOneLine(r, /docker:\/\/127\.0\.0\.1:\d+\/x:1: layer \d \(sha256:[0-9a-f]{12}…\): content is sha256:[0-9a-f]{64}, but the manifest names sha256:[0-9a-f]{64}/);
      expect(readdirSync(tmp)).toEqual([]);
      expect(readdirSync(join(out, '..'))).toEqual([]);
    });

    it('a transfer that breaks off is retried', async () => {
      mode = 'reset-once';
      upset = 0;
      const r = await cli(['export', `docker://${proxyHost}/x:1`, '--insecure', '-o', '-']);
      expect(upset).toBe(1);
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref26)).toBe(true);
    });

    it('a 503 is retried', async () => {
      mode = 'busy-once';
      upset = 0;
      const r = await cli(['export', `docker://${proxyHost}/x:1`, '--insecure', '-o', '-']);
      expect(upset).toBe(1);
      expect(r.stderr).toBe('');
      expect(r.stdout.equals(ref26)).toBe(true);
    });
  });

  it('a closed port is one line without retries', async () => {
    const port = await freePort();
    const started = Date.now();
    expectOneLine(await cli(['export', `docker://127.0.0.1:${port}/x:1`, '--insecure', '-o', '-']), /127\.0\.0\.1:\d+: connection refused/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
