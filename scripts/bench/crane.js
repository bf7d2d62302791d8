/**
 * crane (google/go-containerregistry), the peer people would pick instead of layerfold, built once into
 * the bench directory from Debian trixie's packages only (../shared/notes/crane.md): the Go toolchain and
 * the Go sources Debian ships, downloaded with trixie's index and unpacked beside the system with
 * `dpkg-deb -x` (nothing is installed), then `go build` in GOPATH mode, offline. About a minute.
 * The binary and everything downloaded stay under `--dir`, never in the repository.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './measure.js';

const PACKAGES = [
  'golang-1.24-go', 'golang-1.24-src', 'golang-github-google-go-containerregistry-dev',
  'golang-github-containerd-stargz-snapshotter-dev', 'golang-github-klauspost-compress-dev', 'golang-github-opencontainers-go-digest-dev',
  'golang-github-opencontainers-image-spec-dev', 'golang-github-mitchellh-go-homedir-dev', 'golang-golang-x-sync-dev',
  'golang-github-docker-distribution-dev', 'golang-github-spf13-cobra-dev', 'golang-github-google-go-cmp-dev',
  'golang-github-cespare-xxhash-dev', 'golang-github-vbatts-tar-split-dev', 'golang-github-spf13-pflag-dev',
  'golang-github-docker-docker-dev', 'golang-github-docker-docker-credential-helpers-dev', 'golang-github-pkg-errors-dev',
  'golang-github-sirupsen-logrus-dev', 'golang-golang-x-sys-dev',
];

/** Path of a crane binary under `benchDir/crane/bin`, built on first use. Throws when it cannot be built. */
export function ensureCrane(benchDir, log = () => {}) {
  const w = join(benchDir, 'crane');
  const bin = join(w, 'bin', 'crane');
  if (existsSync(bin)) return bin;
  log(`  building crane from Debian trixie's Go packages into ${w} (about a minute, once)`);
  for (const d of ['debs', 'root', 'lists', 'aptcache/archives/partial', 'bin']) mkdirSync(join(w, d), { recursive: true });
  // The machine's own Debian mirror, with the suite trixie (as ../shared/docker-engine.md does).
  const mirror = sh("grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | cut -d' ' -f2").trim() || 'http://deb.debian.org/debian';
  writeFileSync(join(w, 'sources.list'), `deb ${mirror} trixie main\n`);
  const apt = `-o Dir::Etc::SourceList=${w}/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=${w}/lists -o Dir::Cache=${w}/aptcache`;
  sh(`apt-get ${apt} update -qq`, { stdio: ['ignore', 'ignore', 'pipe'] });
  sh(`cd ${w}/debs && apt-get ${apt} download -qq ${PACKAGES.join(' ')}`, { stdio: ['ignore', 'ignore', 'pipe'] });
  for (const deb of readdirSync(join(w, 'debs')).filter((f) => f.endsWith('.deb'))) sh(`dpkg-deb -x ${join(w, 'debs', deb)} ${w}/root`);
  const goroot = `${w}/root/usr/lib/go-1.24`;
  const env = {
    ...process.env, GOROOT: goroot, PATH: `${goroot}/bin:${process.env.PATH}`, GOPATH: `${w}/root/usr/share/gocode`,
    GO111MODULE: 'off', GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '', GOCACHE: `${w}/gocache`, CGO_ENABLED: '0',
  };
  sh(`cd ${w}/root/usr/share/gocode/src/github.com/google/go-containerregistry && go build -trimpath -o ${bin} ./cmd/crane`, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return bin;
}
