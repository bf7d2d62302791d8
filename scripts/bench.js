#!/usr/bin/env node
/**
 * `npm run bench [-- FLAGS]`: layerfold beside the I/O floor and the tools people use instead
 * (issue 6). Generates deterministic images (scripts/bench/generator.js, cached under --dir), times
 * every command the same way (scripts/bench/measure.js: nice -n 10, GNU time, median of --runs after
 * one warm-up), prints ratios, and rewrites the generated sections of BENCHMARKS.md.
 *
 *   --quick              only the 100 MB image
 *   --scenario a,b       scenarios by name (see SCENARIOS; default: main, main-gzip, debian)
 *   --all                every scenario (adds main-zstd and the 1M-entry image)
 *   --only x,y           export, extract, squash, mkfs, floor, decompress, umoci, registry, docker, ttfb, profile
 *   --docker             also measure docker load + create + export, on a Docker 26 engine it starts
 *                        afresh for each run (scripts/fixtures/engine.js; needs root and Debian's mirror)
 *   --runs N             timed runs per measurement (default 5)
 *   --peer-runs N        timed runs of the slow ones: extract, umoci, docker (default: --runs; no warm-up)
 *   --dir DIR            image cache and scratch space (default /tmp/layerfold-bench)
 *   --peers              also crane (google/go-containerregistry), built once into --dir from Debian
 *                        trixie's packages (scripts/bench/crane.js); adds crane rows to every scenario;
 *                        and trixie's mke2fs -d TAR, mkfs.erofs --tar=f and sqfstar beside mkfs, unpacked
 *                        once into --dir (scripts/bench/trixie-fs.js; used without --peers when there)
 *   --no-write           print only; leave BENCHMARKS.md alone
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureImage } from './bench/generator.js';
import { ensureDebianImage } from './bench/debian.js';
import { ensureCrane } from './bench/crane.js';
import { ensureTrixieFs } from './bench/trixie-fs.js';
import { hasCommand, machine, measure, median, processCpu, sh, timeOnce } from './bench/measure.js';
import { removeEngineRoot, startEngine } from './fixtures/engine.js';
import { summarizeCpuProfile, summarizeHeapProfile } from './bench/profile.js';
import { commandList, fmtMiB, fmtRatio, fmtS, MB, resultTable, updateMarkdown } from './bench/report.js';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const BIN = join(ROOT, 'bin/layerfold.js');
// Run as users run it (the installed command), so its shebang flags apply.
const LF = BIN;
const GiB = 2 ** 30;
const MiB = 2 ** 20;

const SCENARIOS = {
  quick: { files: 10_000, bytes: 100 * MiB, layers: 5 },
  main: { files: 100_000, bytes: GiB, layers: 5 },
  'main-gzip': { files: 100_000, bytes: GiB, layers: 5, compression: 'gzip', layout: 'oci' },
  'main-zstd': { files: 100_000, bytes: GiB, layers: 5, compression: 'zstd', layout: 'oci' },
  'entries-1m': { files: 1_000_000, bytes: 256 * MiB, layers: 5, only: ['export'] },
  debian: { real: true },
  // the busybox-sized image most runs look like: start-up is most of the time (issue 16)
  small: { fixture: 'fixtures/conformance/natural-docker26/image.tar' },
};
const DEFAULT_SCENARIOS = ['main', 'main-gzip', 'debian'];
const PARTS = ['export', 'extract', 'squash', 'mkfs', 'floor', 'decompress', 'umoci', 'registry', 'docker', 'ttfb', 'profile'];

function parseArgs(argv) {
  const opts = { runs: 5, peerRuns: undefined, dir: '/tmp/layerfold-bench', write: true, docker: false, peers: false, scenarios: DEFAULT_SCENARIOS, only: PARTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--quick') opts.scenarios = ['quick'];
    else if (a === '--all') opts.scenarios = Object.keys(SCENARIOS);
    else if (a === '--scenario') opts.scenarios = value().split(',');
    else if (a === '--only') opts.only = value().split(',');
    else if (a === '--docker') opts.docker = true;
    else if (a === '--peers') opts.peers = true;
    else if (a === '--runs') opts.runs = Number(value());
    else if (a === '--peer-runs') opts.peerRuns = Number(value());
    else if (a === '--dir') opts.dir = value();
    else if (a === '--no-write') opts.write = false;
    else usage(`unknown flag ${a}`);
  }
  for (const s of opts.scenarios) if (!SCENARIOS[s]) usage(`unknown scenario ${s} (known: ${Object.keys(SCENARIOS).join(', ')})`);
  for (const p of opts.only) if (!PARTS.includes(p)) usage(`unknown part ${p} (known: ${PARTS.join(', ')})`);
  if (!(opts.runs >= 1)) usage('--runs takes a positive number');
  opts.peerRuns ??= opts.runs;
  if (!(opts.peerRuns >= 1)) usage('--peer-runs takes a positive number');
  return opts;
}

function usage(message) {
  console.error(`bench: ${message}\nusage: npm run bench -- [--quick | --all | --scenario a,b] [--only ${PARTS.join(',')}] [--docker] [--peers] [--runs N] [--dir DIR] [--no-write]`);
  process.exit(2);
}

const log = (...a) => console.error(...a);

/**
 * docker load + create + export, each run on a Docker 26 engine started for it with an empty store
 * (scripts/fixtures/engine.js; untimed): an engine that has loaded the image once keeps its layers
 * even after `docker rmi` (here the container's mount references outlive `docker rm -f`), and every
 * later load then skips the unpacking that is most of docker's work.
 */
