/**
 * Describe a directory tree as lstat sees it, independently of layerfold's code: names as raw bytes,
 * WalkDir order, type, permission bits, owner, mtime, symlink target, device numbers, a digest of file
 * contents, hardlink groups, and `security.capability` (getfattr, when installed). Two trees written
 * by different tools (layerfold, GNU tar) are compared through this.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { scratchDir } from './build.js';

export interface SnapEntry {
  name: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  target?: string;
  dev?: string;
  sha?: string;
  /** First name (in walk order) of the inode, for the second and later names of a hardlink group. */
  linkOf?: string;
  capability?: string;
}

function typeOf(mode: number): string {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'dir';
    case 0o100000:
      return 'file';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    default:
      return 'other';
  }
}

function capabilityOf(path: Buffer): string | undefined {
  const run = spawnSync('getfattr', ['-h', '-n', 'security.capability', '-e', 'hex', '--only-values', path.toString('latin1')], { encoding: 'latin1' });
  if (run.status !== 0 || run.error) return undefined;
  return Buffer.from(run.stdout, 'latin1').toString('hex');
}

/** Every entry under root (not root itself), names relative, as latin1 strings of their bytes. */
export function snapshot(root: string, options: { capabilities?: boolean; contents?: boolean } = {}): SnapEntry[] {
  const out: SnapEntry[] = [];
  const firstOfInode = new Map<string, string>();
  const walk = (dir: Buffer, prefix: string) => {
    const names = readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare);
    for (const nameBytes of names) {
      const path = Buffer.concat([dir, Buffer.from('/'), nameBytes]);
      const name = prefix + nameBytes.toString('latin1');
      const st = lstatSync(path, { bigint: false });
      const type = typeOf(st.mode);
      const entry: SnapEntry = { name, type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), size: type === 'file' ? st.size : 0 };
      if (type !== 'dir') {
        const key = `${st.dev}:${st.ino}`;
        const first = firstOfInode.get(key);
        if (first !== undefined) entry.linkOf = first;
        else if (st.nlink > 1) firstOfInode.set(key, name);
      }
      if (type === 'symlink') entry.target = readlinkSync(path, { encoding: 'buffer' }).toString('latin1');
      if (type === 'char' || type === 'block') entry.dev = `${Math.floor(st.rdev / 256) & 0xfff},${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
      if (type === 'file' && options.contents !== false) entry.sha = createHash('sha256').update(readFileSync(path)).digest('hex');
      if (type === 'file' && options.capabilities) {
        const cap = capabilityOf(path);
        if (cap !== undefined) entry.capability = cap;
      }
      out.push(entry);
      if (type === 'dir') walk(path, `${name}/`);
    }
  };
  walk(Buffer.from(root), '');
  return out;
}

/** docker's export.tar (or any tar) unpacked by GNU tar as root: owners, modes, devices, times, capabilities. */
export function gnuExtract(tarFile: string): string {
  const ref = join(scratchDir(), 'ref');
  mkdirSync(ref);
  const run = spawnSync('tar', ['--numeric-owner', '--same-owner', '-p', '--warning=no-timestamp', '--xattrs', '--xattrs-include=security.capability', '-xf', tarFile, '-C', ref], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return ref;
}
