#!/usr/bin/env node
// Records what a real `docker cp` does with symlinks as the source (trailing `/`, `/.`, -L, a link to
// `/`, a chain, one climbing above the root, a dangling one, a loop, a link to a file) into
// fixtures/docker/cp-links/: image.tar (`docker save` of the image), created.txt (the container's
// Created time, for --docker-init), docker-version.txt, and recorded.json — per case the command,
// docker's exit code and stderr, and what it wrote: for DEST `-` the tar's members (name|type|link),
// for a disk DEST (a new name `out`, or an existing directory `ex`) the tree under DEST's parent.
// test/copy-out.test.ts runs layerfold cp on the same image and holds it to these records.
//
//   DOCKER_HOST=unix:///tmp/dk26/sock node scripts/record-cp-links.js [OUT]   (engine: ../shared/docker-engine.md;
//   OUT defaults to fixtures/docker/cp-links; Docker 20.10's record is in fixtures/docker/cp-links-docker20)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tarMembers, treeRows as treeOf } from './cp-rows.js';

const repo = new URL('..', import.meta.url).pathname;
const out = process.argv[2] ?? join(repo, 'fixtures/docker/cp-links');
const work = mkdtempSync(join(tmpdir(), 'layerfold-cp-links-'));
const docker = (...args) => execFileSync('docker', args, { encoding: 'utf8' }).trim();

/** The image's tree: every kind of link a cp source can be. */
function makeRoot(root) {
  for (const d of ['data/sub', 'etc']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'data/a'), 'a\n');
  writeFileSync(join(root, 'data/sub/b'), 'b\n');
  writeFileSync(join(root, 'etc/x'), 'x\n');
  const links = {
    root: '/', // the case: /root/ is the whole tree
    dlink: 'data', // relative, to a directory
    alink: '/data', // absolute
    chain1: 'chain2', // chain1 → chain2 → /alink → /data
    chain2: '/alink',
    dangling: '/nope',
    outside: '../../../data', // climbs above the root: the kernel (and docker) stop at the root
    'outside-dangling': '../../../../nope',
    flink: 'data/a', // to a file
    'data/uplink': '../etc', // inside the copied tree, pointing out of it
    loop1: 'loop2',
    loop2: 'loop1',
    dsub: 'dlink/sub', // through another link
  };
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(root, name));
}

const CASES = [
  ...['/root', '/root/', '/root/.', '/dlink', '/dlink/', '/dlink/.', '/alink/', '/chain1', '/chain1/', '/dangling', '/dangling/', '/outside', '/outside/', '/outside/a', '/outside-dangling/', '/flink', '/flink/', '/loop1/', '/dsub', '/dsub/', '/data/', '/data/uplink/', '/dlink/sub/'].map((path) => ({ path, follow: false })),
  ...['/alink', '/chain1', '/flink', '/dangling', '/outside', '/dlink/', '/loop1', '/dsub'].map((path) => ({ path, follow: true })),
];

async function main() {
  makeRoot(join(work, 'root'));
  execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=2024-01-01', '-C', join(work, 'root'), '-cf', join(work, 'base.tar'), '.']);
  const id = docker('import', join(work, 'base.tar'), 'layerfold-cp-links:1');
  const ctr = docker('create', id, '/x');
  try {
    mkdirSync(out, { recursive: true });
    docker('save', '-o', join(out, 'image.tar'), 'layerfold-cp-links:1');
    writeFileSync(join(out, 'created.txt'), `${docker('inspect', '-f', '{{.Created}}', ctr)}\n`);
    writeFileSync(join(out, 'docker-version.txt'), `${docker('version', '-f', 'engine {{.Server.Version}}, client {{.Client.Version}}')}\n`);
    const records = [];
    for (const c of CASES) {
      for (const dest of ['-', 'out', 'ex']) {
        const at = join(work, 'd');
        rmSync(at, { recursive: true, force: true });
        mkdirSync(at);
        if (dest === 'ex') mkdirSync(join(at, 'ex'));
        const args = ['cp', ...(c.follow ? ['-L'] : []), `${ctr}:${c.path}`, dest === '-' ? '-' : join(at, dest)];
        const r = spawnSync('docker', args, { maxBuffer: 1 << 26 });
        const stderr = r.stderr.toString().trim().replaceAll(ctr, 'CTR').replaceAll(at, 'DEST').replace(/\/\S*?\/merged/g, 'ROOTFS'); // 20.10 names its data root
        const written = dest === '-' ? (r.status === 0 ? await tarMembers(r.stdout) : []) : treeOf(at);
        records.push({ command: `docker ${args.join(' ').replace(ctr, 'CTR').replace(at, 'DEST')}`, path: c.path, follow: c.follow, dest, code: r.status, stderr, written });
      }
    }
    writeFileSync(join(out, 'recorded.json'), `${JSON.stringify({ note: 'made by scripts/record-cp-links.js; docker cp CTR:PATH DEST of a created (never started) container', records }, null, 1)}\n`);
    console.log(`${records.length} cases recorded in ${out}`);
  } finally {
    docker('rm', ctr);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
