/**
 * The benchmark's one real image: a Debian bookworm minbase root (debootstrap, from Debian's mirror)
 * as the base layer, and four RUN-like layers made the way overlay2 records a container's changes:
 * deletions as `.wh.` files, a recreated directory as an opaque marker, replaced files and chmods as
 * full copies, a hardlink as a link entry next to its copied-up target. Packaged as a legacy
 * `docker save`. Layers are tarred by GNU tar (`--sort=name --numeric-owner`) from staging
 * directories, so real file metadata (modes, owners, setuid binaries, symlinks) is kept.
 * Cached: the root under CACHE/debian/rootfs (+ rootfs.complete) and the image under CACHE/debian-image.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, utimesSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assembleArchive } from './generator.js';

const MTIME = 1_704_153_600; // 2024-01-02T00:00:00Z, the RUN layers' file times

function sha256File(path) {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** Make `rel`'s parent directories in stage with the metadata they have in root (as overlay copies up). */
function stageParents(root, stage, rel) {
  const parts = rel.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const sub = parts.slice(0, i).join('/');
    const target = join(stage, sub);
    if (existsSync(target)) continue;
    mkdirSync(target);
    const st = existsSync(join(root, sub)) ? statSync(join(root, sub)) : undefined;
    if (st) {
      chmodSync(target, st.mode & 0o7777);
      utimesSync(target, st.atime, st.mtime);
    }
  }
}

function copyUp(root, stage, rel, mode) {
  stageParents(root, stage, rel);
  copyFileSync(join(root, rel), join(stage, rel));
  chmodSync(join(stage, rel), mode ?? statSync(join(root, rel)).mode & 0o7777);
  utimesSync(join(stage, rel), MTIME, MTIME);
}

function whiteout(root, stage, rel) {
  stageParents(root, stage, rel);
  const slash = rel.lastIndexOf('/');
  writeFileSync(join(stage, `${rel.slice(0, slash)}/.wh.${rel.slice(slash + 1)}`), '');
}

function writeNew(root, stage, rel, content) {
  stageParents(root, stage, rel);
  writeFileSync(join(stage, rel), content);
  utimesSync(join(stage, rel), MTIME, MTIME);
}

function listFiles(root, rel) {
  return readdirSync(join(root, rel))
    .sort()
    .map((n) => `${rel}/${n}`)
    .filter((p) => lstatSync(join(root, p)).isFile());
}

/** The RUN layers, each a function filling a staging directory from the base root. */
const RUN_LAYERS = [
  // RUN rm -rf /usr/share/doc/* /usr/share/man && useradd app
  (root, stage) => {
    for (const n of readdirSync(join(root, 'usr/share/doc')).sort()) whiteout(root, stage, `usr/share/doc/${n}`);
    if (existsSync(join(root, 'usr/share/man'))) whiteout(root, stage, 'usr/share/man');
    for (const f of ['etc/passwd', 'etc/group']) {
      writeNew(root, stage, f, `${readFileSync(join(root, f), 'latin1')}app:x:1000:1000::/home/app:/bin/sh\n`);
    }
  },
  // RUN chmod 0700 /usr/bin/* (first 40) && sed -i … (replace 30 libraries) && ln /usr/bin/perl /usr/local/bin/perl5
  (root, stage) => {
    const bins = listFiles(root, 'usr/bin');
    for (const f of bins.slice(0, 40)) copyUp(root, stage, f, 0o700);
    const libs = listFiles(root, 'usr/lib/x86_64-linux-gnu').filter((f) => f.includes('.so'));
    for (const f of libs.slice(0, 30)) {
      stageParents(root, stage, f);
      writeFileSync(join(stage, f), Buffer.concat([readFileSync(join(root, f)), Buffer.from('patched\n')]));
      utimesSync(join(stage, f), MTIME, MTIME);
    }
    const perl = existsSync(join(root, 'usr/bin/perl')) ? 'usr/bin/perl' : bins[bins.length - 1];
    if (!existsSync(join(stage, perl))) copyUp(root, stage, perl);
    stageParents(root, stage, 'usr/local/bin/perl5');
    linkSync(join(stage, perl), join(stage, 'usr/local/bin/perl5'));
  },
  // RUN rm -rf /var/lib/apt/lists /var/cache/debconf && mkdir -p … && apt-get update (new lists)
  (root, stage) => {
    for (const dir of ['var/lib/apt/lists', 'var/cache/debconf']) {
      stageParents(root, stage, `${dir}/x`);
      writeFileSync(join(stage, dir, '.wh..wh..opq'), '');
      for (const f of listFiles(root, dir).slice(0, 3)) writeNew(root, stage, f, readFileSync(join(root, f)));
    }
    for (const f of listFiles(root, 'var/log')) whiteout(root, stage, f);
  },
  // COPY app /opt/app: 2000 new files, contents from the system's libraries
  (root, stage) => {
    const libs = listFiles(root, 'usr/lib/x86_64-linux-gnu');
    for (let i = 0; i < 2000; i++) {
      const src = readFileSync(join(root, libs[i % libs.length]));
      writeNew(root, stage, `opt/app/m${String(i % 40).padStart(2, '0')}/f${String(i).padStart(4, '0')}`, src.subarray(0, 1 + ((i * 7919) % Math.min(src.length, 1 << 16))));
    }
  },
];