async function measureDocker(img, out, runs, work) {
  const tag = JSON.parse(sh(`tar -xOf ${img} manifest.json`))[0].RepoTags[0];
  const cmd = `docker load -q -i ${img} >/dev/null && docker create --name lfbench ${tag} /bin/sh >/dev/null && docker export lfbench > ${out}.docker`;
  const samples = [];
  let version;
  for (let i = 0; i < runs; i++) {
    const root = join(work, 'docker-engine');
    removeEngineRoot(root);
    const engine = await startEngine('26', root, { log });
    version = engine.version;
    try {
      const pids = [engine.pid, ...sh(`pgrep -P ${engine.pid} || true`).trim().split(/\s+/).filter(Boolean).map(Number)];
      const engineCpu = () => pids.reduce((n, pid) => n + processCpu(pid), 0);
      const before = engineCpu();
      sh('sync');
      const sample = timeOnce(cmd, { env: { ...process.env, DOCKER_HOST: engine.host } });
      samples.push({ wall: sample.wall, cpu: sample.cpu + engineCpu() - before });
    } finally {
      await engine.stop();
      removeEngineRoot(root);
      sh(`rm -f ${out}.docker`);
    }
  }
  return { cmd, version, runs, wall: median(samples.map((x) => x.wall)), cpu: median(samples.map((x) => x.cpu)) };
}

/** skopeo's OCI layout of the image, for umoci (made once, cached beside the image). */
function umociLayout(summary, dir) {
  const layout = join(dir, 'umoci-oci');
  if (!existsSync(join(layout, 'index.json'))) {
    const transport = summary.params.layout === 'oci' ? 'oci-archive' : 'docker-archive';
    log(`  skopeo copy ${transport}:… oci:${layout}:bench`);
    sh(`skopeo copy --quiet ${transport}:${summary.image} oci:${layout}:bench`);
  }
  return layout;
}

function countEntries(tarFile) {
  return Number(sh(`tar -tf ${tarFile} | wc -l`).trim());
}

