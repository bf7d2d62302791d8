/**
 * `layerfold extract`: write the merged tree into a directory so that it holds what `docker export`
 * holds — file data, directories, symlinks, hardlinks as real links, modes with setuid/setgid/sticky,
 * mtimes, and as root owners, device nodes, fifos and `security.capability`.
 *
 * Rules:
 *  - Every path goes through SafeRoot (safe-path.ts): nothing outside DIR is created, changed or
 *    followed. DIR must be empty or absent unless `force`.
 *  - Walk order (tree/walk.ts): a directory is made (0700) before its children; file data is copied
 *    with positional reads from the layer it lives in, in 1 MiB chunks, with synchronous calls, one
 *    file after another (as tar does); a hardlink is made once the file it names is complete.
 *  - Metadata order per inode: data, owner (chown clears setuid/setgid and capabilities), mode,
 *    capability, times. A file's mode is given at creation instead when the kernel is known to keep
 *    it exactly (createsExactly: no setuid/setgid/sticky, nothing DIR's umask or default ACL takes
 *    away, learned by a probe in DIR; never with `force`, whose old directories may carry their own). A capability is set on every type docker exports one for (files, directories,
 *    symlinks, fifos, device nodes: `cap-on-dir`, `cap-on-symlink`, `cap-on-fifo`). Directories get theirs last, deepest first, so that making their contents does
 *    not change their mtime; symlinks get lutimes.
 *  - Without root: owners are left to the running user (who stands for 0:0, as in a rootless
 *    container), device nodes and capabilities are skipped, a mode the kernel would not set is noted;
 *    each such entry is recorded in a manifest beside DIR (`DIR.layerfold-skipped.jsonl`), and the
 *    result counts them so the CLI can say once what was skipped.
 *  - On an error or a signal, what was written is removed (DIR itself when this made it); with
 *    `force` over a non-empty DIR, what was written stays and the error says so.
 */
import {
  closeSync,
  existsSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  chmodSync,
  ftruncateSync,
  writeFileSync,
  writeSync,
  constants as fsc,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LayerfoldError, showName } from '../errors.js';
import { flattenImage, type FlattenedImage, type FlattenOptions } from '../flatten.js';
import { onCleanup } from '../io/cleanup.js';
import type { LayerData } from '../read/layers.js';
import { Dir, type Inode } from '../tree/node.js';
import { walkTree } from '../tree/walk.js';
import { makeNode, runningAsRoot, setCapability, setCapabilityOn, type PrivilegedOutcome } from './privileged.js';
import { xattrAddonProblem } from '../io/xattr.js';
import { SafeRoot } from './safe-path.js';
import { alignedBuffer } from '../io/aligned.js';

export type SkipKind = 'owner' | 'mode' | 'node' | 'capability';

/** One entry whose metadata could not be applied, as written to the manifest. */
export interface SkipRecord {
  /** The name in DIR (UTF-8); `pathBase64` instead when its bytes are not UTF-8. */
  path?: string;
  pathBase64?: string;
  type: 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo' | 'link';
  uid: number;
  gid: number;
  /** Permission, setuid, setgid and sticky bits, octal. */
  mode: string;
  major?: number;
  minor?: number;
  /** The name this hardlink shares its inode with. */
  linkTo?: string;
  /** security.capability, base64. */
  capability?: string;
  skipped: SkipKind[];
}

export interface ExtractDirOptions {
  /** Extract into a non-empty DIR, replacing what stands in the way (never following it). */
  force?: boolean;
  /** Apply owners, device nodes and capabilities (default: whether running as root). */
  privileged?: boolean;
  /** Where to record skipped metadata (default `DIR.layerfold-skipped.jsonl`). */
  manifest?: string;
}

export interface ExtractOptions extends FlattenOptions, ExtractDirOptions {}

export interface ExtractDirResult {
  /** The directory written (resolved). */
  dir: string;
  entries: number;
  /** File data bytes written. */
  bytes: number;
  privileged: boolean;
  /** Entries whose owner, mode, node or capability could not be applied, by kind. */
  skipped: Record<SkipKind, number>;
  /** The manifest of skipped metadata, when anything was skipped. */
  manifest?: string;
  /** Tools whose absence made something be skipped even with privilege. */
  missingTools?: string[];
  /** Said once: capabilities were set by the fallback tool (the xattr addon could not be loaded). */
  note?: string;
}

