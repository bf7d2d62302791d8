/**
 * Apply layers, bottom first, to one merged tree — docker's rules with the overlay2 driver, where
 * each layer is unpacked into a directory of its own and overlayfs shows the uppermost copy.
 * Rules, in the order they are checked for each layer (a docker pair pins down each one; see
 * ARCHITECTURE.md):
 *
 *  1. Names are cleaned as Go's filepath.Clean does (`./a`, `/a`, `a//b` are `a`, `a/b`), from the
 *     root: docker unpacks a layer chrooted into its directory, so a `..` that would climb above the
 *     root stays at the root (`../escape` is `escape`, hardlink targets alike) — nothing can leave it.
 *                                                           [name-escape, hardlink-escape]
 *     The same clean name twice in one layer is refused ("duplicates of file paths not supported"),
 *     directories included.                                    [duplicate-path, duplicate-dir]
 *  2. `.wh..wh..opq` in D hides every lower child of D, wherever it stands in the layer; D's entries
 *     from the same layer stay, wherever the marker stands in the layer. At the root of a layer it
 *     hides nothing (overlayfs ignores it there).            [opaque-toplevel, docker/opaque-toplevel]
 *  3. `.wh.NAME` hides NAME and its subtree in lower layers only, never a sibling of its own layer
 *     made before it (docker fails there; we follow the spec). Every `.wh.X` but the opaque marker is a whiteout of X (so
 *     `.wh..wh.plnk` whites out `.wh.plnk`); a bare `.wh.` (or `.wh..`, `.wh...`) is refused. [whiteout-*]
 * 3b. docker makes each whiteout as a 0:0 character device in the layer's directory (and overlayfs
 *     reads any 0:0 character device as one), so later entries of the layer meet it: a directory
 *     over it merges back what it hid, an entry beneath it is refused, an opaque marker beneath it
 *     and a hardlink to it leave a whiteout.   [whiteout-then-dir-same-layer, chardev-whiteout, …]
 *  4. A directory a layer needs but does not contain (the parent of an entry, a whiteout or an opaque
 *     marker) is made in that layer: 0755, 0:0, the unpack time (a stand-in, `impliedMtime`). overlay
 *     shows the uppermost copy, so this replaces a lower directory's metadata (children stay) and
 *     replaces a lower non-directory — a path through a lower symlink does not follow it.
 *                                                    [implicit-parents, capability, through-symlink]
 * 4b. A path through a symlink the same layer made follows it, to a directory of this layer, as the
 *     kernel does in the layer's own directory.   [same-layer-symlink-parent, hardlink-via-symlink]
 *  5. Directory over directory keeps the children and takes the new metadata; anything else replaces
 *     the old path and its whole subtree.                                 [type-swaps, whiteout-then-recreate]
 *  6. A hardlink names a target made earlier in the same layer (docker refuses a link to a lower
 *     layer's file or to one that comes later: "no such file or directory"); the link entry's owner,
 *     and — unless the target is a symlink — its mode and mtime, apply to the whole inode.
 *                                                [hardlink-meta-differs, hardlink-cross-layer]
 *  7. Modes keep permission, setuid, setgid and sticky bits; mtimes of anything but symlinks outside
 *     [1970, 2262-04-11T23:47:16Z] become 0 (docker's boundTime); only `security.capability` of the
 *     xattrs survives, a v3 value as v2.                                   [mtime-bounds, xattrs]
 */
import { addContext, LayerfoldError, showName } from '../errors.js';
import { channel } from 'node:diagnostics_channel';
import { AclError, checkAccessAcl, createdMode, defaultAclOf, dockerDirMode, type AclTarget, type DefaultAcl } from './acl.js';
import { PositionalReader } from '../io/positional-reader.js';
import { tarEntries, type TarEntry } from '../tar/entries.js';
import { Dir, Inode, isDir, stateOf, type LayerSource, type MergedTree, type Node, type NodeState } from './node.js';
import type { TreeChange, TreeChangeKind } from './changes.js';
import { baseOf, cleanRooted, goClean, parentOf } from './paths.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './whiteouts.js';

/** The kernel's MAXSYMLINKS: how many symlinks one path lookup follows. */
const MAX_SYMLINKS = 40;
/** time.Unix(0, 1<<63-1): the last instant Go's Chtimes can set; later (and pre-1970) becomes 0. */
const MAX_SETTABLE_MTIME = 9223372036;
/** Linux uids and gids are 32-bit; (uid_t)-1 means "no change" to chown. */
const ID_RANGE = 2 ** 32;
const UNCHANGED_ID = ID_RANGE - 1;
/** mknod takes a 32-bit dev_t: 12 bits of major, 20 of minor; higher bits are lost. */
const MAJOR_MASK = 0xfff;
const MINOR_MASK = 0xfffff;
/** NAME_MAX and PATH_MAX: longer names and symlink targets fail with ENAMETOOLONG. */
const NAME_MAX = 255;
const SYMLINK_MAX = 4095;
const PATH_MAX = 4095;
const DEFAULT_ACL = 'system.posix_acl_default';
const ACCESS_ACL = 'system.posix_acl_access';