/** All measurements of one scenario. Returns rows, basis and extras for the report. */
async function runScenario(name, opts) {
  const spec = SCENARIOS[name];
  const { only: _only, real, fixture, ...params } = spec;
  const summary = fixture ? fixtureImage(fixture) : real ? ensureDebianImage(opts.dir, log) : await ensureImage({ name, ...params }, opts.dir, log);
  const parts = new Set(opts.only.filter((p) => !spec.only || spec.only.includes(p)));
  const dir = join(opts.dir, spec.real ? 'debian-image' : summary.key);
  mkdirSync(dir, { recursive: true });
  const crane = opts.peers ? ensureCrane(opts.dir, log) : undefined;
  const work = join(opts.dir, 'work');
  mkdirSync(work, { recursive: true });
  const img = summary.image;
  const out = join(work, `${name}.tar`);
  const runs = opts.runs;
  const slow = { runs: opts.peerRuns, warmup: opts.peerRuns < opts.runs ? 0 : 1 };
  const load = [loadavg()[0]];
  const rows = [];
  const add = (label, cmd, m, note) => {
    const row = { label, cmd, ...m, ...(note ? { note } : {}) };
    rows.push(row);
    log(`  ${label.padEnd(34)} wall ${fmtS(m.wall)} s  cpu ${fmtS(m.cpu)} s  rss ${m.rss === undefined ? '–' : fmtMiB(m.rss)} MiB`);
    return row;
  };
  log(`\n== ${name}: ${img} (${(summary.imageBytes / MB).toFixed(0)} MB)`);

  // layerfold export to a file always runs: its output is the floor's reference size
  const exportCmd = `${LF} export ${img} -o ${out}`;
  const self = add('layerfold export -o FILE', exportCmd, measure(exportCmd, { runs, prepare: `rm -f ${out}` }));
  const bytes = statSync(out).size;
  const entries = countEntries(out);
  const extras = { bytes, entries, summary };
  if (parts.has('export')) {
    const nullCmd = `${LF} export ${img} -o - > /dev/null`;
    add('layerfold export -o - > /dev/null', nullCmd, measure(nullCmd, { runs }));
    const nvCmd = `${LF} export ${img} --no-verify -o ${out}`;
    add('layerfold export --no-verify -o FILE', nvCmd, measure(nvCmd, { runs, prepare: `rm -f ${out}` }));
    // crane reads docker save's manifest.json from stdin, not an OCI archive ("manifest.json not found")
    if (crane && summary.params.layout !== 'oci') {
      // the same input crane gets: stdin, which layerfold spools once to a temporary file, as crane does
      const stdinCmd = `${LF} export - -o ${out} < ${img}`;
      add('layerfold export - -o FILE < image', stdinCmd, measure(stdinCmd, { runs, prepare: `rm -f ${out}` }));
      // crane copies stdin to a temporary file (io.Copy), then flattens it layer by layer, top first
      // (mutate.Extract); from a tarball it checks no digest: neither diff_ids nor the config's name
      const craneCmd = `${crane} export - ${out}.crane < ${img}`;
      add('crane export - FILE < image', craneCmd, measure(craneCmd, { runs, prepare: `rm -f ${out}.crane` }));
      sh(`rm -f ${out}.crane`);
    }
  }
  if (fixture && parts.has('export')) {
    // what start-up costs, beside Node's own
    add('node start-up (node -e 0)', 'node -e 0', measure('node -e 0', { runs }));
    add('layerfold --version', `${LF} --version`, measure(`${LF} --version`, { runs }));
    add('layerfold --help', `${LF} --help`, measure(`${LF} --help`, { runs }));
  }
  if (parts.has('extract') && existsSync(join(ROOT, 'src/cli/extract-command.ts'))) {
    const target = join(work, `${name}-extract`);
    const cmd = `${LF} extract ${img} ${target}`;
    try {
      add('layerfold extract DIR', cmd, measure(cmd, { ...slow, prepare: `rm -rf ${target}` }));
      // the target of issue 16: GNU tar unpacking the same export, as root, with its xattrs
      const tarCmd = `mkdir -p ${target} && tar --xattrs -xpf ${out} -C ${target}`;
      add('tar --xattrs -xpf of the export', tarCmd, measure(tarCmd, { ...slow, prepare: `rm -rf ${target}` }));
    } catch (e) {
      log(`  extract failed: ${e.message.split('\n')[0]}`);
      extras.extractError = e.message.split('\n').slice(0, 3).join(' ');
    }
    sh(`rm -rf ${target}`);
  }
  if (parts.has('squash')) {
    // squash's targets (issue 14): uncompressed within 1.3x of export; gzip within 1.3x of gzip of the
    // same layer alone at the same level (node zlib, level 6)
    const squashed = join(work, `${name}-squashed.tar`);
    const cmd = `${LF} squash ${img} -o ${squashed} -q`;
    add('layerfold squash -o FILE', cmd, measure(cmd, { runs, prepare: `rm -f ${squashed}` }));
    const layer = join(work, `${name}-squashed-layer.tar`);
    sh(`cd ${work} && member=$(tar xOf ${squashed} manifest.json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].Layers[0]))') && tar xOf ${squashed} "$member" > ${layer}`);
    sh(`rm -f ${squashed}`);
    const gz = `${LF} squash ${img} --compress gzip -o ${squashed} -q`;
    add('layerfold squash --compress gzip', gz, measure(gz, { ...slow, prepare: `rm -f ${squashed}` }));
    const alone = `node ${join(ROOT, 'scripts/bench/gzip-alone.js')} ${layer} ${layer}.gz`;
    add('node zlib gzip of that layer alone', alone, measure(alone, { ...slow, prepare: `rm -f ${layer}.gz` }));
    sh(`rm -f ${squashed} ${layer} ${layer}.gz`);
  }
  if (parts.has('mkfs')) {
    // mkfs's targets (issue 15): ext4 within 1.5x of export, ahead of extract + mke2fs -d DIR, and an
    // image within 5 % of what mke2fs makes of the same tree in a filesystem of the same size
    const usedBlocks = (image) => {
      const head = sh(`dumpe2fs -h ${image} 2>/dev/null`);
      const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(head)?.[1]);
      return field('Block count') - field('Free blocks');
    };
    let ext4Blocks;
    let ext4Used;
    for (const type of ['ext4', 'squashfs', 'erofs']) {
      const fsOut = join(work, `${name}.${type}`);
      const cmd = `${LF} mkfs ${img} ${fsOut} --type ${type} -q`;
      const row = add(`layerfold mkfs --type ${type}`, cmd, measure(cmd, { ...slow, prepare: `rm -f ${fsOut}` }));
      if (type === 'ext4') {
        ext4Blocks = statSync(fsOut).size / 4096;
        ext4Used = usedBlocks(fsOut);
        row.note = `${ext4Used} blocks used of ${ext4Blocks}`;
      } else row.note = `${statSync(fsOut).size} bytes`;
      sh(`rm -f ${fsOut}`);
    }
    const tree = join(work, `${name}-mke2fs-dir`);
    const peer = join(work, `${name}-mke2fs.ext4`);
    // the same size as layerfold's image: mke2fs's own guess of 20 % over `du` fails here with "Could
    // not allocate block" on trees of many small files (the issue's kernel/hypeman PR #55)
    const peerCmd = `${LF} extract ${img} ${tree} && mke2fs -q -F -t ext4 -b 4096 -O ^has_journal -m 0 -d ${tree} ${peer} ${ext4Blocks}`;
    try {
      const row = add('layerfold extract + mke2fs -d DIR', peerCmd, measure(peerCmd, { ...slow, prepare: `rm -rf ${tree} ${peer}` }));
      const used = usedBlocks(peer);
      row.note = `${used} blocks used; layerfold's image ${ext4Used} (${((ext4Used / used - 1) * 100).toFixed(1)} %)`;
    } catch (e) {
      log(`  mke2fs -d failed: ${e.message.split('\n')[0]}`);
    }
    sh(`rm -rf ${tree} ${peer}`);
    // Debian trixie's tar-input builders (scripts/bench/trixie-fs.js): each on the export tar already
    // written, and export + it (the sum), as a user's pipeline from the image runs them
    const trixie = opts.peers ? ensureTrixieFs(opts.dir, log) : existsSync(join(opts.dir, 'trixie-fs/bin/sqfstar')) ? join(opts.dir, 'trixie-fs/bin') : undefined;
    if (trixie) {
      const fsOut = join(work, `${name}-trixie.img`);
      const peers = [
        ['trixie mke2fs -d TAR', `${trixie}/mke2fs -q -F -t ext4 -b 4096 -O ^has_journal -m 0 -d ${out} ${fsOut} ${ext4Blocks}`],
        ['trixie mkfs.erofs --tar=f', `${trixie}/mkfs.erofs --quiet --tar=f ${fsOut} ${out}`],
        // sqfstar's default gzip level is 9; layerfold's is 6 (the same level beside it)
        ['trixie sqfstar (gzip -9)', `${trixie}/sqfstar -quiet -no-progress ${fsOut} < ${out}`],
        ['trixie sqfstar -Xcompression-level 6', `${trixie}/sqfstar -quiet -no-progress -comp gzip -Xcompression-level 6 ${fsOut} < ${out}`],
      ];
      for (const [label, cmd] of peers) {
        try {
          const alone = add(`${label} (on the export)`, cmd, measure(cmd, { ...slow, prepare: `rm -f ${fsOut}` }));
          alone.note = `${statSync(fsOut).size} bytes`;
          add(`layerfold export + ${label}`, `${exportCmd} && ${cmd}`, { wall: self.wall + alone.wall, cpu: self.cpu + alone.cpu, rss: Math.max(self.rss, alone.rss) }, 'sum of the two');
        } catch (e) {
          log(`  ${label} failed: ${e.message.split('\n')[0]}`);
        }
        sh(`rm -f ${fsOut}`);
      }
    }
  }
  if (parts.has('floor')) {
    const copy = join(work, `${name}.copy`);
    // The floor: the same bytes copied through user space, left in the page cache as layerfold leaves
    // its output (neither fsyncs). With conv=fsync the copy also waits for the disk: shown beside it.
    add('dd bs=1M FILE → FILE', `dd if=${out} of=${copy} bs=1M status=none`, measure(`dd if=${out} of=${copy} bs=1M status=none`, { runs, prepare: `rm -f ${copy}` }));
    add('dd bs=1M conv=fsync FILE → FILE', `dd if=${out} of=${copy} bs=1M conv=fsync status=none`, measure(`dd if=${out} of=${copy} bs=1M conv=fsync status=none`, { runs, prepare: `rm -f ${copy}` }));
    add('dd bs=1M FILE → /dev/null', `dd if=${out} of=/dev/null bs=1M status=none`, measure(`dd if=${out} of=/dev/null bs=1M status=none`, { runs }));
    add('cp FILE FILE && sync FILE', `cp ${out} ${copy} && sync ${copy}`, measure(`cp ${out} ${copy} && sync ${copy}`, { runs, prepare: `rm -f ${copy}` }));
    sh(`rm -f ${copy}`);
    // What any export that checks digests must spend, whatever its design: starting Node, and sha256
    // over every byte of the input, split over both cores (an export cannot split one layer).
    if (!find(rows, 'node start-up')) add('node start-up (node -e 0)', 'node -e 0', measure('node -e 0', { runs }));
    const hashCmd = `node ${join(ROOT, 'scripts/bench/hash.js')} 2 ${img}`;
    add('sha256 of the whole input, both cores', hashCmd, measure(hashCmd, { runs }));
  }
  const compression = summary.params.compression;
  if (parts.has('decompress') && compression && compression !== 'none') {
    const blobs = summary.layers.map((l) => l.blob).filter(Boolean);
    const list = blobs.join(' ');
    const node = (n) => `node ${join(ROOT, 'scripts/bench/decompress.js')} ${compression} ${n} ${list}`;
    add(`node ${compression === 'gzip' ? 'zlib' : 'zstd-napi'} alone, 1 at a time`, node(1), measure(node(1), { runs }));
    add(`node ${compression === 'gzip' ? 'zlib' : 'zstd-napi'} alone, 2 at a time`, node(2), measure(node(2), { runs }));
    if (compression === 'zstd' && hasCommand('zstd')) {
      add('zstd -dc alone', `zstd -dcq ${list} > /dev/null`, measure(`zstd -dcq ${list} > /dev/null`, { runs }));
      const par = `printf '%s\\n' ${list} | xargs -P2 -n1 zstd -dcq > /dev/null`;
      add('zstd -dc alone, 2 at a time', par, measure(par, { runs }));
    }
    if (compression === 'gzip') add('gzip -dc alone', `gzip -dc ${list} > /dev/null`, measure(`gzip -dc ${list} > /dev/null`, { runs }));
  }
  if (parts.has('umoci')) {
    if (hasCommand('umoci') && hasCommand('skopeo')) {
      const layout = umociLayout(summary, dir);
      const rootfs = join(work, `${name}-umoci`);
      const unpack = `umoci raw unpack --image ${layout}:bench ${rootfs}`;
      const u = add('umoci raw unpack', unpack, measure(unpack, { ...slow, prepare: `rm -rf ${rootfs}` }));
      const tarCmd = `tar -C ${rootfs} -cf ${out}.umoci .`;
      const t = add('tar -c of the unpacked tree', tarCmd, measure(tarCmd, { ...slow, prepare: `rm -f ${out}.umoci` }));
      add('umoci raw unpack + tar -c', `${unpack} && ${tarCmd}`, { wall: u.wall + t.wall, cpu: u.cpu + t.cpu, rss: Math.max(u.rss, t.rss) }, 'sum of the two');
      sh(`rm -rf ${rootfs} ${out}.umoci`);
    } else extras.umociSkipped = 'umoci or skopeo not installed (apt-get install umoci skopeo)';
  }
  if (parts.has('registry')) {
    // Issue 8's row: flattening straight from a registry on loopback, against crane-style
    // pull-then-flatten (skopeo copy to an archive, then layerfold export).
    const { missingTools, startRegistry, push } = await import('./registry-setup.js');
    const missing = missingTools().filter((t) => t !== 'htpasswd' && t !== 'openssl');
    if (missing.length > 0) extras.registrySkipped = `${missing.join(', ')} not installed`;
    else {
      const base = join(work, `${name}-registry`);
      rmSync(base, { recursive: true, force: true });
      const registry = await startRegistry(base, 'plain');
      try {
        const ref = `${registry.host}/bench:1`;
        await push(`${summary.params.layout === 'oci' ? 'oci-archive' : 'docker-archive'}:${img}`, ref);
        const direct = `${LF} export docker://${ref} --insecure -o ${out}`;
        add('layerfold export docker://… (registry)', direct, measure(direct, { runs, prepare: `rm -f ${out}` }));
        const pulled = join(work, `${name}-pulled.tar`);
        const twoStep = `skopeo copy -q --src-tls-verify=false docker://${ref} docker-archive:${pulled} && ${LF} export ${pulled} -o ${out}`;
        add('skopeo copy + layerfold export', twoStep, measure(twoStep, { runs, prepare: `rm -f ${out} ${pulled}` }));
        sh(`rm -f ${pulled}`);
        if (crane) {
          const craneCmd = `${crane} export ${ref} ${out}.crane --insecure`;
          add('crane export REGISTRY/… (registry)', craneCmd, measure(craneCmd, { runs, prepare: `rm -f ${out}.crane` }));
          sh(`rm -f ${out}.crane`);
        }
      } catch (e) {
        extras.registrySkipped = `failed: ${e.message.split('\n')[0]}`;
        log(`  registry: ${extras.registrySkipped}`);
      } finally {
        await registry.stop();
        rmSync(base, { recursive: true, force: true });
      }
    }
  }
  if (parts.has('docker') && opts.docker) {
    if (summary.params.layout !== 'legacy') extras.dockerSkipped = 'docker peer measured on the legacy images only';
    else {
      try {
        const m = await measureDocker(img, out, opts.peerRuns, work);
        add('docker load + create + export', m.cmd, { wall: m.wall, cpu: m.cpu, rss: undefined, runs: m.runs }, `Docker ${m.version}, a fresh engine for each run; CPU includes dockerd+containerd`);
      } catch (e) {
        extras.dockerSkipped = `no engine: ${e.message.split('\n')[0]}`;
        log(`  docker: ${extras.dockerSkipped}`);
      }
    }
  }
  if (parts.has('ttfb')) {
    const samples = [];
    for (let i = 0; i < Math.max(3, Math.min(runs, 5)); i++) samples.push(JSON.parse(sh(`node ${join(ROOT, 'scripts/bench/ttfb.js')} ${BIN} ${img}`)));
    samples.sort((a, b) => a.total - b.total);
    extras.ttfb = samples[Math.floor(samples.length / 2)];
    log(`  export -o -: first byte after ${fmtS(extras.ttfb.first)} s of ${fmtS(extras.ttfb.total)} s`);
  }
  if (parts.has('profile') && (name === 'main' || name === 'main-gzip' || name === 'quick')) extras.profile = profileExport(name, img, out, opts);
  sh(`rm -f ${out}`);
  load.push(loadavg()[0]);
  extras.load = load;
  return { name, rows, self, extras };
}

