/**
 * `layerfold bundle IMAGE DIR`: an OCI runtime bundle — DIR/rootfs (written by extract-dir.ts, with
 * all its rules) and DIR/config.json (OCI runtime spec 1.0) made from the image config, so that
 * `runc run -b DIR ID` runs the image's command as `docker run` would start it:
 *  - process.args: Entrypoint then Cmd (an image with neither is refused);
 *  - process.env: the image's Env, plus PATH (docker's default), HOSTNAME and HOME (from the image's
 *    /etc/passwd) where the image sets none;
 *  - process.cwd: WorkingDir, else `/` (a relative WorkingDir, an Env entry with an empty name or a
 *    NUL are refused, as runc refuses them);
 *  - process.user: USER resolved through the image's own /etc/passwd and /etc/group (image-user.ts);
 *  - docker's default capability set (effective only for uid 0), hostname, the default mounts (proc,
 *    /dev tmpfs, devpts, shm, mqueue, sysfs read-only, cgroup read-only), new pid, network, ipc, uts
 *    and mount namespaces, runc's masked and read-only paths. The root filesystem is writable; no
 *    rlimits are set (the process inherits runc's, as docker's inherit dockerd's).
 * config.json is written to a temporary name and renamed; on an error DIR is left as it was found.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LayerfoldError, showText } from '../errors.js';
import { jsonText } from '../escape.js';
import { flattenImage, type FlattenOptions } from '../flatten.js';
import type { RuntimeConfig } from '../read/config.js';
import { extractTree, prepareTarget, type ExtractDirOptions, type ExtractDirResult } from './extract-dir.js';
import { resolveImageUser, type ImageUser } from './image-user.js';

export interface BundleOptions extends FlattenOptions, Omit<ExtractDirOptions, 'manifest'> {
  /** The container's hostname (default `layerfold`). */
  hostname?: string;
}

export interface BundleResult {
  dir: string;
  rootfs: ExtractDirResult;
  /** The runtime spec written to DIR/config.json. */
  spec: RuntimeSpec;
}

/** The parts of the OCI runtime spec layerfold writes. */
export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted', string[]>;
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  linux: {
    namespaces: Array<{ type: string }>;
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** docker's default capabilities (moby oci/caps/defaults.go). */
const DOCKER_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

const MOUNTS: RuntimeSpec['mounts'] = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
];

const MASKED = ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The command the image runs: Entrypoint then Cmd. */
export function imageCommand(config: RuntimeConfig): string[] {
  return [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
}

/**
 * The image's Env entries as docker runs them (checked on Docker 26 with runc): an entry without `=`
 * is dropped; an empty name (`=x`) or a NUL is refused, as runc refuses to start the container; any
 * other name passes, even `-S x` or `a.b` (what the host's tools must not read as options is the
 * business of the command line that carries them: config --shell ends env's options with `--`).
 */
export function imageEnvEntries(config: RuntimeConfig): string[] {
  const env: string[] = [];
  (config.Env ?? []).forEach((entry, i) => {
    if (!entry.includes('=')) return;
    const why = entry.startsWith('=') ? 'has an empty variable name' : entry.includes('\0') ? 'holds a NUL byte' : undefined;
    if (why) throw new LayerfoldError('BAD_LAYOUT', `config.Env[${i}] ${showText(entry)} ${why} (runc refuses to start it)`);
    env.push(entry);
  });
  return env;
}

/** WorkingDir, else `/`; a relative one is refused, as runc refuses it ("Cwd must be an absolute path"). */
export function imageWorkdir(config: RuntimeConfig): string {
  const dir = config.WorkingDir || '/';
  if (!dir.startsWith('/')) throw new LayerfoldError('BAD_LAYOUT', `config.WorkingDir ${showText(dir)} is not an absolute path (runc refuses to start it)`);
  return dir;
}

/** The environment docker gives the image's process: its Env plus PATH, HOSTNAME, HOME when unset. */
export function imageEnv(config: RuntimeConfig, user: ImageUser, hostname?: string): string[] {
  const env = imageEnvEntries(config);
  const has = (name: string) => env.some((e) => e.startsWith(`${name}=`));
  const added: string[] = [];
  if (!has('PATH')) added.push(`PATH=${DEFAULT_PATH}`);
  if (hostname !== undefined && !has('HOSTNAME')) added.push(`HOSTNAME=${hostname}`);
  if (!has('HOME')) added.push(`HOME=${user.home}`);
  return [...added, ...env];
}

export function runtimeSpec(config: RuntimeConfig, user: ImageUser, hostname: string): RuntimeSpec {
  const args = imageCommand(config);
  if (args.length === 0) throw new LayerfoldError('BAD_LAYOUT', 'the image config has neither Entrypoint nor Cmd: nothing to run');
  const processUser: RuntimeSpec['process']['user'] = { uid: user.uid, gid: user.gid };
  if (user.additionalGids.length > 0) processUser.additionalGids = user.additionalGids;
  const caps = user.uid === 0 ? DOCKER_CAPS : [];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: processUser,
      args,
      env: imageEnv(config, user, hostname),
      cwd: imageWorkdir(config),
      capabilities: { bounding: DOCKER_CAPS, effective: caps, permitted: caps },
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: false },
    hostname,
    mounts: MOUNTS,
    linux: {
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type })),
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
    },
  };
}

export async function makeBundle(input: string, dir: string, options: BundleOptions = {}): Promise<BundleResult> {
  const flat = await flattenImage(input, options);
  try {
    const target = prepareTarget(dir, options.force ?? false);
    try {
      const spec = runtimeSpec(flat.image.config.config, resolveImageUser(flat), options.hostname ?? 'layerfold');
      const rootfs = await extractTree(flat, join(target.root, 'rootfs'), { ...options, manifest: join(target.root, 'rootfs.layerfold-skipped.jsonl') });
      const temp = join(target.root, `.config.json.layerfold-${process.pid}.tmp`);
      writeFileSync(temp, `${jsonText(spec, 2)}\n`, { mode: 0o644 }); // C1 as \u escapes: the same JSON, safe to cat
      renameSync(temp, join(target.root, 'config.json'));
      target.done();
      return { dir: target.root, rootfs, spec };
    } catch (e) {
      target.fail();
      throw e;
    }
  } finally {
    flat.close();
  }
}