/** What the kernel sets an entry's ACL on (a hardlink's is its target's inode, never a symlink here). */
const aclTarget = (entry: TarEntry): AclTarget => (entry.type === 'dir' ? 'dir' : entry.type === 'symlink' ? 'symlink' : 'other');

/** The xattr namespaces the kernel knows; any other name fails with EOPNOTSUPP before a filesystem sees it. */
const XATTR_NAMESPACES = ['security.', 'system.', 'trusted.', 'user.'];

export interface ApplyOptions {
  /** mtime given to implied directories (docker uses the unpack time, which no archive records). */
  impliedMtime: number;
  /** Called for each layer entry as it is applied (progress, inspect). */
  onEntry?: (layer: number, entry: TarEntry, path: string) => void;
  /**
   * Called for each layer entry before it is applied, with the tree as the lower layers (and this
   * layer's earlier entries) left it: what inspect needs to tell an added path from a modified one
   * and to size what a whiteout hides. The tree must not be changed.
   */
  beforeEntry?: (layer: number, entry: TarEntry, path: string, root: Dir) => void;
  /**
   * Called for every change an entry makes to the merged tree (tree/changes.ts says which), only when
   * given: `why` and `inspect` are built from these, so a rule changes in this file alone.
   */
  onChange?: (change: TreeChange) => void;
  /** Refuse after this many entries in all (decompression-bomb guard). */
  maxEntries?: number;
  /** Refuse when the layers and the holes of their sparse files come to more bytes than this (--max-size). */
  maxSize?: number;
}

/**
 * Rule 6's metadata: a hardlink entry's owner applies to the whole inode, and — unless the inode is
 * a symlink, whose mode and time docker cannot set through a link — its mode and mtime too.
 */
export function applyLinkMetadata(inode: { type: string; uid: number; gid: number; mode: number; mtime: number; linked: boolean }, entry: TarEntry): void {
  inode.linked = true;
  inode.uid = ownerId(entry.uid, inode.uid);
  inode.gid = ownerId(entry.gid, inode.gid);
  if (inode.type !== 'symlink') {
    inode.mode = entry.mode & 0o7777;
    inode.mtime = boundMtime(entry.mtime);
  }
}

/**
 * The owner id the kernel ends up with: docker's Lchown passes Go ints that the syscall truncates to
 * 32 bits, and (uid_t)-1 leaves the id as it was (`current`: 0 for what docker just made).
 *                                                                 [gid-minus1, uid-2pow32]
 */
export function ownerId(id: number, current: number): number {
  if (id >= 0 && id < UNCHANGED_ID) return id; // the usual case, without arithmetic
  const wrapped = ((id % ID_RANGE) + ID_RANGE) % ID_RANGE;
  return wrapped === UNCHANGED_ID ? current : wrapped;
}

/** A device entry's numbers as mknod keeps them (12 bits of major, 20 of minor); 0:0 for other types. */
export function deviceNumbersOf(entry: TarEntry): { devmajor: number; devminor: number } {
  const device = entry.type === 'char' || entry.type === 'block';
  return device ? { devmajor: entry.devmajor & MAJOR_MASK, devminor: entry.devminor & MINOR_MASK } : { devmajor: 0, devminor: 0 };
}

/** A 0:0 character device, which overlayfs reads as a whiteout in any layer.   [chardev-whiteout] */
export function isWhiteoutDevice(entry: TarEntry): boolean {
  return entry.type === 'char' && (entry.devmajor & MAJOR_MASK) === 0 && (entry.devminor & MINOR_MASK) === 0;
}

export function boundMtime(mtime: number): number {
  return mtime < 0 || mtime > MAX_SETTABLE_MTIME ? 0 : mtime;
}

/** ext4's timestamp range, which the kernel clamps to: the usual filesystem under overlay2. */
const FS_MIN_MTIME = -(2 ** 31);
const FS_MAX_MTIME = 2 ** 31 - 1 + 3 * 2 ** 32;

/**
 * Symlink times are set without docker's boundTime, through Go's time.UnixNano, which wraps outside
 * int64 nanoseconds (years 1678-2262); the filesystem then clamps to its range.        [mtime-bounds]
 */