function profileExport(name, img, out, opts) {
  const dir = join(opts.dir, 'profiles', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log('  profiling (--cpu-prof, then --heap-prof) …');
  sh(`rm -f ${out} && nice -n 10 node --cpu-prof --cpu-prof-dir=${dir} ${BIN} export ${img} -o ${out}`);
  sh(`rm -f ${out} && nice -n 10 node --heap-prof --heap-prof-dir=${dir} ${BIN} export ${img} -o ${out}`);
  const files = readdirSync(dir);
  const cpu = files.find((f) => f.endsWith('.cpuprofile'));
  const heap = files.find((f) => f.endsWith('.heapprofile'));
  return {
    dir,
    cpu: cpu ? summarizeCpuProfile(join(dir, cpu), ROOT) : undefined,
    heap: heap ? summarizeHeapProfile(join(dir, heap), ROOT) : undefined,
  };
}

/** A checked-in image as a scenario's input (the shape ensureImage returns). */
function fixtureImage(path) {
  const image = join(ROOT, path);
  const manifest = JSON.parse(sh(`tar -xOf ${image} manifest.json`));
  const key = `fixture-${path.split('/').slice(-2, -1)[0]}`;
  return { image, key, imageBytes: statSync(image).size, layers: [], params: { fixture: path, layers: manifest[0].Layers.length, layout: 'legacy', compression: 'none' } };
}

function find(rows, prefix) {
  return rows.find((r) => r.label.startsWith(prefix));
}

function scenarioMarkdown(result) {
  const { name, rows, self, extras } = result;
  const s = extras.summary;
  const p = s.params;
  const floor = find(rows, 'dd bs=1M FILE → FILE');
  const shape = p.fixture
    ? `\`${p.fixture}\` (${p.layers} layers, a Docker 26 \`docker save\`)`
    : p.real
    ? `${p.real}; ${p.layers} layers, legacy \`docker save\`, uncompressed`
    : `${p.files.toLocaleString('en-US')} files, ${(p.bytes / MiB).toFixed(0)} MiB of file data, ${p.layers} layers, ${p.compression} layers, ${p.layout} layout; overwritten ${p.overwritten}, whited out ${p.whiteout}, opaque dirs ${p.opaque}, hard-linked ${p.hardlinked}, seed ${p.seed}`;
  const lines = [
    `### ${name}`,
    '',
    `Image: ${shape}. Archive ${(s.imageBytes / MB).toFixed(0)} MB; output ${(extras.bytes / MB).toFixed(0)} MB, ${extras.entries.toLocaleString('en-US')} entries. Median of ${rows[0]?.runs ?? '?'} runs after one warm-up; extract, umoci and docker: ${rows.find((r) => /extract|umoci|docker/.test(r.label))?.runs ?? '–'} run(s)${rows.find((r) => /extract|umoci|docker/.test(r.label))?.runs < rows[0]?.runs ? ', no warm-up' : ''}. Load average (1 min) at start / end: ${extras.load.map((l) => l.toFixed(1)).join(' / ')} on ${cpus().length} cores${extras.load.some((l) => l > cpus().length) ? ' — **the machine was shared and busy: wall times are inflated, CPU times and the min column are the steadier figures**' : ''}.`,
    '',
    resultTable(rows, { bytes: extras.bytes, entries: extras.entries, floor: floor?.wall, self: self.wall }),
    '',
  ];
  if (extras.ttfb) lines.push(`\`export -o -\`: first byte after ${fmtS(extras.ttfb.first)} s of ${fmtS(extras.ttfb.total)} s (${((extras.ttfb.first / extras.ttfb.total) * 100).toFixed(0)}% of the run).`, '');
  for (const why of [extras.registrySkipped && `registry: skipped, ${extras.registrySkipped}`, extras.umociSkipped && `umoci: skipped, ${extras.umociSkipped}`, extras.dockerSkipped && `docker: skipped, ${extras.dockerSkipped}`, extras.extractError && `extract: failed: ${extras.extractError}`]) {
    if (why) lines.push(`- ${why}`);
  }
  lines.push('<details><summary>commands</summary>', '', commandList(rows), '', '</details>');
  if (extras.profile?.cpu) {
    lines.push('', `Top self time, \`node --cpu-prof\` of \`export -o FILE\` (${fmtS(extras.profile.cpu.total / 1000)} s sampled; profiles in \`${extras.profile.dir}\`):`, '');
    lines.push('| function | self ms | share |', '|---|---:|---:|');
    for (const t of extras.profile.cpu.top) lines.push(`| \`${t.fn}\` | ${t.ms.toFixed(0)} | ${(t.share * 100).toFixed(1)}% |`);
  }
  if (extras.profile?.heap) {
    lines.push('', 'Sampled heap still allocated at exit, `node --heap-prof`, by allocating function:', '');
    lines.push('| function | KiB | share |', '|---|---:|---:|');
    for (const t of extras.profile.heap.top) lines.push(`| \`${t.fn}\` | ${(t.bytes / 1024).toFixed(0)} | ${(t.share * 100).toFixed(1)}% |`);
  }
  return lines.join('\n');
}

function verdict(ok) {
  return ok === undefined ? 'not measured' : ok ? '**met**' : '**missed**';
}

function targetsMarkdown(results) {
  const by = Object.fromEntries(results.map((r) => [r.name, r]));
  const lines = ['| target | measured | verdict |', '|---|---|---|'];
  const main = by.main;
  if (main) {
    const self = main.self;
    const floor = find(main.rows, 'dd bs=1M FILE → FILE');
    const synced = find(main.rows, 'dd bs=1M conv=fsync');
    const docker = find(main.rows, 'docker');
    const umoci = find(main.rows, 'umoci raw unpack + tar');
    const ttfb = main.extras.ttfb;
    lines.push(`| main: export to a file ≤ 1.5× the user-space I/O floor (dd bs=1M; neither fsyncs) | ${fmtS(self.wall)} s vs ${fmtS(floor?.wall)} s: ${fmtRatio(floor && self.wall / floor.wall)} | ${verdict(floor && self.wall <= 1.5 * floor.wall)} |`);
    if (synced) lines.push(`| (the same, against dd with conv=fsync, which also waits for the disk) | ${fmtS(self.wall)} s vs ${fmtS(synced.wall)} s: ${fmtRatio(self.wall / synced.wall)} | ${verdict(self.wall <= 1.5 * synced.wall)} |`);
    const start = find(main.rows, 'node start-up');
    const hashed = find(main.rows, 'sha256 of the whole input');
    if (floor && start && hashed) {
      // a lower bound: start-up, then the hashing and the copy dd does, perfectly shared by 2 cores
      const bound = start.wall + (hashed.cpu + floor.cpu) / 2;
      lines.push(`| (the least any verifying export can take here: Node start-up ${fmtS(start.wall)} s + (sha256 of the input ${fmtS(hashed.cpu)} s + dd's copy ${fmtS(floor.cpu)} s of CPU) / 2 cores) | ${fmtS(bound)} s: ${fmtRatio(bound / floor.wall)} the floor | ${bound > 1.5 * floor.wall ? 'the 1.5× target is below it' : 'the 1.5× target is above it'} |`);
    }
    lines.push(`| main: ≥ 8× faster than docker load + create + export | ${docker ? `${fmtS(docker.wall)} s: ${fmtRatio(docker.wall / self.wall)}` : 'no engine in this run'} | ${verdict(docker && docker.wall >= 8 * self.wall)} |`);
    lines.push(`| main: ≥ 4× faster than umoci raw unpack + tar | ${umoci ? `${fmtS(umoci.wall)} s: ${fmtRatio(umoci.wall / self.wall)}` : '–'} | ${verdict(umoci && umoci.wall >= 4 * self.wall)} |`);
    lines.push(`| main: peak RSS ≤ 150 MB | ${(self.rss / MB).toFixed(0)} MB | ${verdict(self.rss <= 150 * MB)} |`);
    // issue 16's tighter target (the same figure: GNU time's %M of the node process, under nice -n 10)
    lines.push(`| main: peak RSS ≤ 100 MiB (issue 16) | ${fmtMiB(self.rss)} MiB | ${verdict(self.rss <= 100 * MiB)} |`);
    if (ttfb) lines.push(`| main: \`export -o -\` writes before the last layer is read | first byte at ${fmtS(ttfb.first)} s of ${fmtS(ttfb.total)} s | ${verdict(ttfb.first < 0.5 * ttfb.total)} (criterion: first byte in the first half) |`);
  }
  if (by.debian) lines.push(`| debian: peak RSS ≤ 64 MiB (issue 16) | ${fmtMiB(by.debian.self.rss)} MiB | ${verdict(by.debian.self.rss <= 64 * MiB)} |`);
  const many = by['entries-1m'];
  if (many) {
    const limit = 100 * MB + 300 * many.extras.entries;
    lines.push(`| 1M entries: peak RSS ≤ 100 MB + 300 B/entry (${many.extras.entries.toLocaleString('en-US')} entries → ${(limit / MB).toFixed(0)} MB) | ${(many.self.rss / MB).toFixed(0)} MB | ${verdict(many.self.rss <= limit)} |`);
  }
  const small = by.small;
  if (small) {
    const start = find(small.rows, 'node start-up');
    const version = find(small.rows, 'layerfold --version');
    const help = find(small.rows, 'layerfold --help');
    const crane = find(small.rows, 'crane export');
    const ratio = (r) => (r && start ? `${fmtS(r.wall)} s vs ${fmtS(start.wall)} s: ${fmtRatio(r.wall / start.wall)}` : '–');
    lines.push(`| small (2 MB): export within 2× \`node -e 0\` | ${ratio(small.self)} | ${verdict(start && small.self.wall <= 2 * start.wall)} |`);
    lines.push(`| small: \`--version\` within 1.3× \`node -e 0\` | ${ratio(version)} | ${verdict(start && version && version.wall <= 1.3 * start.wall)} |`);
    lines.push(`| small: \`--help\` within 1.3× \`node -e 0\` | ${ratio(help)} | ${verdict(start && help && help.wall <= 1.3 * start.wall)} |`);
    lines.push(`| small: peak RSS ≤ 64 MiB | ${fmtMiB(small.self.rss)} MiB | ${verdict(small.self.rss <= 64 * MiB)} |`);
    if (crane) lines.push(`| small: (beside crane export - FILE < image) | ${fmtS(small.self.wall)} s vs ${fmtS(crane.wall)} s: ${fmtRatio(small.self.wall / crane.wall)}; ${fmtMiB(small.self.rss)} / ${fmtMiB(crane.rss)} MiB | – |`);
  }
  for (const r of results) {
    const extract = find(r.rows, 'layerfold extract DIR');
    const tar = find(r.rows, 'tar --xattrs -xpf');
    if (extract && tar) {
      lines.push(`| ${r.name}: extract within 1.2× of \`tar --xattrs -xpf\` of its export | ${fmtS(extract.wall)} s vs ${fmtS(tar.wall)} s: ${fmtRatio(extract.wall / tar.wall)} | ${verdict(extract.wall <= 1.2 * tar.wall)} |`);
      lines.push(`| ${r.name}: extract peak RSS ≤ 150 MiB | ${fmtMiB(extract.rss)} MiB | ${verdict(extract.rss <= 150 * MiB)} |`);
    }
  }
  const gz = by['main-gzip'];
  if (gz) {
    const alone = find(gz.rows, 'node zlib alone, 2 at a time');
    lines.push(`| main-gzip: export within 1.3× of decompressing the layers alone on both cores | ${fmtS(gz.self.wall)} s vs ${fmtS(alone?.wall)} s: ${fmtRatio(alone && gz.self.wall / alone.wall)} | ${verdict(alone && gz.self.wall <= 1.3 * alone.wall)} |`);
  }
  return lines.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const tool of ['/usr/bin/time']) if (!existsSync(tool)) usage(`${tool} is missing: apt-get install time`);
  mkdirSync(opts.dir, { recursive: true });
  const results = [];
  for (const name of opts.scenarios) results.push(await runScenario(name, opts));
  const m = machine();
  const machineText = [
    `Measured ${m.date} on: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, Linux ${m.kernel}, disk ${m.disk}; Node ${m.node}.`,
    `Command: \`npm run bench -- ${process.argv.slice(2).join(' ')}\`. Every command ran as \`nice -n 10 /usr/bin/time -f '%e %U %S %M' sh -c CMD\`; inputs in the page cache (one warm-up run).`,
  ].join('\n');
  const sections = {};
  for (const r of results) sections[`scenario-${r.name}`] = `${machineText}\n\n${scenarioMarkdown(r)}`;
  for (const r of results) if (['main', 'main-gzip', 'entries-1m', 'small'].includes(r.name)) sections[`targets-${r.name}`] = targetsMarkdown([r]);
  console.log(`\n${Object.values(sections).join('\n\n')}`);
  if (opts.write) {
    updateMarkdown(join(ROOT, 'BENCHMARKS.md'), sections);
    log(`\nwrote ${join(ROOT, 'BENCHMARKS.md')}`);
  }
}

await main();
