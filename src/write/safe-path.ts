/**
 * Paths inside an extraction root (`extract`, `bundle`), handed out so that nothing outside the root
 * is ever created, changed or followed, whatever names and links the image holds.
 *
 * Node has no openat(2)/openat2(RESOLVE_IN_ROOT), so the guarantee is built from these rules:
 *  1. A name is relative, made of non-empty components, never `.` or `..`, never holding a NUL byte
 *     (the merged tree only has such names; a name that is not is refused as PATH_ESCAPE).
 *  2. A name is only ever placed in a parent this root has registered as a real directory: the root
 *     itself (resolved once), or one made here with mkdir(2) — which never follows a link — and then
 *     checked with lstat. A parent is lstat'ed again (same device and inode, still a directory, not
 *     a symlink) before a child is placed in it, unless the name placed just before was a leaf in that
 *     same parent: placing a leaf in P (a create that does not follow links, a rename onto a new name,
 *     or with `force` the removal of what stood at that name) cannot replace P, so a run of siblings
 *     costs one lstat, not one each (a million files in one directory: 1M lstats, 10 % of the run,
 *     BENCHMARKS.md "wide-1m"). Symlinks made here are never registered, so no later name can pass
 *     through one.
 *  3. A leaf is created with O_CREAT|O_EXCL|O_NOFOLLOW, symlink(2), link(2), mknod(2) or mkdir(2): none
 *     follows a link in the last component; an existing entry is an error, or with `force` it is
 *     removed first (rm without following links) — a symlink left in DIR is replaced, never followed.
 *  4. A hardlink's source must be a leaf made here, by its name in this root (a leaf is remembered
 *     only when the caller says it may be one: an inode with a second name).
 * Paths are Buffers so that names with any bytes (held as latin1 strings) reach the kernel unchanged.
 * The threat model is hostile image content; DIR being changed by another process during the
 * extraction is out of scope (as for `tar -x`).
 */
import { chmodSync, lstatSync, mkdirSync, rmSync, type Stats } from 'node:fs';
import { LayerfoldError, showName } from '../errors.js';

interface DirId {
  dev: number;
  ino: number;
  /** Its group as lstat saw it once made: what a file created in it is given (setgid or not) when it is the creator's. */
  gid: number;
}

export class SafeRoot {
  private readonly rootBytes: Buffer;
  private readonly dirs = new Map<string, DirId>();
  private readonly leaves = new Set<string>();
  /** The parent the last leaf went into, checked then; cleared by anything but a leaf (rule 2). */
  private checkedParent: string | undefined = undefined;
  /** The root's path with its '/', when it is ASCII: it and a latin1 name then make one Buffer in one step. */
  private readonly rootAscii: string | undefined;

  /** `root` must already be resolved (realpath) and be a directory. */
  constructor(
    readonly root: string,
    private readonly force: boolean,
  ) {
    const prefix = root.endsWith('/') ? root : `${root}/`;
    this.rootBytes = Buffer.from(prefix);
    this.rootAscii = this.rootBytes.length === prefix.length ? prefix : undefined;
    const st = lstatSync(root);
    if (!st.isDirectory()) throw new LayerfoldError('IO', `${root}: not a directory`);
    this.dirs.set('', { dev: st.dev, ino: st.ino, gid: st.gid });
  }

  /** The absolute path of a checked relative name. */
  path(rel: string): Buffer {
    checkName(rel);
    if (this.rootAscii !== undefined) return Buffer.from(this.rootAscii + rel, 'latin1');
    return Buffer.concat([this.rootBytes, Buffer.from(rel, 'latin1')]);
  }

  /** The group of the registered directory a leaf `rel` goes into (undefined when it is not one). */
  parentGid(rel: string): number | undefined {
    const slash = rel.lastIndexOf('/');
    return this.dirs.get(slash < 0 ? '' : rel.slice(0, slash))?.gid;
  }

  /** Make directory `rel` (mode 0700 until its metadata is set) in a registered parent. */
  mkdir(rel: string): Buffer {
    const path = this.placeIn(rel);
    this.checkedParent = undefined;
    try {
      mkdirSync(path, 0o700);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !this.force) throw exists(rel, e);
      const st = lstatSync(path);
      if (st.isDirectory()) {
        chmodSync(path, 0o700); // a directory left in DIR: writable until its metadata is set
      } else {
        rmSync(path, { recursive: true, force: true });
        mkdirSync(path, 0o700);
      }
    }
    const st = lstatSync(path);
    if (!st.isDirectory() || st.isSymbolicLink()) throw escape(rel, 'is not the directory just made');
    this.dirs.set(rel, { dev: st.dev, ino: st.ino, gid: st.gid });
    return path;
  }

  /**
   * The path where leaf `rel` may be created (its parent checked; with `force`, whatever stands there
   * removed without following it). The caller creates it with a call that does not follow links.
   * `linkSource`: whether a later hardlink may name it (false keeps a million names out of memory).
   */
  leaf(rel: string, linkSource = true): Buffer {
    const path = this.placeIn(rel, true);
    if (this.force) rmSync(path, { recursive: true, force: true });
    if (linkSource) this.leaves.add(rel);
    return path;
  }

  /** The path of a leaf made here, as the source of a hardlink. */
  linkSource(rel: string): Buffer {
    if (!this.leaves.has(rel)) throw escape(rel, 'hardlink source is not an entry made in this directory');
    return this.path(rel);
  }

  /** Names of every directory registered, in the order they were made. */
  madeDirs(): string[] {
    return [...this.dirs.keys()].filter((d) => d !== '');
  }

  private placeIn(rel: string, leaf = false): Buffer {
    const path = this.path(rel);
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    const id = this.dirs.get(parent);
    if (id === undefined) throw escape(rel, 'its parent is not a directory made in this extraction');
    if (leaf && parent === this.checkedParent) return path; // rule 2: only a sibling leaf went in since the check
    this.checkedParent = undefined;
    let st: Stats;
    try {
      st = lstatSync(parent === '' ? this.rootBytes : this.path(parent));
    } catch (e) {
      throw escape(rel, `its parent vanished (${(e as Error).message})`);
    }
    if (!st.isDirectory() || st.isSymbolicLink() || st.dev !== id.dev || st.ino !== id.ino) {
      throw escape(rel, 'its parent was replaced during the extraction');
    }
    if (leaf) this.checkedParent = parent;
    return path;
  }
}

/** An empty, `.` or `..` component (at the start, between slashes or at the end), or a leading slash. */
const UNCLEAN = /(?:^|\/)\.{0,2}(?:\/|$)/;

export function checkName(rel: string): void {
  if (rel === '' || rel.includes('\0') || UNCLEAN.test(rel)) {
    throw new LayerfoldError('PATH_ESCAPE', `${showName(rel)}: not a clean relative name; refusing to write it`);
  }
}

function escape(rel: string, why: string): LayerfoldError {
  return new LayerfoldError('PATH_ESCAPE', `${showName(rel)}: ${why}; refusing to write it`);
}

function exists(rel: string, e: unknown): LayerfoldError {
  const err = e as NodeJS.ErrnoException;
  if (err.code !== 'EEXIST') return new LayerfoldError('IO', `${showName(rel)}: cannot make the directory: ${err.message}`, { cause: e });
  return new LayerfoldError('IO', `${showName(rel)}: already exists in the target directory (use --force to replace)`, { cause: e });
}
