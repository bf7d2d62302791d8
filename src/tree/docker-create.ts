/**
 * What `docker create` adds to the image's tree, all stamped with the container's creation time T
 * (moby daemon/initlayer/setup_unix.go, then the container's WorkingDir). Pinned down on Docker 26.1
 * by fixtures/docker/init-* and workdir-*:
 *
 * - For each init path, every component that exists as a non-directory is unlinked first (a symlinked
 *   `etc` is removed, not followed). Then, if the path is missing, its parents are made (0755, 0:0)
 *   and it is created: empty files 0755 0:0 (`.dockerenv`, `etc/hostname`, `etc/hosts`,
 *   `etc/resolv.conf`, `dev/console`), directories 0755 0:0 (`dev/pts`, `dev/shm`, `proc`, `sys`),
 *   the symlink `etc/mtab -> /proc/mounts`. A path that is already a directory is left alone. In a
 *   setgid directory, new directories are 2755 and the symlink takes the directory's group. In a
 *   directory with a default ACL the files' modes are masked by it (tree/acl.ts), the directories
 *   are chmodded back to 0755.
 * - A directory in which something was created or removed keeps its mode and owner and takes mtime T
 *   (overlayfs copies it up, then the change touches it).
 * - WorkingDir is resolved in the rootfs following symlinks; missing components are made 0755 0:0 at
 *   T; an existing non-directory on the way makes `docker create` fail ("Cannot mkdir: … is not a
 *   directory"), so it fails here too.
 */
import { LayerfoldError } from '../errors.js';
import { createdMode, dockerDirMode } from './acl.js';
import { Dir, Inode, isDir, lookup, type MergedTree, type Node } from './node.js';
import { cleanPath } from './paths.js';

type InitKind = 'dir' | 'file' | { symlink: string };

const INIT_PATHS: Array<[string, InitKind]> = [
  ['dev/pts', 'dir'],
  ['dev/shm', 'dir'],
  ['proc', 'dir'],
  ['sys', 'dir'],
  ['.dockerenv', 'file'],
  ['etc/resolv.conf', 'file'],
  ['etc/hosts', 'file'],
  ['etc/hostname', 'file'],
  ['dev/console', 'file'],
  ['etc/mtab', { symlink: '/proc/mounts' }],
];

/** The paths docker create makes, by name: what `diff --ignore-init` leaves out. */
export const INIT_PATH_NAMES: ReadonlySet<string> = new Set(INIT_PATHS.map(([path]) => path));
/** Their parents, which docker create keeps (mode and owner) but touches (mtime), or makes 0755 0:0. */
export const INIT_PARENT_NAMES: ReadonlySet<string> = new Set(INIT_PATHS.map(([path]) => path.slice(0, Math.max(0, path.lastIndexOf('/')))).filter((p) => p !== ''));

/** What of the image config docker create reads (read/config.ts's RuntimeConfig has these fields). */
export interface ContainerConfig {
  WorkingDir?: string | undefined;
  Volumes?: Record<string, object> | undefined;
}

/** moby's symlink.FollowSymlinkInScope gives up after 255 parts (the kernel's own limit is 40 links). */
const MAX_SYMLINKS = 255;

class CreateStep {
  constructor(
    private readonly tree: MergedTree,
    private readonly time: number,
  ) {}

  private get layer(): number {
    return this.tree.layerCount;
  }

  private touch(dir: Dir): void {
    if (dir !== this.tree.root) dir.mtime = this.time;
  }

  /**
   * mkdir in a setgid directory inherits the bit, and docker's chown to 0:0 and its chmod (only when
   * the permission bits differ) keep it.                         [init-dev-setgid, workdir-setgid]
   */
  private newDir(parent: Dir, name: string): Dir {
    // a default ACL masks what mkdir makes and is inherited; docker chmods the directory back to 0755
    // when that changed its permissions, which drops the setgid bit too   [acl-dev, acl-workdir-setgid]
    const made = new Dir(dockerDirMode(createdMode(parent.mode & 0o2000 ? 0o2755 : 0o755, parent.defaultAcl)), 0, 0, this.time, this.layer, false);
    made.defaultAcl = parent.defaultAcl;
    parent.children.set(name, made);
    this.touch(parent);
    return made;
  }

