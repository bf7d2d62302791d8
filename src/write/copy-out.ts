/**
 * `cat` and `cp`: one file, or one subtree, out of an image without a container.
 *
 * A path is looked up as the kernel would in the container (tree/resolve.ts): symlinks followed
 * inside the image, and one that climbs above its root refused. `cat` streams a regular file's bytes
 * from the layer that holds them. `cp` follows `docker cp`'s rules for the destination:
 * - `-`: a tar of the source on stdout, named from the source's own name (`etc/`, `etc/passwd`…),
 *   written as the export is (same headers, docker's order);
 * - an existing directory: the source goes inside it under its own name (a source ending in `/.`:
 *   its contents), merging with a directory already there;
 * - anything else: the source is written under that name (its parent must exist).
 * The source is found as docker cp finds it (sourceOf below): symlinks on the path followed in the
 * image's scope (`..` stays at its root), the last one copied as a link unless the path ends in `/`
 * or `/.` or `followLink` (`docker cp -L`) asks for it followed. Files are
 * written by extract's writer (owners, devices and capabilities when root); a new name is made in a
 * temporary directory beside it and renamed into place, so a failure leaves nothing behind.
 */
import { existsSync, lstatSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { LayerfoldError, showName } from '../errors.js';
import { flattenImage, type FlattenedImage, type FlattenOptions } from '../flatten.js';
import { onCleanup } from '../io/cleanup.js';
import { cleanPath } from '../tree/paths.js';
import { Dir, type Inode, type MergedTree, type Node } from '../tree/node.js';
import { resolvePath } from '../tree/resolve.js';
import { writeExportTar } from './export-tar.js';
import { extractTree, type ExtractDirOptions, type ExtractDirResult } from './extract-dir.js';
import { readFileBytes } from './file-data.js';
import { StreamSink } from './sink.js';

const CHUNK = 1024 * 1024;

/** A path typed by the user (UTF-8), clean and relative to the image's root (latin1 bytes). */
function imagePath(typed: string): string {
  const clean = cleanPath(`/${Buffer.from(typed, 'utf8').toString('latin1')}`);
  return clean ?? '';
}

/** The node at `typed` in the image, or one line saying why there is none. */
export function findInImage(tree: MergedTree, typed: string, followLast = true, clampAtRoot = false): { node: Node; path: string } {
  const found = resolvePath(tree.root, imagePath(typed), followLast, clampAtRoot);
  if ('node' in found) return found;
  const where = showName(typed);
  const at = found.at === '' ? '/' : `/${Buffer.from(found.at, 'latin1').toString('utf8')}`;
  switch (found.failure) {
    case 'missing':
      throw new LayerfoldError('NOT_FOUND', `${where}: no such file or directory in the image (${showName(at)} is missing)`);
    case 'not-a-directory':
      throw new LayerfoldError('NOT_FOUND', `${where}: ${showName(at)} is not a directory in the image`);
    case 'outside':
      throw new LayerfoldError('PATH_ESCAPE', `${where}: a symlink on the path leads above the image's root (at ${showName(at)}); refusing to follow it`);
    case 'loop':
      throw new LayerfoldError('NOT_FOUND', `${where}: too many levels of symbolic links (at ${showName(at)})`);
  }
}

async function write(out: Writable, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await new Promise<void>((resolve, reject) => {
    const done = (e?: unknown) => {
      out.off('drain', done);
      out.off('error', done);
      if (e) reject(e);
      else resolve();
    };
    out.once('drain', done);
    out.once('error', done);
  });
}

/** A regular file's bytes, from the layer that holds them, to `out` (which is not ended). */
export async function streamInode(flat: FlattenedImage, inode: Inode, name: string, out: Writable): Promise<number> {
  const layer = flat.layers[inode.layer];
  if (inode.size === 0 || layer === undefined) return 0;
  let done = 0;
  while (done < inode.size) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, inode.size - done));
    // a sparse file's holes are zeros made here, never read
    if (!readFileBytes(layer.fd, inode, done, buf, 0, buf.length)) throw new LayerfoldError('BAD_LAYER', `layer ${layer.index} (${layer.label}) entry ${showName(name)}: data ends early`);
    await write(out, buf);
    done += buf.length;
  }
  return done;
}

export type CatOptions = FlattenOptions;

/** `layerfold cat IMAGE PATH`: a regular file's contents to `out`. Resolves to the bytes written. */
export async function catFile(input: string, path: string, out: Writable, options: CatOptions = {}): Promise<number> {
  const flat = await flattenImage(input, options);
  try {
    const { node } = findInImage(flat.tree, path);
    if (node instanceof Dir) throw new LayerfoldError('USAGE', `${showName(path)}: is a directory in the image (use layerfold cp)`);
    if (node.type !== 'file') throw new LayerfoldError('USAGE', `${showName(path)}: is a ${node.type === 'char' || node.type === 'block' ? `${node.type} device` : node.type} in the image, not a regular file`);
    return await streamInode(flat, node, path, out);
  } finally {
    flat.close();
  }
}

export interface CopyOptions extends FlattenOptions, Omit<ExtractDirOptions, 'force' | 'manifest'> {
  /** Follow the source's last symlink (`docker cp -L`). */
  followLink?: boolean;
  /** Where `-` writes (default process.stdout). */
  stdout?: Writable;
}

export interface CopyResult {
  /** Where the source was written ('-' for stdout). */
  target: string;
  entries: number;
  /** What could not be applied without root (as extract reports it). */
  skipped?: ExtractDirResult['skipped'];
  privileged?: boolean;
}