function tarDir(dir, out) {
  const names = readdirSync(dir).sort();
  execFileSync('tar', ['-C', dir, '--sort=name', '--numeric-owner', '--format=posix', '--pax-option=delete=atime,delete=ctime', '-cf', out, ...names]);
}

export function ensureDebootstrap(cacheDir, log) {
  const base = join(cacheDir, 'debian');
  const root = join(base, 'rootfs');
  if (existsSync(`${root}.complete`)) return root;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  log(`debootstrap --variant=minbase bookworm ${root} (from Debian's mirror; a few minutes) …`);
  execFileSync('nice', ['-n', '10', 'debootstrap', '--variant=minbase', 'bookworm', root, 'http://deb.debian.org/debian'], { stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(`${root}.complete`, '');
  return root;
}

/** The Debian image (legacy docker save) under cacheDir/debian-image; returns a summary like ensureImage's. */
export function ensureDebianImage(cacheDir, log = () => undefined) {
  const dir = join(cacheDir, 'debian-image');
  const summaryPath = join(dir, 'summary.json');
  if (existsSync(summaryPath)) return JSON.parse(readFileSync(summaryPath, 'utf8'));
  const root = ensureDebootstrap(cacheDir, log);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'stage'), { recursive: true });
  log(`building the Debian image in ${dir} …`);
  const blobs = [join(dir, 'layer-0.tar')];
  tarDir(root, blobs[0]);
  RUN_LAYERS.forEach((fill, i) => {
    const stage = join(dir, 'stage', String(i + 1));
    mkdirSync(stage, { recursive: true });
    fill(root, stage);
    blobs.push(join(dir, `layer-${i + 1}.tar`));
    tarDir(stage, blobs[i + 1]);
  });
  rmSync(join(dir, 'stage'), { recursive: true, force: true });
  const layers = blobs.map((b) => {
    const digest = sha256File(b);
    return { diffId: digest, digest, size: statSync(b).size };
  });
  const image = join(dir, 'image.tar');
  assembleArchive(image, layers, blobs, { name: 'debian-bookworm', layout: 'legacy', compression: 'none' });
  for (const b of blobs) rmSync(b);
  const summary = {
    params: { name: 'debian-bookworm', layout: 'legacy', compression: 'none', layers: layers.length, real: 'debootstrap --variant=minbase bookworm + 4 RUN-like layers' },
    image,
    imageBytes: statSync(image).size,
    layers,
    uncompressedBytes: layers.reduce((n, l) => n + l.size, 0),
  };
  writeFileSync(summaryPath, JSON.stringify(summary, null, 2));
  return summary;
}