export interface ExtractResult extends ExtractDirResult {
  impliedMtime: number;
}

const CHUNK = 1024 * 1024;
const FILE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
const DIR_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;

/** `layerfold extract IMAGE DIR`. */
export async function extractRootfs(input: string, dir: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const flat = await flattenImage(input, options);
  try {
    return { ...(await extractTree(flat, dir, options)), impliedMtime: flat.impliedMtime };
  } finally {
    flat.close();
  }
}

/** Write a flattened image's tree into `dir`. */
export async function extractTree(flat: FlattenedImage, dir: string, options: ExtractDirOptions = {}): Promise<ExtractDirResult> {
  const target = prepareTarget(dir, options.force ?? false);
  try {
    checkPathLengths(flat, target.root);
    const writer = new DirWriter(target.root, flat, options);
    const result = await writer.run();
    target.done();
    return result;
  } catch (e) {
    const kept = target.fail();
    const err = e instanceof LayerfoldError ? e : new LayerfoldError('IO', `extracting into ${dir}: ${(e as Error).message}`, { cause: e });
    if (!kept) throw err;
    throw new LayerfoldError(err.code, `${err.message} (what was written into ${dir} before the error is left there)`, { cause: e });
  }
}

/** PATH_MAX less its NUL: the longest path a syscall takes (ENAMETOOLONG past it). */
const PATH_MAX = 4095;

/**
 * Every name is written as DIR/NAME, one path per syscall: a name the image may hold (up to 4095
 * bytes) can be too long once DIR is put in front. Such an image is refused before anything is
 * written, in one line, rather than met half-way by the kernel (a 2,040-deep file left the tree
 * behind: removing it failed the same way).
 */
function checkPathLengths(flat: FlattenedImage, root: string): void {
  const room = PATH_MAX - Buffer.byteLength(root.endsWith('/') ? root : `${root}/`);
  if (longestName(flat.tree.root) <= room) return;
  for (const { name } of walkTree(flat.tree)) {
    const length = name.endsWith('/') ? name.length - 1 : name.length;
    if (length > room) {
      const over = length - room;
      throw new LayerfoldError('IO', `entry ${showName(name)}: as DIR/NAME it would be ${length + PATH_MAX + 1 - room} bytes, past the kernel's PATH_MAX (4096 with its NUL); extract into a directory whose path is at least ${over} byte${over === 1 ? '' : 's'} shorter than ${root}`);
    }
  }
}

/**
 * The length of the longest name in the tree (no trailing '/'), found without sorting or making a
 * path per entry: the sorted walk that names the first one too long runs only when there is one.
 */
function longestName(top: Dir): number {
  let longest = 0;
  const stack: Array<{ dir: Dir; prefix: number }> = [{ dir: top, prefix: 0 }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    for (const [name, node] of frame.dir.children) {
      longest = Math.max(longest, frame.prefix + name.length);
      if (node instanceof Dir) stack.push({ dir: node, prefix: frame.prefix + name.length + 1 });
    }
  }
  return longest;
}

export interface Target {
  root: string;
  /** Success: keep everything. */
  done(): void;
  /** Failure: remove what was written; true when it had to be left (force over a non-empty DIR). */
  fail(): boolean;
}

/** Make DIR ready (absent: created; empty: used; else only with force) and register its cleanup. */
export function prepareTarget(dir: string, force: boolean): Target {
  let removeOnError: () => void;
  let keptOnError = false;
  if (!existsSync(dir)) {
    const first = mkdirSync(dir, { recursive: true, mode: 0o755 }) ?? dir;
    removeOnError = () => rmSync(first, { recursive: true, force: true });
  } else {
    if (!statSync(dir).isDirectory()) throw new LayerfoldError('USAGE', `${dir}: exists and is not a directory`);
    const present = readdirSync(dir);
    if (present.length > 0 && !force) throw new LayerfoldError('USAGE', `${dir}: not empty (use --force to extract over what it holds)`);
    if (present.length > 0) {
      keptOnError = true;
      removeOnError = () => undefined;
    } else {
      removeOnError = () => {
        for (const name of readdirSync(dir, { encoding: 'buffer' })) rmSync(Buffer.concat([Buffer.from(`${dir}/`), name]), { recursive: true, force: true });
      };
    }
  }
  const root = realpathSync(dir);
  const unregister = onCleanup(() => removeOnError());
  return {
    root,
    done: () => unregister(),
    fail: () => {
      unregister();
      try {
        removeOnError();
      } catch {
        // best effort: the error that brought us here matters more
      }
      return keptOnError;
    },
  };
}

