#!/usr/bin/env node
/**
 * `npm run test:squash-docker [-- CASE...] [--engines 26,20] [--dk20-root DIR] [--keeps 0,1,2] [--no-cases]`: `layerfold squash`
 * against real engines. For every case of fixtures/conformance and fixtures/docker that docker accepted
 * (it has an export.tar), and each --keep N the image allows:
 *   squash image.tar → docker-load archive → `docker load` → `docker create` → `docker export`, compared
 *   with docker's export of the original (fixtures' export.tar on Docker 26.1, made by 26.1.5; on 20.10
 *   the original loaded into the same engine): the same entries in the same order, types, modes,
 *   owners, link targets, hardlink groups, xattrs (PAX records) and contents; mtimes equal except for
 *   directories the original's layers implied (their unpack time) and what `docker create` touched
 *   (its creation time). The kept layers' diff_ids, as the engine reports them, are the original's.
 * Then, on a few images: `podman load` and `skopeo inspect` of every output format, `docker run`
 * of a squashed busybox image against the original's output, and (Docker 26.1, with Debian's
 * docker-registry) a squash pushed to a loopback registry, `docker pull`ed, created and exported.
 * --no-cases runs only those.
 * Docker 26.1 is DOCKER_HOST (default the shared engine); Docker 20.10 is started here under
 * --dk20-root and stopped at the end. Images and containers are named squash-…, removed when done.
 * Exit 0 all agreed, 1 a disagreement, 2 an error.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import tarStream from 'tar-stream';
import { startEngine, removeEngineRoot, serverVersion } from './fixtures/engine.js';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const lib = {
  ...(await import(join(ROOT, 'dist/index.js'))),
  ...(await import(join(ROOT, 'dist/flatten.js'))),
  ...(await import(join(ROOT, 'dist/tree/node.js'))),
  ...(await import(join(ROOT, 'dist/tree/walk.js'))),
};
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : fallback;
};
const engines = flag('--engines', '26,20').split(',');
const dk20Root = flag('--dk20-root', '/tmp/squash-dk20');
const keeps = flag('--keeps', '0,1,2').split(',').map(Number);
const noCases = args.includes('--no-cases');
const only = args.filter((a) => !a.startsWith('--'));
const log = (line) => console.log(line);

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: opts.encoding ?? 'utf8', maxBuffer: 1 << 30, ...opts });
  return { code: r.status ?? 1, out: r.stdout, err: String(r.stderr ?? '') + (r.error ? String(r.error) : '') };
}
function docker(host, argv, opts = {}) {
  return run('docker', argv, { ...opts, env: { ...process.env, DOCKER_HOST: host } });
}
function must(r, what) {
  if (r.code !== 0) throw new Error(`${what}: ${r.err.trim() || r.out}`);
  return typeof r.out === 'string' ? r.out.trim() : r.out;
}

/** Entries of a tar as docker export writes it, with what we compare. */
async function tarEntries(path) {
  const extract = tarStream.extract();
  const entries = [];
  const done = new Promise((res, rej) => {
    extract.on('entry', (h, stream, next) => {
      const hash = createHash('sha256');
      stream.on('data', (c) => hash.update(c));
      stream.on('end', () => {
        const xattrs = Object.entries(h.pax ?? {}).filter(([k]) => k.startsWith('SCHILY.xattr.')).sort();
        entries.push({ name: h.name, type: h.type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, size: h.size, mtime: Math.floor(h.mtime.getTime() / 1000), linkname: h.linkname ?? '', devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0, xattrs: JSON.stringify(xattrs), sha: hash.digest('hex') });
        next();
      });
      stream.resume();
    });
    extract.on('finish', res);
    extract.on('error', rej);
  });
  extract.end(readFileSync(path));
  await done;
  return entries;
}

/** Directories the original's layers implied: docker gives them the unpack time. */
async function impliedDirs(image) {
  const flat = await lib.flattenImage(image);
  try {
    const names = new Set();
    for (const e of lib.walkTree(flat.tree)) if (e.node instanceof lib.Dir && e.node.implied) names.add(e.name);
    return names;
  } finally {
    flat.close();
  }
}

