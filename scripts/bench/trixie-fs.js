/**
 * Debian trixie's filesystem builders that read a tar (issue 15's peers): e2fsprogs 1.47.2
 * (`mke2fs -d TAR`, through libarchive, which Debian only suggests), erofs-utils 1.8.6
 * (`mkfs.erofs --tar=f`) and squashfs-tools 4.6.1 (`sqfstar`), with the libraries they load and
 * trixie's own libc6: they need glibc 2.38, bookworm has 2.36. Downloaded with trixie's index from the
 * machine's Debian mirror and unpacked beside the system with `dpkg-deb -x` (nothing is installed), as
 * scripts/fixtures/engine.js does for Docker 26 and scripts/bench/crane.js for Go. Each tool runs through
 * trixie's loader: `bin/NAME` under the folder is a wrapper
 * `exec root/usr/lib64/ld-linux-x86-64.so.2 --library-path root/usr/lib/x86_64-linux-gnu BIN "$@"`.
 *
 *   node scripts/bench/trixie-fs.js [DIR]     prints DIR/trixie-fs/bin (default DIR /tmp/layerfold-bench)
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { debianMirror } from '../fixtures/engine.js';
import { sh } from './measure.js';

const PACKAGES = [
  'e2fsprogs', 'erofs-utils', 'squashfs-tools', 'libc6',
  // e2fsprogs
  'libext2fs2t64', 'libcom-err2', 'libss2', 'libblkid1', 'libuuid1',
  // libarchive (dlopened by mke2fs for -d TAR)
  'libarchive13t64', 'libacl1', 'libbz2-1.0', 'libnettle8t64', 'libxml2',
  // erofs-utils and squashfs-tools
  'liblz4-1', 'liblzma5', 'libzstd1', 'zlib1g', 'libdeflate0', 'libselinux1', 'libpcre2-8-0', 'libxxhash0', 'liblzo2-2',
];

/** name of the wrapper → the binary under root/ */
const TOOLS = {
  mke2fs: 'usr/sbin/mke2fs', 'mkfs.erofs': 'usr/bin/mkfs.erofs', sqfstar: 'usr/bin/sqfstar',
  mksquashfs: 'usr/bin/mksquashfs', unsquashfs: 'usr/bin/unsquashfs', 'fsck.erofs': 'usr/bin/fsck.erofs', e2fsck: 'usr/sbin/e2fsck',
};

/**
 * The folder of wrappers (`bin/mke2fs`, `bin/mkfs.erofs`, `bin/sqfstar`, …) under `benchDir/trixie-fs`,
 * unpacked on first use (a few seconds with a near mirror). Throws when it cannot be made.
 */
export function ensureTrixieFs(benchDir, log = () => {}) {
  const w = join(benchDir, 'trixie-fs');
  const bin = join(w, 'bin');
  if (Object.keys(TOOLS).every((t) => existsSync(join(bin, t)))) return bin;
  log(`  unpacking Debian trixie's e2fsprogs, erofs-utils and squashfs-tools into ${w} (once)`);
  for (const d of ['debs', 'root', 'lists/partial', 'aptcache/archives/partial', 'bin']) mkdirSync(join(w, d), { recursive: true });
  writeFileSync(join(w, 'sources.list'), `deb ${debianMirror()} trixie main\n`);
  const apt = `-o Dir::Etc::SourceList=${w}/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=${w}/lists -o Dir::Cache=${w}/aptcache`;
  sh(`apt-get ${apt} update -qq`, { stdio: ['ignore', 'ignore', 'pipe'] });
  sh(`cd ${w}/debs && apt-get ${apt} download -qq ${PACKAGES.join(' ')}`, { stdio: ['ignore', 'ignore', 'pipe'] });
  for (const deb of readdirSync(join(w, 'debs')).filter((f) => f.endsWith('.deb'))) sh(`dpkg-deb -x ${join(w, 'debs', deb)} ${w}/root`);
  const ld = join(w, 'root/usr/lib64/ld-linux-x86-64.so.2');
  const libs = join(w, 'root/usr/lib/x86_64-linux-gnu');
  for (const [name, path] of Object.entries(TOOLS)) {
    writeFileSync(join(bin, name), `#!/bin/sh\nexec ${ld} --library-path ${libs} ${join(w, 'root', path)} "$@"\n`, { mode: 0o755 });
  }
  // fails here (with the loader's message) when a library is missing
  sh(`${join(bin, 'sqfstar')} -version && ${join(bin, 'mke2fs')} -V && ${join(bin, 'mkfs.erofs')} -V`, { stdio: ['ignore', 'ignore', 'pipe'] });
  return bin;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(ensureTrixieFs(process.argv[2] ?? '/tmp/layerfold-bench', (m) => console.error(m.trim())));
}
