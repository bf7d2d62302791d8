/**
 * The entries of an image, flattened on the fly exactly as `export` would (flattenImage + walkTree):
 * file contents are hashed from the layer they live in, never copied.
 *
 * Two things only an image side knows, both for comparing it with a real `docker export`:
 * - Implied directories (made by docker while unpacking a layer that needs them) carry a stand-in
 *   mtime, since no archive records the time docker unpacked the layer; such entries are marked
 *   `standInMtime` (unless the user gave --implied-mtime, a real value) and their mtime is not compared.
 * - What `docker create` would add or touch on this image (its init layer and WorkingDir), found by
 *   running the real create step (src/tree/docker-create.ts) on a copy of the tree's directories at a
 *   sentinel time: nodes it made are `created`, existing directories given the sentinel mtime are
 *   `touched`. --ignore-init uses this footprint, so a WorkingDir reached through a symlink is known.
 */
import { flattenImage, type FlattenOptions } from '../flatten.js';
import { addDockerCreateLayer, type ContainerConfig } from '../tree/docker-create.js';
import { Dir, type Inode, type MergedTree } from '../tree/node.js';
import { walkTree } from '../tree/walk.js';
import { showName } from '../errors.js';
import { blankEntry, EntryList, hashRange, type DiffEntry, type InitFootprint } from './entries.js';

/** No real mtime is fractional: a directory holding this one was touched by the create step. */
const SENTINEL_TIME = -0.5;

function cloneDirs(tree: MergedTree): MergedTree {
  const copy = (dir: Dir) => Object.assign(new Dir(dir.mode, dir.uid, dir.gid, dir.mtime, dir.layer, dir.implied), { defaultAcl: dir.defaultAcl });
  const root = copy(tree.root);
  const stack: Array<[Dir, Dir]> = [[tree.root, root]];
  while (stack.length > 0) {
    const [from, to] = stack.pop()!;
    for (const [name, node] of from.children) {
      if (node instanceof Dir) {
        const child = copy(node);
        to.children.set(name, child);
        stack.push([node, child]);
      } else {
        to.children.set(name, node); // the create step never changes an inode, only unlinks names
      }
    }
  }
  return { root, layerCount: tree.layerCount };
}

/** What `docker create` would make and touch on this tree (which is left unchanged). */
export function initFootprint(tree: MergedTree, config: ContainerConfig): InitFootprint {
  const copy = cloneDirs(tree);
  addDockerCreateLayer(copy, SENTINEL_TIME, config);
  const footprint: InitFootprint = { created: new Set(), touched: new Set() };
  for (const { name, node } of walkTree(copy)) {
    const path = name.replace(/\/$/, '');
    if (node.layer === copy.layerCount) footprint.created.add(path);
    else if (node instanceof Dir && node.mtime === SENTINEL_TIME) footprint.touched.add(path);
  }
  return footprint;
}

export interface ImageSideOptions extends FlattenOptions {
  /** Compute the init footprint (for --ignore-init). */
  footprint?: boolean;
}

export interface ImageSide {
  entries: EntryList;
  initFootprint?: InitFootprint;
}

export interface ImageStream {
  /** The tree's entries in walk order, each name taken out of the tree as it is reached. */
  entries: Iterable<DiffEntry>;
  /** Hard-link names, gathered as the entries go by. */
  groups: EntryList;
  initFootprint?: InitFootprint;
  close(): void;
}

/**
 * The image in `input` (an uncompressed archive or a layout directory) flattened, its entries read
 * as they are compared: the tree is the only copy of them (a list of a million entries on top of
 * the tree it came from was ~80 MB).
 */
export async function streamImageSide(input: string, options: ImageSideOptions): Promise<ImageStream> {
  const { footprint, dockerInit, ...flattenOptions } = options;
  const flat = await flattenImage(input, flattenOptions);
  let closed = false;
  const close = () => {
    if (!closed) flat.close();
    closed = true;
  };
  try {
    const config = flat.image.config.config;
    const groups = new EntryList();
    // the footprint is found on a copy before the step is taken, so both come from one function; it
    // only names paths, so the image's VOLUMEs (which can refuse the step) play no part in it
    const footprintOf = footprint ? initFootprint(flat.tree, { WorkingDir: config.WorkingDir }) : undefined;
    if (dockerInit !== undefined) addDockerCreateLayer(flat.tree, dockerInit, config);
    const standIn = options.impliedMtime === undefined;
    function* entries(): Generator<DiffEntry> {
      try {
        // the tree is read once: each name leaves it as it is reached
        for (const { name, node } of walkTree(flat.tree, { release: true })) {
          const path = name.replace(/\/$/, '');
          if (node instanceof Dir) {
            const entry = blankEntry(path, 'dir');
            entry.mode = node.mode;
            entry.uid = node.uid;
            entry.gid = node.gid;
            entry.mtime = node.mtime;
            entry.standInMtime = standIn && node.implied;
            if (node.capability) entry.xattrs = new Map([['security.capability', node.capability.toString('latin1')]]);
            yield entry;
            continue;
          }
          const entry = inodeEntry(path, node, flat.layers);
          if (node.linked) groups.link(entry, node);
          yield entry;
        }
      } finally {
        close();
      }
    }
    return { entries: entries(), groups, ...(footprintOf ? { initFootprint: footprintOf } : {}), close };
  } catch (e) {
    close();
    throw e;
  }
}

/** Entries of the image in `input`, held in a list (the side a streamed one is compared against). */
export async function readImageSide(input: string, options: ImageSideOptions): Promise<ImageSide> {
  const stream = await streamImageSide(input, options);
  try {
    const side: ImageSide = { entries: new EntryList() };
    if (stream.initFootprint) side.initFootprint = stream.initFootprint;
    const list = side.entries;
    for (const entry of stream.entries) {
      if (entry.group >= 0) list.link(entry, entry.group); // keyed by the stream's group id
      list.add(entry);
    }
    return side;
  } finally {
    stream.close();
  }
}

function inodeEntry(path: string, node: Inode, layers: Array<{ fd: number }>): DiffEntry {
  const entry = blankEntry(path, node.type);
  Object.assign(entry, { mode: node.mode & 0o7777, uid: node.uid, gid: node.gid, mtime: node.mtime, link: node.linkname });
  if (node.type === 'file') {
    entry.size = node.size;
    const layer = layers[node.layer];
    entry.digest = node.size === 0 || layer === undefined ? hashRange(0, 0, 0, '') : hashRange(layer.fd, node.dataOffset, node.size, `entry ${showName(path)}`, node.sparse);
  }
  if (node.type === 'char' || node.type === 'block') {
    entry.devmajor = node.devmajor;
    entry.devminor = node.devminor;
  }
  if (node.capability) entry.xattrs = new Map([['security.capability', node.capability.toString('latin1')]]);
  return entry;
}