function compareExports(want, got, implied, wantCreated, gotCreated) {
  const problems = [];
  if (want.length === 0) problems.push("the original's export has no entries");
  const n = Math.max(want.length, got.length);
  for (let i = 0; i < n && problems.length < 5; i++) {
    const w = want[i];
    const g = got[i];
    if (!w || !g || w.name !== g.name) {
      problems.push(`entry ${i}: ${w?.name ?? '(none)'} in the original's export, ${g?.name ?? '(none)'} in the squashed one's`);
      break;
    }
    for (const field of ['type', 'mode', 'uid', 'gid', 'size', 'linkname', 'devmajor', 'devminor', 'xattrs', 'sha']) {
      if (w[field] !== g[field]) problems.push(`${w.name}: ${field} ${w[field]} vs ${g[field]}`);
    }
    // what docker create made or touched carries the creation time (to the second, which may tick over)
    const touchedByCreate = Math.abs(w.mtime - wantCreated) <= 2 && Math.abs(g.mtime - gotCreated) <= 2;
    if (w.mtime !== g.mtime && !implied.has(w.name) && !touchedByCreate) problems.push(`${w.name}: mtime ${w.mtime} vs ${g.mtime}`);
  }
  return problems;
}

function createdSeconds(host, container) {
  const text = must(docker(host, ['inspect', '--format', '{{.Created}}', container]), 'docker inspect');
  return Math.floor(Date.parse(text) / 1000);
}

/** docker load, create, export of `archive` (tagged `tag`); returns the export's path and the creation time. */
function loadAndExport(host, archive, tag, scratch, label) {
  must(docker(host, ['load', '-i', archive]), `${label}: docker load`);
  const container = `squash-c-${process.pid}-${label.replace(/[^a-z0-9]/gi, '-')}`.toLowerCase();
  try {
    must(docker(host, ['create', '--name', container, '--network', 'none', tag, '/x']), `${label}: docker create`);
    const out = join(scratch, `${container}.tar`);
    const exp = docker(host, ['export', '-o', out, container]);
    must(exp, `${label}: docker export`);
    const created = createdSeconds(host, container);
    const layers = JSON.parse(must(docker(host, ['image', 'inspect', '--format', '{{json .RootFS.Layers}}', tag]), 'docker image inspect'));
    return { path: out, created, layers };
  } finally {
    docker(host, ['rm', '-f', container]);
  }
}

function caseDirs() {
  const dirs = [];
  for (const top of ['fixtures/conformance', 'fixtures/docker']) {
    for (const name of readdirSync(join(ROOT, top)).sort()) {
      const dir = join(ROOT, top, name);
      if (!existsSync(join(dir, 'image.tar')) || !existsSync(join(dir, 'export.tar'))) continue;
      if (only.length && !only.includes(name)) continue;
      dirs.push({ name, dir });
    }
  }
  return dirs;
}

async function checkCase(c, engine, scratch, results) {
  const image = join(c.dir, 'image.tar');
  const inspect = await lib.inspectImage(image);
  const layerCount = inspect.layers.length;
  const diffIds = inspect.layers.map((l) => l.diffId);
  const implied = await impliedDirs(image);
  let original;
  if (engine.version.startsWith('20.')) {
    // the original in this engine: loaded under its own tag (a private engine), removed afterwards
    const flat = await lib.flattenImage(image);
    const tag = flat.image.name;
    flat.close();
    if (!tag) return results.push({ case: c.name, engine: engine.version, skipped: 'untagged original' });
    original = loadAndExport(engine.host, image, tag, scratch, `${c.name}-orig`);
    docker(engine.host, ['rmi', '-f', tag]);
  } else {
    const createdText = readFileSync(join(c.dir, 'created.txt'), 'utf8').trim();
    original = { path: join(c.dir, 'export.tar'), created: Math.floor(Date.parse(createdText) / 1000) };
  }
  const want = await tarEntries(original.path);
  for (const keep of keeps) {
    if (keep > 0 && keep >= layerCount) continue;
    const tag = `squash-${c.name}:k${keep}`.toLowerCase();
    const archive = join(scratch, `${c.name}-k${keep}.tar`);
    const label = `${c.name} --keep ${keep} on ${engine.version}`;
    try {
      await lib.squashImage(image, { output: archive, keep, tag });
      const got = loadAndExport(engine.host, archive, tag, scratch, `${c.name}-k${keep}`);
      const problems = compareExports(want, await tarEntries(got.path), implied, original.created, got.created);
      if (JSON.stringify(got.layers.slice(0, keep)) !== JSON.stringify(diffIds.slice(0, keep))) problems.push(`kept diff_ids ${got.layers.slice(0, keep)} differ from ${diffIds.slice(0, keep)}`);
      if (got.layers.length !== keep + 1) problems.push(`${got.layers.length} layers, expected ${keep + 1}`);
      results.push({ case: c.name, keep, engine: engine.version, problems });
      log(`${problems.length ? 'DIFFERS' : 'ok     '} ${label}${problems.length ? `: ${problems.join('; ')}` : ''}`);
      rmSync(got.path, { force: true });
    } catch (e) {
      results.push({ case: c.name, keep, engine: engine.version, problems: [String(e.message).split('\n')[0]] });
      log(`ERROR   ${label}: ${String(e.message).split('\n')[0]}`);
    } finally {
      docker(engine.host, ['rmi', '-f', tag]);
      rmSync(archive, { force: true });
    }
  }
  if (engine.version.startsWith('20.')) rmSync(original.path, { force: true });
}

