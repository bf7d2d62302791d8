/**
 * The merged tree in `docker export` order: Go's filepath.WalkDir — depth first, a directory before
 * its children, each directory's names sorted byte-wise (`a/`, `a/b`, `a-b`), no entry for the root.
 * Hardlink groups are rebuilt on the final tree: the first name reached carries the data, every later
 * name of the same inode is a link to it.
 *
 * The order and the hardlink rule are here once: walkTree uses them for the whole tree, and squash's
 * layer writer (write/layer-items.ts) for the part of it a layer must hold.
 */
import type { EntryType } from '../tar/entries.js';
import type { HeaderFields } from '../tar/header.js';
import { Dir, type Inode, type MergedTree, type Node } from './node.js';

export interface WalkEntry {
  /** Relative path; directories end in '/'. Raw bytes as latin1. */
  name: string;
  node: Dir | Inode;
  /** For the second and later names of an inode: the name that carries its data. */
  linkTo?: string;
}

/** An entry's header fields, as `docker export` writes them and `ls` shows them. */
export interface EntryFields extends HeaderFields {
  type: EntryType;
}

/**
 * The fields of a walk entry: a directory and a later name of a hard-linked file carry no size, and
 * a later name's link name is the name that carries the data.
 */
export function entryFields(entry: WalkEntry): EntryFields {
  const node = entry.node;
  if (node instanceof Dir) {
    return { name: entry.name, type: 'dir', mode: node.mode, uid: node.uid, gid: node.gid, size: 0, mtime: node.mtime, linkname: '', devmajor: 0, devminor: 0 };
  }
  const hardlink = entry.linkTo !== undefined;
  return {
    name: entry.name,
    type: hardlink ? 'hardlink' : node.type,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    size: !hardlink && node.type === 'file' ? node.size : 0,
    mtime: node.mtime,
    linkname: entry.linkTo ?? node.linkname,
    devmajor: node.devmajor,
    devminor: node.devminor,
  };
}

/** An open directory of the walk: its names in byte order and how many of them are done. */
export interface WalkFrame {
  /** The directory's path with a trailing '/' ('' for the root). */
  prefix: string;
  dir: Dir;
  names: string[];
  i: number;
}

/** A directory's names in walk order: byte-wise (names are latin1, so string order is byte order). */
export function sortedNames(dir: Dir): string[] {
  return [...dir.children.keys()].sort();
}

/** A frame for `dir` at `prefix`, none of its names done yet. */
export function walkFrame(dir: Dir, prefix: string): WalkFrame {
  return { prefix, dir, names: sortedNames(dir), i: 0 };
}

/**
 * The depth-first walk itself, over frames the caller opens: next() steps to the next name (its
 * frame, node and path set here), leaving directories whose names are done; the caller decides
 * which directories to enter (open) and what each name yields.
 */
export class SortedWalk<F extends WalkFrame = WalkFrame> {
  /** The open directories, outermost first. */
  readonly stack: F[] = [];

  /** `release`: see WalkOptions. */
  constructor(private readonly release = false) {}
  frame!: F;
  name = '';
  node!: Node;
  path = '';

  open(frame: F): void {
    this.stack.push(frame);
  }

  next(): boolean {
    const stack = this.stack;
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.i < frame.names.length) {
        const name = frame.names[frame.i++]!;
        this.frame = frame;
        this.name = name;
        this.node = frame.dir.children.get(name)!;
        this.path = frame.prefix + name;
        if (this.release) {
          frame.dir.children.delete(name);
          frame.names[frame.i - 1] = '';
        }
        return true;
      }
      stack.pop();
    }
    return false;
  }
}

/** The hardlink rule of the walk: the first name of an inode written carries its data, later ones link to it. */
export class LinkNames {
  private readonly firstName = new Map<Inode, string>();

  entry(node: Inode, path: string): WalkEntry {
    if (node.linked) {
      const first = this.firstName.get(node);
      if (first !== undefined) return { name: path, node, linkTo: first };
      this.firstName.set(node, path);
    }
    return { name: path, node };
  }
}

export interface WalkOptions {
  /**
   * Take each name out of its directory once it is reached (the tree is left empty): a caller that
   * reads the tree once frees it as it goes, so what it builds from the walk does not sit on top of
   * the whole tree (diff on a million entries).
   */
  release?: boolean;
}

export function* walkTree(tree: MergedTree, options: WalkOptions = {}): Generator<WalkEntry> {
  const links = new LinkNames();
  const walk = new SortedWalk(options.release ?? false);
  walk.open(walkFrame(tree.root, ''));
  while (walk.next()) {
    const { node, path } = walk;
    if (node instanceof Dir) {
      yield { name: `${path}/`, node };
      walk.open(walkFrame(node, `${path}/`));
    } else {
      yield links.entry(node, path);
    }
  }
}