export function symlinkMtime(mtime: number): number {
  const ns = BigInt.asIntN(64, BigInt(mtime) * 1_000_000_000n);
  const secs = Number(ns / 1_000_000_000n) - (ns % 1_000_000_000n < 0n ? 1 : 0);
  return Math.min(FS_MAX_MTIME, Math.max(FS_MIN_MTIME, secs));
}

function isLayerSymlink(node: Node | undefined, layer: number): node is Inode {
  return node instanceof Inode && node.type === 'symlink' && node.layer === layer;
}

function entryError(layer: LayerSource, name: string, what: string, code: 'BAD_ENTRY' = 'BAD_ENTRY'): LayerfoldError {
  return new LayerfoldError(code, `layer ${layer.index} (${layer.label}) entry ${showName(name)}: ${what}`);
}

/** security.capability as the export shows it: v2 kept, v3 cut to v2; anything else the kernel refuses. */
function capabilityOf(entry: TarEntry, layer: LayerSource): Buffer | undefined {
  const raw = entry.xattrs?.get('security.capability');
  if (raw === undefined) return undefined;
  const value = Buffer.from(raw, 'latin1');
  if (value.length === 20 && value[3] === 2) return value;
  if (value.length === 24 && value[3] === 3) {
    const v2 = Buffer.from(value.subarray(0, 20));
    v2[3] = 2;
    return v2;
  }
  throw entryError(layer, entry.name, `invalid security.capability xattr (${value.length} bytes); the kernel, and so docker, refuses it ("invalid argument")`);
}

class LayerApplier {
  private readonly seen = new Set<string>();
  /**
   * Whiteouts this layer made, by path, with the lower node each one hid. Docker makes each as a 0:0
   * character device in the layer's directory, so what comes later in the same layer meets it there
   * (rule 3b).
   */
  private readonly whiteouts = new Map<Dir, Map<string, Node | undefined>>();
  private lastParentPath: string | undefined;
  private lastParent: Dir | undefined;
  /** The path lastParent really has, once this layer's symlinks are followed (rule 4b). */
  private lastParentReal = '';
  /** Set by resolve(): the path of the directory it found. */
  private resolvedPath = '';
  /** The entry being applied, for the changes it reports. */
  private entry: TarEntry | undefined;
  /** For the listener: the inode a hardlink entry names, as it was before the entry, and its target's path. */
  private linkedBefore: NodeState | undefined;
  private linkedTargetPath: string | undefined;

  constructor(
    private readonly root: Dir,
    private readonly layer: LayerSource,
    private readonly options: ApplyOptions,
  ) {}

  private get index(): number {
    return this.layer.index;
  }

  /**
   * Make sure `path` is a directory of this layer (rule 4): reuse one this layer already made,
   * take over a lower directory with implied metadata, or replace a lower non-directory.
   */
  ensureDir(path: string, forEntry: string): Dir {
    // A layer lists a directory's entries together: the last answer is usually the next one too.
    // It stays right until something is removed or a directory replaced (forgetParent).
    if (path === this.lastParentPath) return this.lastParent!;
    this.resolvedPath = path;
    const dir = this.walkToDir(path, forEntry);
    this.lastParentPath = path;
    this.lastParent = dir;
    this.lastParentReal = this.resolvedPath;
    return dir;
  }

  /** Report a change; `before` is what stood at `path` (copied now, before anything changes it). */
  private report(kind: TreeChangeKind, path: string, before: Node | undefined, after: Node | undefined, extra?: Partial<TreeChange>): void {
    const listener = this.options.onChange;
    if (listener === undefined) return;
    listener({ kind, layer: this.index, entry: this.entry!, path, before: before === undefined ? undefined : stateOf(before), after: after === undefined ? undefined : stateOf(after), node: after, ...extra });
  }

  private get listening(): boolean {
    return this.options.onChange !== undefined;
  }

  /** `dir`'s path joined with `name`. */
  private static join(dirPath: string, name: string): string {
    return dirPath === '' ? name : `${dirPath}/${name}`;
  }

  private forgetParent(): void {
    this.lastParentPath = undefined;
    this.lastParent = undefined;
  }

