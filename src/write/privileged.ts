/**
 * The two things `extract` needs that Node's fs cannot do: mknod(2) (device nodes, fifos) and
 * setxattr(2) (`security.capability`). Both are done by spawning a small tool, never through a shell,
 * never on a name taken from the image:
 *  - `mknod` (coreutils) makes the node under an ASCII name in a staging directory the extraction made
 *    itself; the caller sets owner, mode and times there and renames it into its checked place.
 *  - `setfattr` (Debian's `attr` package) is run on `/proc/self/fd/3`, with the open descriptor of the
 *    file just created passed as the child's fd 3: the value lands on exactly that inode, whatever its
 *    name, and no path is resolved again.
 * A failure for lack of privilege is reported as 'denied' (the caller skips and records); any other
 * failure is an error.
 */
import { spawnSync } from 'node:child_process';
import { LayerfoldError } from '../errors.js';

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

/** Set `security.capability` on the file open as `fd`. */
export function setCapability(fd: number, value: Buffer, what: string): PrivilegedOutcome {
  return run('setfattr', ['-n', 'security.capability', '-v', `0s${value.toString('base64')}`, '/proc/self/fd/3'], what, fd);
}

/** Whether this process can do what only root can (chown to any owner, mknod devices, set capabilities). */
export function runningAsRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}
