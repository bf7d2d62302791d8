#!/usr/bin/env node
// Real OCI registries on loopback for the docker:// tests and the benchmark: Debian's `docker-registry`
// (the CNCF distribution registry), configured three ways — plain HTTP; TLS with a self-signed
// certificate and htpasswd (Basic) auth; plain HTTP with bearer-token auth from a small token
// service here (RS256 JWTs whose certificate the registry trusts) — and images pushed with skopeo.
// Only 127.0.0.1 is ever used.
//
//   node scripts/registry-setup.js serve [ARCHIVE]   one plain registry with ARCHIVE (default: the
//        natural-docker26 fixture) pushed as 127.0.0.1:PORT/bench:1; prints the reference; Ctrl-C stops
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createSign, randomUUID, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HOST = '127.0.0.1';

/** Tools the suite needs, each missing one named (for the one-line skip reason). */
export function missingTools() {
  return ['docker-registry', 'skopeo', 'openssl', 'htpasswd'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(url, tls, child, log) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}):\n${readFileSync(log, 'utf8').slice(-2000)}`);
    const ok = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...(tls ? ['-k'] : []), url]).stdout?.toString();
    if (ok && ok !== '000') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer at ${url}`);
}

/** A self-signed certificate for 127.0.0.1 (and its key), written into dir. */
export function makeCert(dir, name = 'tls') {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=IP:${HOST}`], { stdio: 'ignore' });
  return { cert, key };
}

/**
 * Start one registry. options: { tls: {cert,key}, htpasswd: {user,pass}, token: {realm, service, issuer, rootcertbundle} }.
 * Resolves to { host: '127.0.0.1:PORT', dir, stop() }.
 */
export async function startRegistry(base, name, options = {}) {
  const dir = join(base, name);
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${join(dir, 'storage')} }, delete: { enabled: true } }`,
    'http:',
    `  addr: ${HOST}:${port}`,
  ];
  if (options.tls) lines.push(`  tls: { certificate: ${options.tls.cert}, key: ${options.tls.key} }`);
  if (options.htpasswd) {
    const file = join(dir, 'htpasswd');
    writeFileSync(file, execFileSync('htpasswd', ['-Bbn', options.htpasswd.user, options.htpasswd.pass]));
    lines.push(`auth: { htpasswd: { realm: layerfold-test, path: ${file} } }`);
  }
  if (options.token) {
    const t = options.token;
    lines.push(`auth: { token: { realm: "${t.realm}", service: ${t.service}, issuer: ${t.issuer}, rootcertbundle: ${t.rootcertbundle} } }`);
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const log = join(dir, 'log');
  const out = (await import('node:fs')).openSync(log, 'w');
  // A watchdog shell stops the registry when this process dies without stopping it (a crashed test).
  const watchdog = `docker-registry serve "$1" & r=$!; trap 'kill $r; exit 0' TERM; while kill -0 ${process.pid} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1 & wait $!; done; kill $r 2>/dev/null`;
  const child = spawn('sh', ['-c', watchdog, 'registry', config], { stdio: ['ignore', out, out] });
  const host = `${HOST}:${port}`;
  await waitFor(`${options.tls ? 'https' : 'http'}://${host}/v2/`, !!options.tls, child, log);
  return {
    host,
    dir,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * skopeo copy SRC docker://DEST, TLS not verified (the registries here are self-signed or plain).
 * Asynchronous: the token service answering skopeo runs in this process.
 */
export function push(src, dest, creds) {
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', ['copy', '-q', '--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : []), src, `docker://${dest}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`skopeo copy ${src} docker://${dest}: exit ${code}: ${err.trim()}`))));
  });
}

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

/**
 * The bearer-token service docker's registries use (distribution's token spec): GET ?service&scope
 * with optional Basic auth → {"token": JWT}. Anonymous callers get pull on repositories under
 * `public/`; `users` (name → password) get pull and push everywhere; a wrong password is a 401.
 */
export async function startTokenService(dir, users, issuer, service) {
  const { cert, key } = makeCert(dir, 'token');
  const der = new X509Certificate(readFileSync(cert)).raw;
  const privateKey = readFileSync(key);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${HOST}`);
    let user;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (users[name] !== rest.join(':')) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end('{"details":"incorrect username or password"}');
      }
      user = name;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      const granted = user ? actions.split(',') : name.startsWith('public/') ? ['pull'] : [];
      return granted.length ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: url.searchParams.get('service') ?? service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signing).sign(privateKey).toString('base64url');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${signing}.${signature}`, expires_in: 300 }));
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const realm = `http://${HOST}:${server.address().port}/token`;
  return { realm, rootcertbundle: cert, issuer, service, close: () => new Promise((r) => server.close(r)) };
}

/**
 * The three registries of the test suite, with nothing pushed yet.
 * creds: the htpasswd / token user. Returns { plain, secure, token, tlsCert, creds, stop() }.
 */
export async function startTestRegistries(creds = { user: 'tester', pass: 's3cret:pass' }) {
  const base = mkdtempSync(join(tmpdir(), 'layerfold-registries-'));
  const started = [];
  try {
    const tls = makeCert(base);
    const plain = await startRegistry(base, 'plain');
    started.push(plain);
    const secure = await startRegistry(base, 'secure', { tls, htpasswd: creds });
    started.push(secure);
    const tokenService = await startTokenService(base, { [creds.user]: creds.pass }, 'layerfold-test-issuer', 'layerfold-test');
    const token = await startRegistry(base, 'token', { token: tokenService });
    started.push(token, { stop: tokenService.close });
    return {
      base,
      plain,
      secure,
      token,
      tlsCert: tls.cert,
      creds,
      async stop() {
        for (const s of started) await s.stop();
        rmSync(base, { recursive: true, force: true });
      },
    };
  } catch (e) {
    for (const s of started) await s.stop();
    rmSync(base, { recursive: true, force: true });
    throw e;
  }
}

async function serve(archive) {
  const base = mkdtempSync(join(tmpdir(), 'layerfold-registry-'));
  const registry = await startRegistry(base, 'plain');
  const ref = `${registry.host}/bench:1`;
  await push(`docker-archive:${archive}`, ref);
  console.log(`docker://${ref}`);
  console.log(`  layerfold export docker://${ref} --insecure -o rootfs.tar`);
  console.log(`  skopeo copy --src-tls-verify=false docker://${ref} docker-archive:image.tar && layerfold export image.tar -o rootfs.tar`);
  const stop = async () => {
    await registry.stop();
    rmSync(base, { recursive: true, force: true });
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command, archive] = process.argv.slice(2);
  if (command !== 'serve') {
    console.error('usage: node scripts/registry-setup.js serve [ARCHIVE]');
    process.exit(2);
  }
  const missing = missingTools();
  if (missing.length) {
    console.error(`registry-setup: missing ${missing.join(', ')} (apt-get install docker-registry skopeo openssl apache2-utils)`);
    process.exit(2);
  }
  await serve(archive ?? new URL('../fixtures/conformance/natural-docker26/image.tar', import.meta.url).pathname);
}