  private walkToDir(path: string, forEntry: string): Dir {
    let dir = this.root;
    if (path === '') return dir;
    const parts = path.split('/');
    let at = '';
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const child = dir.children.get(part);
      if (isLayerSymlink(child, this.index)) {
        // rare: a symlink this layer made, which the kernel follows (rule 4b); resolve the rest part by part
        return this.resolve(parts.slice(i), this.stackTo(parts, i), true, forEntry)!;
      }
      // built part by part (a rope, not a copy per step: paths may be thousands of parts deep)
      if (this.listening) at = at === '' ? part : `${at}/${part}`;
      dir = this.stepInto(dir, part, child, forEntry, path, at);
    }
    return dir;
  }

  /** One step of rule 4: `part` of `dir` as a directory of this layer, taken over or made if need be. */
  /** `at`: the path this step makes, as the kernel would name it (only needed by a listener; else ''). */
  private stepInto(dir: Dir, part: string, child: Node | undefined, forEntry: string, path: string, at: string): Dir {
    if (child === undefined && this.whiteoutIn(dir, part)) {
      throw entryError(this.layer, forEntry, `its parent ${showName(part)} is a whiteout earlier in this layer; docker refuses such a layer ("not a directory")`);
    }
    // mkdir in a setgid directory of this layer inherits the setgid bit (kernel rule); docker then
    // chowns the new directory to 0:0, which keeps the bit on a directory.      [setgid-implied]
    // A default ACL of the parent masks the mode and is inherited; docker then chmods the directory
    // to 0755 if that changed its permissions, and the setgid bit goes.  [acl-default, acl-setgid-implied]
    const acl = this.aclIn(dir);
    const mode = dockerDirMode(createdMode(dir.layer === this.index && (dir.mode & 0o2000) !== 0 ? 0o2755 : 0o755, acl));
    if (isDir(child)) {
      if (child.layer !== this.index) {
        const before = this.listening ? stateOf(child) : undefined;
        child.defaultAcl = acl;
        child.mode = mode;
        child.uid = 0;
        child.gid = 0;
        child.mtime = this.options.impliedMtime;
        child.layer = this.index;
        child.implied = true;
        child.capability = undefined;
        if (before) this.options.onChange!({ kind: 'imply', layer: this.index, entry: this.entry!, path: at, before, after: stateOf(child), node: child });
      }
      return child;
    }
    if (child !== undefined && child.layer === this.index) {
      throw entryError(this.layer, forEntry, `its parent ${showName(path)} is not a directory in this layer`);
    }
    const made = new Dir(mode, 0, 0, this.options.impliedMtime, this.index, true);
    this.report('imply', at, child, made);
    made.defaultAcl = acl;
    dir.children.set(part, made);
    return made;
  }

  /**
   * The default ACL a directory made in `dir` inherits: `dir`'s own if this layer holds `dir` (each
   * layer is unpacked into a directory of its own, whose root never has one: docker skips the
   * root's entry), else none.                                   [acl-replaced-implied, acl-root]
   */
  private aclIn(dir: Dir): DefaultAcl | undefined {
    return dir.layer === this.index ? dir.defaultAcl : undefined;
  }

  /** The directories from the root down `parts[0..i)`, all directories of this layer by now. */
  private stackTo(parts: string[], i: number): Dir[] {
    const stack = [this.root];
    for (let j = 0; j < i; j++) stack.push(stack[stack.length - 1]!.children.get(parts[j]!) as Dir);
    return stack;
  }

  /**
   * Resolve `queue` from the directory on top of `stack` as the kernel does in the layer's own
   * directory: a symlink this layer made is followed (its target must be a directory of this layer:
   * lower layers are not there, and docker's mkdir cannot go through a dangling link), `..` goes up
   * from where the links led, absolute targets start at the layer's root, and at most 40 links are
   * followed in the whole lookup. With `create`, the path's own missing parts are made (rule 4) and a
   * failure refuses the entry; without, any failure gives undefined.
   *                                        [same-layer-symlink-parent, hardlink-via-symlink]
   */
  private resolve(queue: string[], stack: Dir[], create: boolean, forEntry: string): Dir | undefined {
    // the names of the directories on the stack below the root, for the path reported (rule 4b)
    const names = this.listening ? this.resolvedPath.split('/').slice(0, stack.length - 1) : [];
    let links = 0;
    let fromLinks = 0; // how many parts at the head of the queue came from symlink targets
    while (queue.length > 0) {
      const part = queue.shift()!;
      const mustExist = fromLinks > 0 || !create;
      if (fromLinks > 0) fromLinks--;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length > 1) {
          stack.pop();
          names.pop();
        }
        continue;
      }
      const dir = stack[stack.length - 1]!;
      const child = dir.children.get(part);
      if (isLayerSymlink(child, this.index)) {
        if (++links > MAX_SYMLINKS) {
          if (!create) return undefined;
          throw entryError(this.layer, forEntry, 'too many levels of symbolic links on its path; docker refuses such a layer');
        }
        if (child.linkname.startsWith('/')) {
          stack.length = 1;
          names.length = 0;
        }
        const target = child.linkname.split('/');
        queue = [...target, ...queue]; // a spread into a call (unshift(...x)) is bounded by the stack, an array literal is not
        fromLinks += target.length;
      } else if (!mustExist) {
        names.push(part);
        stack.push(this.stepInto(dir, part, child, forEntry, part, this.listening ? names.join('/') : ''));
      } else if (isDir(child) && child.layer === this.index) {
        names.push(part);
        stack.push(child);
      } else {
        if (!create) return undefined;
        throw entryError(this.layer, forEntry, 'its path runs through a symlink that does not lead to a directory this layer made; docker refuses such a layer');
      }
    }
    if (this.listening) this.resolvedPath = names.join('/');
    return stack[stack.length - 1]!;
  }

  /** The directory of this layer at `path`, following this layer's symlinks; undefined if none. */
  private existingDir(path: string, forEntry: string): Dir | undefined {
    return path === '' ? this.root : this.resolve(path.split('/'), [this.root], false, forEntry);
  }

  /** Remove what lower layers put at `name` in `dir` (rules 2, 3): same-layer nodes stay. */
  private hideLower(dir: Dir, dirPath: string, name: string): Node | undefined {
    const node = dir.children.get(name);
    if (node === undefined) return undefined;
    this.forgetParent();
    if (node.layer !== this.index) {
      dir.children.delete(name);
      this.report('whiteout', LayerApplier.join(dirPath, name), node, undefined);
      return node;
    }
    if (isDir(node)) this.hideLowerChildren(node, LayerApplier.join(dirPath, name), 'whiteout');
    return undefined;
  }

  /** A whiteout of `name` in `dir` (`.wh.NAME`, or a 0:0 character device, which overlayfs reads as one). */
  private whiteOut(dir: Dir, dirPath: string, name: string): void {
    const hidden = this.hideLower(dir, dirPath, name);
    let names = this.whiteouts.get(dir);
    if (names === undefined) this.whiteouts.set(dir, (names = new Map()));
    // a second whiteout of the same name keeps what the first one hid
    if (hidden !== undefined || !names.has(name)) names.set(name, hidden);
  }

  private whiteoutIn(dir: Dir, name: string): boolean {
    return this.whiteouts.size > 0 && (this.whiteouts.get(dir)?.has(name) ?? false);
  }

  /** Whether `path` is a whiteout this layer made (a device standing there, in docker's directory). */
  private isWhiteout(path: string, forEntry: string): boolean {
    if (this.whiteouts.size === 0 || path === '') return false;
    const dir = this.existingDir(parentOf(path), forEntry);
    return dir !== undefined && this.whiteoutIn(dir, baseOf(path));
  }

  /** An entry made over this layer's whiteout of `name`: the whiteout is gone; what it hid, returned. */
  private takeWhiteout(dir: Dir, name: string): Node | undefined {
    if (!this.whiteoutIn(dir, name)) return undefined;
    const names = this.whiteouts.get(dir)!;
    const hidden = names.get(name);
    names.delete(name);
    return hidden;
  }

  /** Every lower node below `dir` goes (rule 2; a whiteout of a same-layer directory): no recursion, a tree may be deep. */
  private hideLowerChildren(top: Dir, topPath: string, kind: 'whiteout' | 'opaque'): void {
    this.forgetParent();
    const stack: Array<[Dir, string]> = [[top, topPath]];
    while (stack.length > 0) {
      const [dir, dirPath] = stack.pop()!;
      for (const [name, child] of dir.children) {
        if (child.layer !== this.index) {
          dir.children.delete(name);
          this.report(kind, LayerApplier.join(dirPath, name), child, undefined);
        } else if (isDir(child)) stack.push([child, LayerApplier.join(dirPath, name)]);
      }
    }
  }

  private clean(entry: TarEntry): string | null {
    const path = cleanRooted(entry.name);
    // docker's unpack fails past PATH_MAX (ENAMETOOLONG); a deeper tree would also cost time and
    // output without bound (a 5 KB gzip layer can name a path 600 KB deep)
    if (path.length > PATH_MAX || (entry.type === 'hardlink' && entry.linkname.length > PATH_MAX)) {
      throw entryError(this.layer, entry.name, `a path of more than ${PATH_MAX} bytes; docker refuses such a layer ("file name too long")`);
    }
    if (path.length > NAME_MAX && path.split('/').some((part) => part.length > NAME_MAX)) {
      throw entryError(this.layer, entry.name, `a name part longer than ${NAME_MAX} bytes; docker refuses such a layer ("file name too long")`);
    }
    if (path === '') {
      if (entry.type !== 'dir') throw entryError(this.layer, entry.name, 'a non-directory in place of the root');
      return null; // the root directory's own entry: docker skips it
    }
    // tar-split refuses a name twice as Go's filepath.Clean gives it, without rooting: `./a` and `a`
    // are one name, but `/a` and `a` (or `../a` and `a`) are two, and the later entry then replaces
    // the earlier.                                              [names-dup-normalized, dup-absolute]
    const name = entry.name.charCodeAt(0) === 0x2f || entry.name.includes('..') ? goClean(entry.name) : path;
    if (this.seen.has(name)) {
      throw entryError(this.layer, entry.name, 'the layer holds this path twice; docker refuses such a layer ("duplicates of file paths not supported")');
    }
    this.seen.add(name);
    return path;
  }

  /**
   * One entry, in the layer's own order. Markers (rules 2, 3) only ever remove what lower layers
   * made, so where they stand in the layer does not change the result; and no layer is held in
   * memory: entries are applied as their headers are read.
   */
  applyOne(entry: TarEntry): void {
    const path = this.clean(entry);
    if (path === null) return;
    this.entry = entry;
    this.options.beforeEntry?.(this.index, entry, path, this.root);
    const base = baseOf(path);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      // `.wh.`, `.wh..`, `.wh...` name the directory itself or its parent: docker's mknod fails (EEXIST).
      if (base === WHITEOUT_PREFIX || base === '.wh..' || base === '.wh...') {
        throw entryError(this.layer, entry.name, 'a whiteout that names no file; docker refuses such a layer ("file exists": its mknod meets the directory itself)');
      }
      const parent = parentOf(path);
      if (base === OPAQUE_MARKER && this.isWhiteout(parent, entry.name)) {
        // docker sets the opaque xattr on the whiteout device itself: the path stays hidden
      } else {
        const dir = this.ensureDir(parent, entry.name);
        const dirPath = this.lastParentReal;
        // overlayfs never reads the opaque xattr of a layer's root: a marker there hides nothing.
        if (base === OPAQUE_MARKER) {
          if (dir !== this.root) this.hideLowerChildren(dir, dirPath, 'opaque');
        } else this.whiteOut(dir, dirPath, base.slice(WHITEOUT_PREFIX.length));
      }
    } else {
      this.applyEntry(path, entry);
    }
    this.options.onEntry?.(this.index, entry, path);
  }

  private applyEntry(path: string, entry: TarEntry): void {
    const dir = this.ensureDir(parentOf(path), entry.name);
    const base = baseOf(path);
    const existing = dir.children.get(base);
    const at = this.listening ? LayerApplier.join(this.lastParentReal, base) : path;
    const mode = entry.mode & 0o7777;
    if (entry.xattrs) this.checkXattrs(entry);
    const linkTarget = entry.type === 'hardlink' ? cleanRooted(entry.linkname) : '';
    // a link to a whiteout device is one more name of it, and a 0:0 character device is one: whiteouts
    if ((linkTarget !== '' && this.isWhiteout(linkTarget, entry.name)) || isWhiteoutDevice(entry)) {
      this.whiteOut(dir, this.lastParentReal, base); //                   [hardlink-to-whiteout, chardev-whiteout]
      return;
    }
    // What a whiteout of this layer hid comes back under a directory made over it (rule 3b).
    const hidden = this.takeWhiteout(dir, base);
    // a directory replaced by a non-directory, or a symlink of this layer replaced: paths through it change
    if ((isDir(existing) && entry.type !== 'dir') || isLayerSymlink(existing, this.index)) this.forgetParent();
    if (entry.type === 'dir') {
      const mtime = boundMtime(entry.mtime);
      let node: Dir;
      let kind: TreeChangeKind = 'merge';
      if (isDir(existing)) {
        node = existing;
      } else if (isDir(hidden)) {
        node = hidden;
        this.report('restore', at, undefined, node);
        dir.children.set(base, node);
        this.forgetParent();
      } else {
        node = new Dir(mode, 0, this.createdGid(dir), mtime, this.index, false);
        kind = existing === undefined ? 'add' : 'replace';
        dir.children.set(base, node);
      }
      const before = this.listening ? (kind === 'merge' ? stateOf(node) : existing && stateOf(existing)) : undefined;
      // the entry's own default ACL, else what mkdir inherited in this layer's directory, else (a
      // directory this layer already made) what it has                [acl-replaced, acl-inherited]
      const own = this.entryAcl(entry);
      if (own !== null) node.defaultAcl = own;
      else if (!(isDir(existing) && existing.layer === this.index)) node.defaultAcl = this.aclIn(dir);
      node.mode = mode;
      node.uid = ownerId(entry.uid, node.layer === this.index ? node.uid : 0);
      node.gid = ownerId(entry.gid, node.layer === this.index ? node.gid : this.createdGid(dir));
      node.mtime = mtime;
      node.layer = this.index;
      node.implied = false;
      node.capability = capabilityOf(entry, this.layer); // [cap-on-dir]
      if (this.listening) this.options.onChange!({ kind, layer: this.index, entry, path: at, before, after: stateOf(node), node });
      // overlayfs's own opaque xattr, carried as a PAX record, makes the directory opaque too  [trusted-opaque]
      if (entry.xattrs?.get('trusted.overlay.opaque') === 'y') this.hideLowerChildren(node, at, 'opaque');
      return;
    }
    if (entry.type === 'hardlink') {
      const before = this.listening && existing !== undefined ? stateOf(existing) : undefined;
      const inode = this.linkTarget(path, linkTarget, entry);
      dir.children.set(base, inode);
      if (this.listening) this.options.onChange!({ kind: 'hardlink', layer: this.index, entry, path: at, before, after: stateOf(inode), node: inode, inodeBefore: this.linkedBefore, target: this.linkedTargetPath });
      return;
    }
    const device = entry.type === 'char' || entry.type === 'block';
    if (entry.type === 'symlink') this.checkSymlink(entry);
    const inode = new Inode(
      entry.type,
      entry.type === 'symlink' ? 0o777 : mode, // a symlink's permissions cannot be set on Linux
      ownerId(entry.uid, 0),
      ownerId(entry.gid, this.createdGid(dir)),
      entry.type === 'symlink' ? symlinkMtime(entry.mtime) : boundMtime(entry.mtime),
      entry.size,
      entry.type === 'symlink' ? entry.linkname : '',
      device ? entry.devmajor & MAJOR_MASK : 0,
      device ? entry.devminor & MINOR_MASK : 0,
      this.index,
      entry.dataOffset,
    );
    inode.capability = capabilityOf(entry, this.layer);
    this.report(existing === undefined ? 'add' : 'replace', at, existing, inode);
    inode.sparse = entry.sparse; // holes stay holes until a writer meets them  [sparse-gnu-*, sparse-bsdtar]
    dir.children.set(base, inode);
  }

  /** The group a new file gets before docker's chown: the directory's in a setgid directory of this layer. */
  private createdGid(dir: Dir): number {
    return dir.layer === this.index && (dir.mode & 0o2000) !== 0 ? dir.gid : 0;
  }

  private checkSymlink(entry: TarEntry): void {
    if (entry.linkname === '') throw entryError(this.layer, entry.name, 'a symlink with an empty target; symlink(2), and so docker, refuses it ("no such file or directory")');
    if (entry.linkname.length > SYMLINK_MAX) {
      throw entryError(this.layer, entry.name, `a symlink target of ${entry.linkname.length} bytes (at most ${SYMLINK_MAX}); docker refuses such a layer ("file name too long")`);
    }
  }

  private checkXattrs(entry: TarEntry): void {
    for (const key of entry.xattrs!.keys()) {
      if (!XATTR_NAMESPACES.some((ns) => key.startsWith(ns))) {
        throw entryError(this.layer, entry.name, `xattr ${JSON.stringify(key)} is in no namespace the kernel knows; docker refuses such a layer ("operation not supported")`);
      }
    }
    if (entry.type !== 'dir') this.entryAcl(entry); // the kernel refuses a default ACL on a non-directory  [acl-on-file]
    const access = entry.xattrs!.get(ACCESS_ACL);
    if (access !== undefined) this.aclCall(entry, ACCESS_ACL, () => checkAccessAcl(access, aclTarget(entry))); // [acl-access-*]
  }

  /**
   * The default ACL an entry's PAX record sets: null when it carries none, undefined when it sets an
   * empty one. A blob the kernel refuses fails the layer, as docker's lsetxattr does.
   *                                                          [acl-invalid, acl-version, acl-on-file]
   */
  private entryAcl(entry: TarEntry): DefaultAcl | undefined | null {
    const value = entry.xattrs?.get(DEFAULT_ACL);
    if (value === undefined) return null;
    return this.aclCall(entry, DEFAULT_ACL, () => defaultAclOf(value, aclTarget(entry)));
  }

  /** An ACL check whose AclError fails the layer with docker's lsetxattr message. */
  private aclCall<T>(entry: TarEntry, key: string, check: () => T): T {
    try {
      return check();
    } catch (e) {
      if (!(e instanceof AclError)) throw e;
      throw entryError(this.layer, entry.name, `a ${key} the kernel refuses; docker refuses such a layer ("lsetxattr ${key} /${cleanRooted(entry.name)}: ${e.message}")`);
    }
  }

  /** Rule 6. */
  /** `target`: the link's name cleaned from the root, as in docker's chroot. */
  private linkTarget(path: string, target: string, entry: TarEntry): Inode {
    if (target === path || target === '') throw entryError(this.layer, entry.name, 'hardlink to itself or to the root');
    const node: Node | undefined = this.existingDir(parentOf(target), entry.name)?.children.get(baseOf(target));
    if (node === undefined || node.layer !== this.index) {
      const where = node === undefined ? 'no such file earlier in this layer' : 'the target is in a lower layer, not this one';
      throw entryError(this.layer, entry.name, `hardlink to ${showName(entry.linkname)}: ${where}; docker refuses such a layer ("no such file or directory")`);
    }
    if (isDir(node)) throw entryError(this.layer, entry.name, `hardlink to directory ${showName(entry.linkname)}`);
    if (this.listening) {
      this.linkedBefore = stateOf(node);
      this.linkedTargetPath = LayerApplier.join(parentOf(target) === '' ? '' : this.resolvedPath, baseOf(target));
    }
    applyLinkMetadata(node, entry);
    // docker chowns the new name, and a chown drops the inode's capability; only the link entry's
    // own xattr puts one back (GNU tar writes it on the first name only).       [cap-hardlink]
    node.capability = capabilityOf(entry, this.layer);
    return node;
  }
}