/** podman load and skopeo inspect of every output format. */
async function checkFormats(image, scratch, results) {
  const outputs = [
    ['docker-archive', join(scratch, 'f-docker.tar'), {}],
    ['docker-archive gzip', join(scratch, 'f-docker-gz.tar'), { compression: 'gzip' }],
    ['oci-archive', `oci-archive:${join(scratch, 'f-oci.tar')}`, { compression: 'gzip' }],
    ['oci-archive zstd', `oci-archive:${join(scratch, 'f-oci-zst.tar')}`, { compression: 'zstd' }],
    // podman load names an OCI directory after its path, which must then be a valid (lowercase) name
    ['oci dir', `oci:${join(tmpdir(), `squash-formats-${process.pid}-oci`)}`, {}],
  ];
  for (const [what, output, extra] of outputs) {
    const problems = [];
    const tag = 'localhost/squash-formats:1';
    await lib.squashImage(image, { output, tag, keep: 1, ...extra });
    const path = output.replace(/^(oci-archive|oci):/, '');
    const transport = output.startsWith('oci:') ? `oci:${path}` : output.startsWith('oci-archive:') ? `oci-archive:${path}` : `docker-archive:${path}`;
    const sk = run('skopeo', ['inspect', transport]);
    if (sk.code !== 0) problems.push(`skopeo inspect: ${sk.err.trim()}`);
    const pl = run('podman', ['load', '-i', path]);
    if (pl.code !== 0) problems.push(`podman load: ${pl.err.trim()}`);
    else {
      const id = /Loaded image(?:\(s\))?: (\S+)/.exec(pl.out)?.[1];
      if (id) run('podman', ['rmi', '-f', id]);
    }
    results.push({ case: `formats: ${what}`, problems });
    log(`${problems.length ? 'DIFFERS' : 'ok     '} podman load + skopeo inspect of ${what}${problems.length ? `: ${problems.join('; ')}` : ''}`);
    rmSync(path, { recursive: true, force: true });
  }
}

/** `docker run` of a squashed busybox image prints what the original prints. */
async function checkRun(engine, image, scratch, results) {
  const flat = await lib.flattenImage(image);
  const originalTag = flat.image.name;
  flat.close();
  const existed = docker(engine.host, ['image', 'inspect', originalTag]).code === 0;
  const squashedTag = 'squash-run:1';
  const archive = join(scratch, 'run.tar');
  const script = 'echo hello; id; pwd; ls /; cat /etc/passwd | head -3; env | sort';
  try {
    must(docker(engine.host, ['load', '-i', image]), 'docker load (original)');
    await lib.squashImage(image, { output: archive, tag: squashedTag });
    must(docker(engine.host, ['load', '-i', archive]), 'docker load (squashed)');
    const runOf = (tag) => docker(engine.host, ['run', '--rm', '--network', 'none', '--hostname', 'h', tag, 'sh', '-c', script]);
    const a = runOf(originalTag);
    const b = runOf(squashedTag);
    const problems = [];
    if (a.code !== 0) problems.push(`original: exit ${a.code} ${a.err.trim()}`);
    if (a.out !== b.out || a.code !== b.code) problems.push(`outputs differ:\n${a.out}\n---\n${b.out}${b.err}`);
    results.push({ case: `docker run on ${engine.version}`, problems });
    log(`${problems.length ? 'DIFFERS' : 'ok     '} docker run of squashed ${originalTag} on ${engine.version}${problems.length ? `: ${problems.join('; ')}` : ` (${a.out.split('\n').length} lines alike)`}`);
  } finally {
    docker(engine.host, ['rmi', '-f', squashedTag]);
    if (!existed) docker(engine.host, ['rmi', '-f', originalTag]);
    rmSync(archive, { force: true });
  }
}