/** A tree holding `node` alone under `name` (or, for a directory's contents, the directory itself). */
function treeOf(node: Node, name: string | undefined, layerCount: number): MergedTree {
  if (name === undefined && node instanceof Dir) return { root: node, layerCount };
  const root = new Dir(0o755, 0, 0, 0, -1, false);
  root.children.set(name!, node);
  return { root, layerCount };
}

/** What `docker cp` copies for a source PATH: the node, the name it is copied under, and whether
 * only a directory's contents go (PATH ends in `/.`). */
interface Source {
  node: Node;
  /** undefined: the image's root (its contents, as `/` or `/.`). */
  name: string | undefined;
  contentsOnly: boolean;
}

/**
 * docker cp's source rules (recorded from Docker 26.1 and 20.10 in fixtures/docker/cp-links and cp-links-docker20): the daemon
 * resolves every symlink of the path in the container's scope but the last part's, which it
 * `lstat`s — so a path ending in `/` or `/.` (an empty or `.` last part) follows a last link and
 * must be a directory (`/link/`: the target's tree; a dangling one is not found, one to a file is
 * "not a directory"), while `/link` is the link itself. The copy is named after the typed path's
 * last part, so `/root/` where /root → / is the whole tree under `root/`. `-L` (the client) follows
 * a last link too: the tar on stdout then bears the target's name, a copy to disk the link's.
 */
function sourceOf(tree: MergedTree, path: string, followLink: boolean, toStdout: boolean): Source {
  const contentsOnly = /(^|\/)\.$/.test(path);
  const asDirectory = contentsOnly || path.endsWith('/');
  const found = findInImage(tree, path, followLink || asDirectory, true);
  if (asDirectory && !(found.node instanceof Dir)) throw new LayerfoldError('NOT_FOUND', `${showName(path)}: not a directory in the image`);
  const typed = imagePath(path);
  const named = followLink && !asDirectory && toStdout ? found.path : typed;
  return { node: found.node, name: named === '' ? undefined : named.slice(named.lastIndexOf('/') + 1), contentsOnly };
}

/** `layerfold cp IMAGE:PATH DEST`. */
export async function copyOut(input: string, path: string, dest: string, options: CopyOptions = {}): Promise<CopyResult> {
  const flat = await flattenImage(input, options);
  try {
    const { node, name, contentsOnly } = sourceOf(flat.tree, path, options.followLink ?? false, dest === '-');
    if (dest === '-') {
      // docker names a directory's contents `./`, `./a`…; the image's root alone has no name
      const tree = treeOf(node, contentsOnly && node instanceof Dir ? '.' : name, flat.tree.layerCount);
      const sink = new StreamSink(options.stdout ?? process.stdout, 'stdout');
      const written = await writeExportTar(tree, flat.layers, sink);
      await sink.finish();
      return { target: '-', entries: written.entries };
    }
    return await copyToDisk(flat, node, name, contentsOnly, dest, options);
  } finally {
    flat.close();
  }
}

async function copyToDisk(flat: FlattenedImage, node: Node, name: string | undefined, contentsOnly: boolean, dest: string, options: CopyOptions): Promise<CopyResult> {
  const extract: ExtractDirOptions = {};
  if (options.privileged !== undefined) extract.privileged = options.privileged;
  const destIsDir = existsSync(dest) && statSync(dest).isDirectory();
  if (!destIsDir && dest.endsWith('/')) throw new LayerfoldError('NOT_FOUND', `${dest}: no such directory (docker cp: the destination directory must exist)`);
  // where the source lands: DIR/NAME inside an existing directory, else DEST itself
  const into = destIsDir && !(contentsOnly && node instanceof Dir);
  const final = into ? join(dest, name ?? '') : dest;
  if (!into && destIsDir) return merge(flat, node, dest, extract);
  if (!existsSync(dirname(final)) || !statSync(dirname(final)).isDirectory()) {
    throw new LayerfoldError('NOT_FOUND', `${dirname(final)}: no such directory`);
  }
  const there = lstatSync(final, { throwIfNoEntry: false });
  if (there?.isDirectory() && node instanceof Dir) return merge(flat, node, final, extract);
  if (there?.isDirectory()) throw new LayerfoldError('USAGE', `${final}: cannot overwrite a directory with a non-directory`);
  if (there && node instanceof Dir) throw new LayerfoldError('USAGE', `${final}: cannot copy a directory over a non-directory`);
  const staging = mkdtempSync(join(dirname(final), '.layerfold-cp-'));
  const unregister = onCleanup(() => rmSync(staging, { recursive: true, force: true }));
  try {
    const local = basename(final);
    const result = await extractTree({ ...flat, tree: treeOf(node, local, flat.tree.layerCount) }, join(staging, 'out'), { ...extract, manifest: join(staging, 'skipped.jsonl') });
    renameSync(join(staging, 'out', local), final);
    return { target: final, entries: result.entries, skipped: result.skipped, privileged: result.privileged };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    unregister();
  }
}

/** Counts merges, so that each gets its own (discarded) skip manifest. */
let merges = 0;

/** A directory's contents into an existing directory, as docker cp merges them. */
async function merge(flat: FlattenedImage, dir: Node, target: string, extract: ExtractDirOptions): Promise<CopyResult> {
  const manifest = join(tmpdir(), `layerfold-cp-skipped-${process.pid}-${++merges}.jsonl`);
  try {
    const result = await extractTree({ ...flat, tree: treeOf(dir, undefined, flat.tree.layerCount) }, target, { ...extract, force: true, manifest });
    return { target, entries: result.entries, skipped: result.skipped, privileged: result.privileged };
  } finally {
    rmSync(manifest, { force: true });
  }
}