function layerError(layer: LayerSource, e: unknown): unknown {
  return addContext(`layer ${layer.index} (${layer.label})`, e);
}

/** Entries applied between two turns of the event loop. */
const ENTRIES_PER_TURN = 1 << 16;

/**
 * Where a run reports its work, for whoever listens (the CLI's TurboFan switch, cli/tiering.ts):
 * `{ bytes }` when its size is known — the layers' stored bytes before they are read
 * (read/layers.ts), their uncompressed bytes before the first entry is applied (here) — then
 * `{ entries }` every REPORT_EVERY entries applied. Nothing is built or sent while no one subscribes.
 */
export const APPLY_CHANNEL = 'layerfold:apply';
export interface ApplyWork {
  bytes?: number;
  entries?: number;
}
const applyChannel = channel(APPLY_CHANNEL);

export function reportWork(work: ApplyWork): void {
  if (applyChannel.hasSubscribers) applyChannel.publish(work);
}
/** A power of two: the check is one mask per entry. */
const REPORT_EVERY = 4096;

/**
 * Applying is synchronous work, but a layer of millions of entries takes seconds: every 65,536
 * entries the event loop gets a turn, so SIGINT / SIGTERM are handled (one line, temporaries removed)
 * rather than held until the tree is complete, and the progress line keeps moving.
 */