/** Push a squashed image to a loopback registry; `docker pull` of it exports as the original does. */
async function checkPull(engine, pair, registry, scratch, results) {
  const image = join(pair.dir, 'image.tar');
  const ref = `${registry.host}/squash-pull/${pair.name}:k1`;
  const label = `docker pull of a pushed squash (${pair.name} --keep 1) on ${engine.version}`;
  const problems = [];
  try {
    await lib.squashImage(image, { output: `docker://${ref}`, insecure: true, keep: 1 });
    must(docker(engine.host, ['pull', '-q', ref]), 'docker pull');
    const got = (() => {
      const container = `squash-pull-${process.pid}`;
      try {
        must(docker(engine.host, ['create', '--name', container, '--network', 'none', ref, '/x']), 'docker create');
        const out = join(scratch, 'pulled.tar');
        must(docker(engine.host, ['export', '-o', out, container]), 'docker export');
        return { path: out, created: createdSeconds(engine.host, container) };
      } finally {
        docker(engine.host, ['rm', '-f', container]);
      }
    })();
    const createdText = readFileSync(join(pair.dir, 'created.txt'), 'utf8').trim();
    const want = await tarEntries(join(pair.dir, 'export.tar'));
    problems.push(...compareExports(want, await tarEntries(got.path), await impliedDirs(image), Math.floor(Date.parse(createdText) / 1000), got.created));
  } catch (e) {
    problems.push(String(e.message).split('\n')[0]);
  } finally {
    docker(engine.host, ['rmi', '-f', ref]);
  }
  results.push({ case: label, problems });
  log(`${problems.length ? 'DIFFERS' : 'ok     '} ${label}${problems.length ? `: ${problems.join('; ')}` : ''}`);
}

async function main() {
  const scratch = mkdtempSync(join(tmpdir(), 'squash-docker-'));
  const results = [];
  const stops = [];
  try {
    for (const which of engines) {
      let engine;
      if (which === '26') {
        const host = process.env.DOCKER_HOST ?? 'unix:///tmp/shared-engines/dk26/sock';
        const version = serverVersion(host);
        if (!version) throw new Error(`no Docker engine answers on ${host}`);
        engine = { host, version };
      } else {
        engine = await startEngine('20', dk20Root, { log });
        stops.push(async () => {
          await engine.stop();
          removeEngineRoot(dk20Root);
        });
      }
      log(`Docker ${engine.version} on ${engine.host}`);
      if (!noCases) for (const c of caseDirs()) await checkCase(c, engine, scratch, results);
      const busybox = join(ROOT, 'fixtures/docker/build-busybox-realistic/image.tar');
      if (existsSync(busybox) && !only.length) await checkRun(engine, busybox, scratch, results);
      // the pairs were exported by Docker 26.1: on 20.10 the original would have to be loaded too
      if (!only.length && engine.version.startsWith('26.') && spawnSync('sh', ['-c', 'command -v docker-registry']).status === 0) {
        const { startRegistry } = await import('./registry-setup.js');
        const registry = await startRegistry(scratch, 'registry');
        try {
          for (const name of ['natural-docker26', 'build-busybox-ops']) {
            const pair = caseDirs().find((c) => c.name === name);
            if (pair) await checkPull(engine, pair, registry, scratch, results);
          }
        } finally {
          await registry.stop();
        }
      }
    }
    if (!only.length) await checkFormats(join(ROOT, 'fixtures/docker/build-busybox-realistic/image.tar'), scratch, results);
  } finally {
    for (const stop of stops) await stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  const bad = results.filter((r) => r.problems?.length);
  writeFileSync(join(tmpdir(), 'squash-docker-results.json'), JSON.stringify(results, null, 1));
  log(`\n${results.length - bad.length} of ${results.length} checks agree${bad.length ? `; differing: ${bad.map((r) => `${r.case}${r.keep !== undefined ? ` --keep ${r.keep}` : ''} (${r.engine ?? ''})`).join(', ')}` : ''}`);
  process.exitCode = bad.length ? 1 : 0;
}

main().catch((e) => {
  console.error(e.stack ?? String(e));
  process.exitCode = 2;
});
