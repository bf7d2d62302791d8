/**
 * The merged tree in `docker export` order: Go's filepath.WalkDir — depth first, a directory before
 * its children, each directory's names sorted byte-wise (`a/`, `a/b`, `a-b`), no entry for the root.
 * Hardlink groups are rebuilt on the final tree: the first name reached carries the data, every later
 * name of the same inode is a link to it.
 */
import { Dir, type Inode, type MergedTree } from './node.js';

export interface WalkEntry {
  /** Relative path; directories end in '/'. Raw bytes as latin1. */
  name: string;
  node: Dir | Inode;
  /** For the second and later names of an inode: the name that carries its data. */
  linkTo?: string;
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
  const release = options.release ?? false;
  const firstName = new Map<Inode, string>();
  const stack: Array<{ prefix: string; names: string[]; dir: Dir; i: number }> = [];
  const open = (dir: Dir, prefix: string) => stack.push({ prefix, dir, names: [...dir.children.keys()].sort(), i: 0 });
  open(tree.root, '');
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.i >= frame.names.length) {
      stack.pop();
      continue;
    }
    const name = frame.names[frame.i]!;
    const node = frame.dir.children.get(name)!;
    if (release) {
      frame.dir.children.delete(name);
      frame.names[frame.i] = '';
    }
    frame.i++;
    const path = frame.prefix + name;
    if (node instanceof Dir) {
      yield { name: `${path}/`, node };
      open(node, `${path}/`);
      continue;
    }
    if (node.linked) {
      const first = firstName.get(node);
      if (first !== undefined) {
        yield { name: path, node, linkTo: first };
        continue;
      }
      firstName.set(node, path);
    }
    yield { name: path, node };
  }
}
