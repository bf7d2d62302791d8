/**
 * The two things `extract` needs that Node's fs cannot do: mknod(2) (device nodes, fifos) and
 * setxattr(2) (`security.capability`), never on a name taken from the image:
 *  - `mknod` (coreutils) makes the node under an ASCII name in a staging directory the extraction made
 *    itself; the caller sets owner, mode and times there and renames it into its checked place.
 *  - `security.capability` is set by the optional native package `@napi-rs/xattr` (prebuilt for linux
 *    x64/arm64, glibc and musl; nothing is compiled at install). It only has path calls that do not
 *    follow a symlink in the last component (lsetxattr), and a path's bytes must be UTF-8 — so it is
 *    called on a hardlink of the new file under an ASCII staging name (link(2) never follows a link),
 *    after checking that name is the inode open as `fd`; the staging link is removed at once. Neither
 *    `/proc/self/fd/N` (lsetxattr acts on the proc link itself: EOPNOTSUPP) nor the image's own name
 *    (not always UTF-8) would do.
 *  - Where the package cannot be loaded (no prebuilt binary for the platform, not installed), `setfattr`
 *    (Debian's `attr` package) is run as before on `/proc/self/fd/3`, with the open descriptor passed as
 *    the child's fd 3: setxattr follows that magic link to exactly the inode, and no path is resolved.
 * No shell is involved. A failure for lack of privilege is reported as 'denied' (the caller skips and
 * records); any other failure is an error.
 */
import { spawnSync } from 'node:child_process';
import { fstatSync, linkSync, lstatSync, unlinkSync } from 'node:fs';
import { LayerfoldError } from '../errors.js';
import { xattrAddon } from '../io/xattr.js';

export type PrivilegedOutcome = 'done' | 'denied' | 'missing-tool';

const DENIED = /Operation not permitted|Permission denied/;

function run(tool: string, args: string[], what: string, extraFd?: number): PrivilegedOutcome {
  // pipes, not 'ignore': where /dev/null is not open to every user, 'ignore' fails with EACCES
  const stdio: Array<'pipe' | number> = ['pipe', 'pipe', 'pipe'];
  if (extraFd !== undefined) stdio.push(extraFd);
  const child = spawnSync(tool, args, { stdio, encoding: 'utf8' });
  if (child.error) {
    if ((child.error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing-tool';
    throw new LayerfoldError('IO', `${what}: cannot run ${tool}: ${child.error.message}`);
  }
  if (child.status === 0) return 'done';
  const stderr = (child.stderr ?? '').trim();
  if (DENIED.test(stderr)) return 'denied';
  throw new LayerfoldError('IO', `${what}: ${tool} failed: ${stderr.split('\n')[0] ?? `exit ${child.status}`}`);
}

/** Make a char/block device or fifo at `stagingPath` (an ASCII path made by the extraction). */
export function makeNode(stagingPath: string, type: 'char' | 'block' | 'fifo', major: number, minor: number, what: string): PrivilegedOutcome {
  const args = type === 'fifo' ? [stagingPath, 'p'] : [stagingPath, type === 'char' ? 'c' : 'b', String(major), String(minor)];
  return run('mknod', args, what);
}

/** The file to set a capability on: its descriptor, its checked path, and a fresh ASCII staging name. */
export interface CapabilityTarget {
  fd: number;
  path: Buffer;
  staging: () => string;
}

/** Set `security.capability` on the regular file open as `target.fd`. */
export function setCapability(target: CapabilityTarget, value: Buffer, what: string): PrivilegedOutcome {
  if (xattrAddon() === null) {
    return run('setfattr', ['-n', 'security.capability', '-v', `0s${value.toString('base64')}`, '/proc/self/fd/3'], what, target.fd);
  }
  const name = target.staging();
  try {
    linkSync(target.path, name);
  } catch (e) {
    return deniedOr(e, what);
  }
  try {
    const open = fstatSync(target.fd);
    const staged = lstatSync(name);
    if (open.dev !== staged.dev || open.ino !== staged.ino) {
      throw new LayerfoldError('PATH_ESCAPE', `${what}: the file was replaced while its capability was set; refusing to set it`);
    }
    return setCapabilityOn({ path: name }, value, what);
  } finally {
    unlinkSync(name);
  }
}

/**
 * Set `security.capability` on a name this extraction made under an ASCII staging path (a symlink,
 * fifo or device node, before it is renamed into place) or on the directory open as `dirFd`
 * (`/proc/self/fd/N/.`: the magic link is followed as a directory, `.` is that directory). A symlink at
 * the end is never followed (lsetxattr; `setfattr -h`).
 */
export function setCapabilityOn(place: { path: string } | { dirFd: number }, value: Buffer, what: string): PrivilegedOutcome {
  const xattr = xattrAddon();
  if (xattr === null) {
    const path = 'path' in place ? place.path : '/proc/self/fd/3/.';
    return run('setfattr', ['-h', '-n', 'security.capability', '-v', `0s${value.toString('base64')}`, path], what, 'path' in place ? undefined : place.dirFd);
  }
  try {
    xattr.setAttributeSync('path' in place ? place.path : `/proc/self/fd/${place.dirFd}/.`, 'security.capability', value);
    return 'done';
  } catch (e) {
    return deniedOr(e, what);
  }
}

function deniedOr(e: unknown, what: string): PrivilegedOutcome {
  if (e instanceof LayerfoldError) throw e;
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'EPERM' || err.code === 'EACCES' || DENIED.test(err.message)) return 'denied';
  throw new LayerfoldError('IO', `${what}: cannot set security.capability: ${err.message}`, { cause: e });
}

/** Whether this process can do what only root can (chown to any owner, mknod devices, set capabilities). */
export function runningAsRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}