/**
 * A number from 1970 on, else a Date: Node turns a negative number of seconds into "now", while a Date
 * before 1970 reaches the kernel as it is (symlink mtimes may be negative: tree/apply.ts).
 */
function timeOf(node: Dir | Inode): Date | number {
  return node.mtime >= 0 ? node.mtime : new Date(node.mtime * 1000); // a number is no object per file
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function nameFields(rel: string): Pick<SkipRecord, 'path' | 'pathBase64'> {
  const bytes = Buffer.from(rel, 'latin1');
  try {
    return { path: utf8.decode(bytes) };
  } catch {
    return { pathBase64: bytes.toString('base64') };
  }
}

/** Work units between turns of the event loop (signals, progress): an entry is one, 64 KiB of data one. */
const TURN_EVERY = 1024;
const UNIT_BYTES = 64 * 1024;

class DirWriter {
  private readonly root: SafeRoot;
  private readonly layers: LayerData[];
  private readonly privileged: boolean;
  /** First names whose node could not be made (non-root device nodes): their links are skipped too. */
  private readonly missing = new Set<string>();
  private readonly records = new Map<string, SkipRecord>();
  private readonly missingTools = new Set<string>();
  /** Set when capabilities went through setfattr because the xattr addon could not be loaded. */
  private fallback: string | undefined;
  private stagingDir: string | undefined;
  private stagingCount = 0;
  private entries = 0;
  private bytes = 0;
  private units = 0;
  /** The copy buffer, page-aligned (io/aligned.ts says why), made on the first file with data. */
  private chunk: Buffer | undefined;
  /** How the kernel gives a new file its permission bits here (createMode), and whether a skip was seen to hold. */
  private readonly modes: { mask: number | undefined; trusted: boolean | undefined } = { mask: undefined, trusted: undefined };
  /** Who creates the files, and whether a file made here was seen to get that owner (unknown until one is). */
  private readonly creator: { uid: number; gid: number; trusted: boolean | undefined } = {
    uid: process.geteuid?.() ?? -1,
    gid: process.getegid?.() ?? -1,
    trusted: undefined,
  };

  constructor(
    private readonly rootDir: string,
    private readonly flat: FlattenedImage,
    private readonly options: ExtractDirOptions,
  ) {
    this.root = new SafeRoot(rootDir, options.force ?? false);
    this.layers = flat.layers;
    this.privileged = options.privileged ?? runningAsRoot();
    if (!(options.force ?? false)) this.modes.mask = probeCreateMask(rootDir, flat.tree.root);
  }

  /**
   * Every entry with synchronous calls, one after another, as `tar -x` does: a file costs its own
   * syscalls and nothing else. Through the thread pool (a FileHandle, eight files at once) each file
   * also cost ~22 futex calls and two epoll wake-ups, and the main image took 2.6× tar (BENCHMARKS.md).
   */
  async run(): Promise<ExtractDirResult> {
    const dirs: Array<{ rel: string; node: Dir }> = [];
    try {
      for (const entry of walkTree(this.flat.tree)) {
        const rel = entry.name.endsWith('/') ? entry.name.slice(0, -1) : entry.name;
        const node = entry.node;
        this.entries++;
        if (node instanceof Dir) {
          this.root.mkdir(rel);
          dirs.push({ rel, node });
        } else if (entry.linkTo !== undefined) {
          this.hardlink(rel, entry.linkTo, node);
        } else if (node.type === 'file') {
          this.writeFile(rel, node);
        } else if (node.type === 'symlink') {
          this.symlink(rel, node);
        } else {
          this.special(rel, node);
        }
        // a turn of the event loop now and then: signals, the hash worker's answers
        if (++this.units >= TURN_EVERY) {
          this.units = 0;
          await new Promise((resolveTurn) => setImmediate(resolveTurn));
        }
      }
    } finally {
      this.removeStaging();
    }
    for (let i = dirs.length - 1; i >= 0; i--) this.finishDir(dirs[i]!.rel, dirs[i]!.node);
    return this.result();
  }

  /**
   * A regular file: created, its data copied, then owner, mode, capability, times. A mode the kernel
   * gives exactly at creation (createMode) is passed to open and not set again: fchmod was one of four
   * calls per empty file, each a journal handle on ext4 (BENCHMARKS.md "extract, round 3").
   */
  private writeFile(rel: string, node: Inode): void {
    const path = this.root.leaf(rel, node.linked);
    const mode = node.mode & 0o7777;
    const atCreate = this.modes.trusted !== false && createsExactly(this.modes.mask, mode);
    const fd = openSync(path, FILE_FLAGS, atCreate ? mode : 0o600);
    try {
      if (node.size > 0) this.copyData(fd, rel, node);
      if (this.privileged) this.chownFile(fd, rel, node);
      if (!atCreate || !this.createdAsAsked(fd, mode)) fchmodSync(fd, mode);
      if (node.capability) this.capability(fd, path, rel, node);
      if (!this.privileged) this.checkUnprivileged(rel, 'file', node, fstatSync(fd).mode);
      const time = timeOf(node);
      futimesSync(fd, time, time);
    } finally {
      closeSync(fd);
    }
  }

  /** Whether the first file given its mode at creation got it (checked once, with fstat; later ones are trusted). */
  private createdAsAsked(fd: number, mode: number): boolean {
    if (this.modes.trusted === undefined) this.modes.trusted = (fstatSync(fd).mode & 0o7777) === mode;
    return this.modes.trusted;
  }

  /**
   * The owner of a file just made: skipped when the kernel already gave it that owner — the creator's
   * uid, and the creator's gid in a parent whose group is the creator's too (a setgid parent or a
   * `grpid` mount hands the parent's group down). Most files of an image are 0:0, as root makes them,
   * and the call was one of six per empty file (BENCHMARKS.md "wide-1m"). Nothing is lost with it:
   * chown only clears setuid, setgid and the capability, and those are set after it. The first skip
   * is checked with fstat; a filesystem that gave another owner (root squashed, a fixed-owner mount)
   * gets every chown, as before.
   */
  private chownFile(fd: number, rel: string, node: Inode): void {
    const step = this.ownerStep(rel, node);
    if (step === 'skip') return;
    if (step === 'check') {
      const st = fstatSync(fd);
      this.creator.trusted = st.uid === this.creator.uid && st.gid === this.creator.gid;
      if (this.creator.trusted) return;
    }
    fchownSync(fd, node.uid, node.gid);
  }

  /** Whether a new file needs fchown: 'check' for the first that may skip it (made here, then trusted or not). */
  private ownerStep(rel: string, node: Inode): 'skip' | 'chown' | 'check' {
    const creator = this.creator;
    if (creator.trusted !== false && node.uid === creator.uid && node.gid === creator.gid && this.root.parentGid(rel) === creator.gid) {
      return creator.trusted === true ? 'skip' : 'check';
    }
    return 'chown';
  }

  private copyData(fd: number, rel: string, node: Inode): void {
    const layer = this.layers[node.layer];
    if (!layer) throw new LayerfoldError('BAD_LAYER', `${showName(rel)}: data in layer ${node.layer}, which does not exist`);
    const buf = (this.chunk ??= alignedBuffer(CHUNK));
    const what = (): string => `layer ${layer.index} (${layer.label}) entry ${showName(rel)}`;
    if (!node.sparse) copyRange(fd, buf, layer.fd, node.dataOffset, 0, node.size, what);
    else {
      // a sparse file stays sparse: its size set, then only its data segments written  [sparse-gnu-*]
      ftruncateSync(fd, node.size);
      for (const s of node.sparse) copyRange(fd, buf, layer.fd, s.at, s.offset, s.length, what);
    }
    this.bytes += node.size;
    this.units += Math.floor(node.size / UNIT_BYTES);
  }

  private capability(fd: number, path: Buffer, rel: string, node: Inode): void {
    const target = { fd, path, staging: () => this.staging() };
    this.applyCapability(rel, 'file', node, () => setCapability(target, node.capability!, showName(rel)));
  }

  /** Set the capability of `node` with `set`, or skip and record it (no privilege, no tool). */
  private applyCapability(rel: string, type: SkipRecord['type'], node: Dir | Inode, set: () => PrivilegedOutcome): void {
    const outcome = this.privileged ? set() : 'denied';
    if (this.privileged && xattrAddonProblem() !== '') this.fallback = `${xattrAddonProblem()}; security.capability is set with setfattr instead`;
    if (outcome === 'done') return;
    if (outcome === 'missing-tool') this.missingTools.add('@napi-rs/xattr (an optional dependency) and setfattr (Debian package attr)');
    this.skip(rel, type, node, 'capability');
  }

  /** A symlink; one with a capability (docker exports it) is made under a staging name and renamed. */
  private symlink(rel: string, node: Inode): void {
    const staged = node.capability ? this.staging() : undefined;
    const path = staged ?? this.root.leaf(rel);
    symlinkSync(Buffer.from(node.linkname, 'latin1'), path);
    if (this.privileged) lchownSync(path, node.uid, node.gid);
    else this.checkUnprivileged(rel, 'symlink', node);
    if (staged !== undefined) this.applyCapability(rel, 'symlink', node, () => setCapabilityOn({ path: staged }, node.capability!, showName(rel)));
    lutimesSync(path, timeOf(node), timeOf(node));
    if (staged !== undefined) renameSync(staged, this.root.leaf(rel));
  }

  /** A device node or fifo: made under a staging name, given its metadata, renamed into place. */
  private special(rel: string, node: Inode): void {
    const type = node.type as 'char' | 'block' | 'fifo';
    if (type !== 'fifo' && !this.privileged) {
      this.missing.add(rel);
      this.skip(rel, type, node, 'node');
      return;
    }
    const staging = this.staging();
    const outcome = makeNode(staging, type, node.devmajor, node.devminor, showName(rel));
    if (outcome === 'missing-tool') throw new LayerfoldError('IO', `${showName(rel)}: mknod (coreutils) is not installed`);
    if (outcome === 'denied') {
      this.missing.add(rel);
      this.skip(rel, type, node, 'node');
      return;
    }
    if (this.privileged) lchownSync(staging, node.uid, node.gid);
    chmodSync(staging, node.mode & 0o7777); // the node just made: no link to follow
    if (!this.privileged) this.checkUnprivileged(rel, type, node, lstatSync(staging).mode);
    if (node.capability) this.applyCapability(rel, type, node, () => setCapabilityOn({ path: staging }, node.capability!, showName(rel)));
    lutimesSync(staging, timeOf(node), timeOf(node));
    renameSync(staging, this.root.leaf(rel));
  }

  /** A later name of an inode: its first name is complete by now (the walk gives it first). */
  private hardlink(rel: string, linkTo: string, node: Inode): void {
    if (this.missing.has(linkTo)) {
      this.skip(rel, 'link', node, 'node', linkTo);
      return;
    }
    linkSync(this.root.linkSource(linkTo), this.root.leaf(rel));
  }

  /** Owner, mode and times of a directory, once everything inside it is written. */
  private finishDir(rel: string, node: Dir): void {
    const fd = openSync(this.root.path(rel), DIR_FLAGS);
    try {
      if (this.privileged) fchownSync(fd, node.uid, node.gid);
      fchmodSync(fd, node.mode & 0o7777);
      if (!this.privileged) this.checkUnprivileged(rel, 'dir', node, fstatSync(fd).mode);
      if (node.capability) this.applyCapability(rel, 'dir', node, () => setCapabilityOn({ dirFd: fd }, node.capability!, showName(rel)));
      futimesSync(fd, timeOf(node), timeOf(node));
    } finally {
      closeSync(fd);
    }
  }

  /** Without root: record an owner other than 0:0, and a mode the kernel did not set as asked. */
  private checkUnprivileged(rel: string, type: SkipRecord['type'], node: Dir | Inode, actualMode?: number): void {
    if (node.uid !== 0 || node.gid !== 0) this.skip(rel, type, node, 'owner');
    if (actualMode !== undefined && (actualMode & 0o7777) !== (node.mode & 0o7777)) this.skip(rel, type, node, 'mode');
  }

  private skip(rel: string, type: SkipRecord['type'], node: Dir | Inode, kind: SkipKind, linkTo?: string): void {
    let record = this.records.get(rel);
    if (!record) {
      record = { ...nameFields(rel), type, uid: node.uid, gid: node.gid, mode: octal(node.mode), skipped: [] };
      if (type === 'char' || type === 'block') Object.assign(record, { major: (node as Inode).devmajor, minor: (node as Inode).devminor });
      if (linkTo !== undefined) record.linkTo = nameFields(linkTo).path ?? Buffer.from(linkTo, 'latin1').toString('base64');
      if (node.capability) record.capability = node.capability.toString('base64');
      this.records.set(rel, record);
    }
    if (!record.skipped.includes(kind)) record.skipped.push(kind);
  }

  private staging(): string {
    if (this.stagingDir === undefined) {
      let name = `.layerfold-nodes-${process.pid}`;
      while (this.flat.tree.root.children.has(name)) name += '_';
      this.stagingDir = join(this.rootDir, name);
      mkdirSync(this.stagingDir, 0o700);
    }
    return join(this.stagingDir, String(this.stagingCount++));
  }

  private removeStaging(): void {
    if (this.stagingDir !== undefined) rmSync(this.stagingDir, { recursive: true, force: true });
  }

  private result(): ExtractDirResult {
    const skipped: Record<SkipKind, number> = { owner: 0, mode: 0, node: 0, capability: 0 };
    for (const record of this.records.values()) for (const kind of record.skipped) skipped[kind]++;
    const result: ExtractDirResult = { dir: this.rootDir, entries: this.entries, bytes: this.bytes, privileged: this.privileged, skipped };
    if (this.missingTools.size > 0) result.missingTools = [...this.missingTools];
    else if (this.fallback !== undefined) result.note = this.fallback;
    const manifest = this.options.manifest ?? `${resolve(this.rootDir)}.layerfold-skipped.jsonl`;
    if (this.records.size > 0) {
      writeManifest(manifest, [...this.records.values()]);
      result.manifest = manifest;
    } else if (this.options.manifest === undefined) {
      rmSync(manifest, { force: true }); // a stale one from an earlier run into the same DIR
    }
    return result;
  }
}

function writeManifest(path: string, records: SkipRecord[]): void {
  const temp = join(dirname(path), `.layerfold-skipped-${process.pid}.tmp`);
  writeFileSync(temp, records.map((r) => `${JSON.stringify(r)}\n`).join(''), { mode: 0o644 });
  renameSync(temp, path);
}

/**
 * Whether a file created with `mode` gets exactly that mode, given the creation mask of DIR (the bits
 * the kernel keeps of a requested mode: ~umask, or with a default ACL on the parent the ACL's owner,
 * mask-or-group and other entries — both an AND with fixed bits, and every directory made here
 * inherits DIR's default ACL). setuid, setgid and sticky are never given at creation: chown clears the
 * first two after it, a write by a user without CAP_FSETID too, and the kernel strips setgid in a
 * setgid parent from a user outside the group; such files get fchmod after their owner, as before.
 */
export function createsExactly(mask: number | undefined, mode: number): boolean {
  return mask !== undefined && (mode & 0o7000) === 0 && (mode & ~mask & 0o777) === 0;
}

/**
 * The creation mask of `dir`, found by creating two files in it (0777 and 0000) and reading back the
 * modes the kernel gave them; undefined when the result is not an AND of the request with fixed bits
 * (a filesystem that ignores modes, such as vfat, gives its own for both), so every file gets fchmod.
 */
function probeCreateMask(dir: string, top: Dir): number | undefined {
  let name = `.layerfold-probe-${process.pid}`;
  while (top.children.has(name) || top.children.has(`${name}-0`)) name += '_';
  const made = (suffix: string, mode: number): number => {
    const path = join(dir, `${name}${suffix}`);
    const fd = openSync(path, FILE_FLAGS, mode);
    try {
      return fstatSync(fd).mode & 0o7777;
    } finally {
      closeSync(fd);
      rmSync(path, { force: true });
    }
  };
  const all = made('', 0o777);
  return made('-0', 0) === 0 && (all & ~0o777) === 0 ? all : undefined;
}

/** Copy `length` bytes at `from` of a layer's file to `to` of the file being made, one chunk at a time. */
function copyRange(out: number, buf: Buffer, fd: number, from: number, to: number, length: number, what: () => string): void {
  let written = 0;
  while (written < length) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, length - written), from + written);
    if (n === 0) throw new LayerfoldError('BAD_LAYER', `${what()}: data ends early`);
    let off = 0;
    while (off < n) off += writeSync(out, buf, off, n - off, to + written + off);
    written += n;
  }
}
