/**
 * The entries of a directory holding a root filesystem (an extracted export, a mounted rootfs).
 *
 * Rules: lstat only, symlinks are never followed; names are read as raw bytes; the walk is the order
 * `docker export` uses (each directory's names sorted byte-wise, a directory before its children), so
 * `--order` means the same for a directory as for a tar; the directory itself is the root and not an
 * entry; names sharing an inode (same device and inode number) form a hard-link group, hashed once.
 * xattrs: `security.capability` alone is read (lgetxattr through the optional `@napi-rs/xattr`), the one
 * xattr `docker export` records (moby's ReadSecurityXattrToTarHeader) — so a capability removed by hand
 * is found, and xattrs the host adds (security.selinux) are not differences. The package takes UTF-8
 * paths only, so an entry whose path is not UTF-8 is marked `xattrsUnknown`; without the package the
 * side says `xattrsKnown: false` and xattrs are not compared against it.
 */
import { closeSync, lstatSync, opendirSync, openSync, readlinkSync, constants as fsc, type BigIntStats } from 'node:fs';
import { addContext, LayerfoldError, showName } from '../errors.js';
import { xattrAddon, type XattrAddon } from '../io/xattr.js';
import { blankEntry, EMPTY_DIGEST, EntryList, hashRange, type DiffEntry, type EntryType } from './entries.js';

const NS_PER_SECOND = 1_000_000_000n;

/** PATH_MAX less its NUL: the longest path a syscall takes (ENAMETOOLONG past it). */
const PATH_MAX = 4095;