export async function applyLayers(layers: LayerSource[], options: ApplyOptions): Promise<MergedTree> {
  const root = new Dir(0o755, 0, 0, 0, -1, false);
  const max = options.maxEntries ?? Infinity;
  let total = 0;
  // a sparse file unpacks to its full size in docker: a few KiB of tar may claim petabytes of holes
  let unpacked = layers.reduce((sum, l) => sum + l.size, 0);
  reportWork({ bytes: unpacked });
  let reader: PositionalReader | undefined;
  for (const layer of layers) {
    const applier = new LayerApplier(root, layer, options);
    const left = max - total;
    // one read window for all layers, each read to its end before the next (no window per layer)
    reader = new PositionalReader(layer.fd, layer.base + layer.size, reader);
    const entries = tarEntries(reader, layer.base);
    for (;;) {
      let next: IteratorResult<TarEntry>;
      try {
        next = entries.next();
      } catch (e) {
        throw layerError(layer, e);
      }
      if (next.done) break;
      // Counted while the layer is read, so a layer of millions of headers is stopped at the limit.
      if (++total > max) throw layerError(layer, new LayerfoldError('LIMIT', `more entries than --max-entries allows (${left} left for this layer)`));
      next.value.headerOffset -= layer.base;
      if (next.value.sparse && (unpacked += next.value.size - next.value.storedSize) > (options.maxSize ?? Infinity)) {
        throw layerError(layer, new LayerfoldError('LIMIT', `entry ${showName(next.value.name)}: its sparse file's ${next.value.size} bytes take the layers past --max-size (${options.maxSize} bytes)`));
      }
      applier.applyOne(next.value);
      if ((total & (REPORT_EVERY - 1)) === 0) {
        if (applyChannel.hasSubscribers) reportWork({ entries: REPORT_EVERY });
        if ((total & (ENTRIES_PER_TURN - 1)) === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
  return { root, layerCount: layers.length };
}