  initPath(path: string, kind: InitKind): void {
    const parts = path.split('/');
    // Unlink every non-directory on the way, and the path itself (Go: unix.Unlink on each prefix).
    let dir: Dir | undefined = this.tree.root;
    for (const part of parts) {
      if (dir === undefined) break;
      const child: Node | undefined = dir.children.get(part);
      if (child !== undefined && !isDir(child)) {
        dir.children.delete(part);
        this.touch(dir);
      }
      dir = isDir(child) ? child : undefined;
    }
    // Create what is missing (MkdirAll of the parent, then the entry).
    let parent = this.tree.root;
    for (const part of parts.slice(0, -1)) {
      const child = parent.children.get(part);
      parent = isDir(child) ? child : this.newDir(parent, part);
    }
    const name = parts[parts.length - 1]!;
    if (parent.children.has(name)) return; // already a directory: left alone
    if (kind === 'dir') {
      this.newDir(parent, name);
      return;
    }
    const symlink = typeof kind === 'object' ? kind.symlink : '';
    // Files are chowned to 0:0; the symlink is never chowned, so in a setgid directory it keeps the
    // directory's group, as every new inode there does.                          [init-dev-setgid]
    const gid = symlink && parent.mode & 0o2000 ? parent.gid : 0;
    // files are made 0755 and never chmodded: a default ACL of the directory masks them  [acl-default, acl-etc-mask]
    const mode = symlink ? 0o777 : createdMode(0o755, parent.defaultAcl);
    const inode = new Inode(symlink ? 'symlink' : 'file', mode, 0, gid, this.time, 0, symlink, 0, 0, this.layer, 0);
    parent.children.set(name, inode);
    this.touch(parent);
  }

  /**
   * docker create resolves WorkingDir with moby's FollowSymlinkInScope, then makes what is missing
   * (MkdirAll). That resolver takes a part that does not exist as it is, so a later `..` cancels it
   * lexically (`s -> missing/../real` makes only `real`), starts again at the root for an absolute
   * link, and gives up after 255 parts.                     [workdir-dotdot-link, workdir-symlink-chain]
   */
  workingDir(workdir: string): void {
    const resolved = resolveInScope(this.tree, workdir, `WorkingDir ${workdir}`);
    if (resolved === '') return;
    let dir = this.tree.root;
    for (const part of resolved.split('/')) {
      const child = dir.children.get(part);
      if (child === undefined) dir = this.newDir(dir, part);
      else if (isDir(child)) dir = child;
      else throw new LayerfoldError('BAD_LAYOUT', `WorkingDir ${workdir}: ${part} is not a directory; docker create fails on this image ("Cannot mkdir")`);
    }
  }
}

/** moby's evalSymlinksInScope over the tree: the path `path` names once its symlinks are followed, clean. */
function resolveInScope(tree: MergedTree, path: string, what: string): string {
  let rest = cleanPath(`/${path}`) ?? '';
  let done: string[] = []; // parts taken as they are: directories, files, and parts that do not exist
  for (let n = 0; rest !== ''; n++) {
    if (n > MAX_SYMLINKS) throw new LayerfoldError('BAD_LAYOUT', `${what}: too many links to follow; docker create fails on this image`);
    const slash = rest.indexOf('/');
    const part = slash === -1 ? rest : rest.slice(0, slash);
    rest = slash === -1 ? '' : rest.slice(slash + 1);
    if (part === '') continue;
    const here = cleanPath(`/${[...done, part].join('/')}`) ?? '';
    if (here === '') {
      done = [];
      continue;
    }
    const node = lookup(tree.root, here);
    if (node === undefined || isDir(node) || node.type !== 'symlink') {
      done.push(part);
      continue;
    }
    if (node.linkname.startsWith('/')) done = [];
    rest = rest === '' ? node.linkname : `${node.linkname}/${rest}`;
  }
  return cleanPath(`/${done.join('/')}`) ?? '';
}

/** Add what `docker create` adds, at creation time `time` (whole seconds). */
export function addDockerCreateLayer(tree: MergedTree, time: number, config: ContainerConfig): void {
  for (const volume of Object.keys(config.Volumes ?? {})) checkVolume(tree, volume);
  const step = new CreateStep(tree, time);
  for (const [path, kind] of INIT_PATHS) step.initPath(path, kind);
  if (config.WorkingDir) step.workingDir(config.WorkingDir);
}

/**
 * `docker create` refuses an image VOLUME that is an existing non-directory once symlinks are
 * followed as moby's FollowSymlinkInScope follows them ("cannot mount volume over existing file"), or
 * that lies under one ("not a directory").
 * A missing path is fine: it is made when the container starts, not in the export.
 *                                            [volume-over-file, volume-symlink-file, volume-under-file]
 */
function checkVolume(tree: MergedTree, volume: string): void {
  const resolved = resolveInScope(tree, volume, `VOLUME ${volume}`);
  if (resolved === '') return;
  const parts = resolved.split('/');
  let dir = tree.root;
  for (let i = 0; i < parts.length; i++) {
    const child = dir.children.get(parts[i]!);
    if (child === undefined) return;
    if (isDir(child)) {
      dir = child;
      continue;
    }
    const why = i === parts.length - 1 ? 'cannot mount volume over existing file' : `${parts[i]} is not a directory`;
    throw new LayerfoldError('BAD_LAYOUT', `VOLUME ${volume}: ${why}; docker create fails on this image`);
  }
}