function typeOf(st: BigIntStats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** glibc's gnu_dev_major / gnu_dev_minor. */
export function splitDevice(rdev: bigint): [major: number, minor: number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

/** Whole seconds, rounded toward negative infinity as tar stores them. */
function seconds(ns: bigint): number {
  const s = ns / NS_PER_SECOND;
  return Number(ns < 0n && s * NS_PER_SECOND !== ns ? s - 1n : s);
}

class DirectoryWalker {
  /** Hard-link groups only: the entries themselves are handed on as they are read. */
  readonly list = new EntryList();
  private readonly digestOfInode = new Map<string, string>();

  constructor(
    private readonly root: Buffer,
    private readonly xattr: XattrAddon | null,
  ) {}

  /** `security.capability` of the entry at `full` (never following a symlink), when it can be read. */
  private capability(full: Buffer, entry: DiffEntry): void {
    if (this.xattr === null) return;
    const path = full.toString('utf8');
    if (!Buffer.from(path, 'utf8').equals(full)) {
      entry.xattrsUnknown = true;
      return;
    }
    let value: Buffer | null;
    try {
      value = this.xattr.getAttributeSync(path, 'security.capability');
    } catch (e) {
      if (/not supported|os error 95\b/i.test((e as Error).message)) return; // no xattrs on this filesystem: none
      throw new LayerfoldError('IO', `entry ${showName(entry.path)}: cannot read security.capability: ${(e as Error).message}`, { cause: e });
    }
    // the entry's map is the shared empty one: replace it, never set into it
    if (value !== null) entry.xattrs = new Map([['security.capability', value.toString('latin1')]]);
  }

  /**
   * DIR/rel, the one path each syscall is given. A name the tree may hold (up to 4095 bytes) can be
   * too long once DIR is put in front: refused in one line, as extract refuses it, not met as the
   * kernel's bare ENAMETOOLONG.
   */
  private full(rel: string): Buffer {
    const full = Buffer.concat([this.root, Buffer.from(`/${rel}`, 'latin1')]);
    if (full.length > PATH_MAX) {
      const over = full.length - PATH_MAX;
      throw new LayerfoldError('IO', `entry ${showName(rel)}: as DIR/NAME it is ${full.length + 1} bytes, past the kernel's PATH_MAX (4096 with its NUL), so it cannot be read; name the directory by a path at least ${over} byte${over === 1 ? '' : 's'} shorter (cd into it and diff .)`);
    }
    return full;
  }

  private digest(full: Buffer, rel: string, size: number, inode: string | undefined): string {
    if (size === 0) return EMPTY_DIGEST; // nothing to read: no open and close for each empty file
    const known = inode === undefined ? undefined : this.digestOfInode.get(inode);
    if (known !== undefined) return known;
    const fd = openSync(full, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      const digest = hashRange(fd, 0, size, `entry ${showName(rel)}`);
      if (inode !== undefined) this.digestOfInode.set(inode, digest);
      return digest;
    } finally {
      closeSync(fd);
    }
  }

  entry(rel: string): DiffEntry {
    const full = this.full(rel);
    const st = lstatSync(full, { bigint: true });
    const type = typeOf(st);
    const entry = blankEntry(rel, type);
    entry.mode = Number(st.mode) & 0o7777;
    entry.uid = Number(st.uid);
    entry.gid = Number(st.gid);
    entry.mtime = seconds(st.mtimeNs);
    const inode = type !== 'dir' && st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
    if (type === 'file') {
      entry.size = Number(st.size);
      entry.digest = this.digest(full, rel, entry.size, inode);
    } else if (type === 'symlink') {
      entry.link = readlinkSync(full, { encoding: 'buffer' }).toString('latin1');
    } else if (type === 'char' || type === 'block') {
      [entry.devmajor, entry.devminor] = splitDevice(st.rdev);
    }
    this.capability(full, entry);
    if (inode !== undefined) this.list.link(entry, inode);
    return entry;
  }

  /**
   * The names in the directory `rel`, sorted, as raw bytes in latin1 (the directory decodes them so:
   * no Buffer each). Read in batches through opendir, not scandir: scandir's million small native
   * allocations stayed in the process after they were freed (~80 MB on a million-entry directory).
   */
  children(rel: string): string[] {
    const dir = opendirSync(rel === '' ? this.root : this.full(rel), { encoding: 'latin1', bufferSize: 1024 });
    const names: string[] = [];
    try {
      for (let d = dir.readSync(); d !== null; d = dir.readSync()) names.push(d.name);
    } finally {
      dir.closeSync();
    }
    return names.sort();
  }

  /** The entries in walk order, each read as it is reached (its names' directory read once, as a batch). */
  *walk(): Generator<DiffEntry> {
    const stack: Array<{ prefix: string; names: string[]; i: number }> = [{ prefix: '', names: this.children(''), i: 0 }];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.i >= frame.names.length) {
        stack.pop();
        continue;
      }
      const rel = frame.prefix + frame.names[frame.i]!;
      frame.names[frame.i++] = ''; // done with: a million names are not kept to the end
      const entry = this.entry(rel);
      if (entry.type === 'dir') stack.push({ prefix: `${rel}/`, names: this.children(rel), i: 0 });
      yield entry;
    }
  }
}

function contextFor(label: string, e: unknown): unknown {
  if (e instanceof LayerfoldError) return addContext(label, e);
  const err = e as NodeJS.ErrnoException;
  return new LayerfoldError('IO', `${label}: ${err.message}`, { cause: e });
}

/** The entries of the directory `path` as they are read; `label` names the side in messages. */
export function streamDirectorySide(path: string, label: string): { entries: Iterable<DiffEntry>; groups: EntryList; xattrsKnown: boolean } {
  const xattr = xattrAddon();
  const walker = new DirectoryWalker(Buffer.from(path.replace(/\/+$/, '') || '/'), xattr);
  function* entries(): Generator<DiffEntry> {
    try {
      yield* walker.walk();
    } catch (e) {
      throw contextFor(label, e);
    }
  }
  return { entries: entries(), groups: walker.list, xattrsKnown: xattr !== null };
}

/** Entries of the directory `path`, held in a list; `label` names the side in messages. */
export function readDirectorySide(path: string, label: string): { entries: EntryList; xattrsKnown: boolean } {
  const stream = streamDirectorySide(path, label);
  const list = new EntryList();
  for (const entry of stream.entries) {
    if (entry.group >= 0) list.link(entry, entry.group); // keyed by the walk's group id
    list.add(entry);
  }
  return { entries: list, xattrsKnown: stream.xattrsKnown };
}
