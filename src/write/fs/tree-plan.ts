/**
 * The merged tree numbered for a filesystem image, shared by the ext4, squashfs and EROFS writers:
 * one record per inode in walkTree order (a hard-link group is one record whose names all point at
 * it), each directory's children in name order, link counts as the filesystem stores them.
 * Nothing here reads file data; memory grows with the number of entries only.
 */
import { LayerfoldError, showName } from '../../errors.js';
import { Dir, type Inode, type InodeType, type MergedTree } from '../../tree/node.js';
import { walkTree } from '../../tree/walk.js';

export type NodeKind = 'dir' | InodeType;

export function kindOf(node: Dir | Inode): NodeKind {
  return node instanceof Dir ? 'dir' : node.type;
}

/** A directory entry's file type: the same numbers in ext4 (EXT4_FT_*) and EROFS (EROFS_FT_*). */
export const FILE_TYPE: Record<NodeKind, number> = { file: 1, dir: 2, char: 3, block: 4, fifo: 5, symlink: 7 };
/** The file type bits of an inode's mode (S_IFREG, S_IFDIR, …), as ext4 and EROFS store it beside the permissions. */
export const MODE_TYPE: Record<NodeKind, number> = { file: 0o100000, dir: 0o040000, char: 0o020000, block: 0o060000, fifo: 0o010000, symlink: 0o120000 };

export interface FsChild {
  /** One name component, raw bytes as latin1. */
  name: string;
  ino: number;
}

export interface FsInode {
  ino: number;
  node: Dir | Inode;
  /** The directory holding its first name (the root's parent is itself). */
  parent: number;
  /** Names of a file; 2 + subdirectories for a directory. */
  nlink: number;
  /** A directory's entries in byte order of their names. */
  children?: FsChild[];
  /** Path of the first name, for messages. */
  path: string;
}

export interface TreePlan {
  /** Indexed by inode number; slots below `firstIno` other than the root are empty. */
  inodes: Array<FsInode | undefined>;
  rootIno: number;
  /** One past the last inode number given. */
  nextIno: number;
  /** Subdirectories, for the filesystems that count them. */
  dirCount: number;
}

/** Name length limit shared by ext4, squashfs and EROFS. */
export const NAME_MAX = 255;

/**
 * Number the tree: the root gets `rootIno`, every other inode the next number from `firstIno` in
 * walk order; a second name of a hard-linked inode adds a link, not an inode.
 */
export function planTree(tree: MergedTree, rootIno: number, firstIno: number): TreePlan {
  const inodes: Array<FsInode | undefined> = [];
  const root: FsInode = { ino: rootIno, node: tree.root, parent: rootIno, nlink: 2, children: [], path: '/' };
  inodes[rootIno] = root;
  const dirs = new Map<string, FsInode>([['', root]]);
  const byNode = new Map<Inode, FsInode>();
  let next = firstIno;
  let dirCount = 0;
  for (const entry of walkTree(tree)) {
    const isDir = entry.node instanceof Dir;
    const path = isDir ? entry.name.slice(0, -1) : entry.name;
    const cut = path.lastIndexOf('/');
    const name = path.slice(cut + 1);
    const parent = dirs.get(cut < 0 ? '' : path.slice(0, cut))!;
    if (name.length > NAME_MAX) throw new LayerfoldError('UNSUPPORTED', `${showName(entry.name)}: a name of ${name.length} bytes; filesystems hold at most ${NAME_MAX}`);
    if (entry.linkTo !== undefined) {
      const target = byNode.get(entry.node as Inode)!;
      target.nlink++;
      parent.children!.push({ name, ino: target.ino });
      continue;
    }
    const record: FsInode = { ino: next++, node: entry.node, parent: parent.ino, nlink: isDir ? 2 : 1, path: entry.name };
    inodes[record.ino] = record;
    parent.children!.push({ name, ino: record.ino });
    if (isDir) {
      record.children = [];
      dirs.set(path, record);
      parent.nlink++;
      dirCount++;
    } else if ((entry.node as Inode).linked) {
      byNode.set(entry.node as Inode, record);
    }
  }
  return { inodes, rootIno, nextIno: next, dirCount };
}
