/**
 * `layerfold ls`: the merged tree as `docker export` would write it — same entries, same order
 * (walkTree), same hardlink groups — with the layer each entry comes from. Nothing is written and no
 * file data is read. PATHs limit the listing to those subtrees (a PATH names a node and everything
 * below it; its ancestors are not listed, as with `tar -t PATH`); a PATH not in the image is an error.
 */
import { LayerfoldError, showName } from '../errors.js';
import { flattenImage, type FlattenOptions } from '../flatten.js';
import { Dir, lookup } from '../tree/node.js';
import { cleanPath } from '../tree/paths.js';
import { entryFields, walkTree, type EntryFields, type WalkEntry } from '../tree/walk.js';

/**
 * An entry as the export would write it (tree/walk.ts entryFields: a later name of a hard-linked
 * file is a `hardlink` of size 0 whose linkname carries the data), with where it comes from.
 */
export interface ListEntry extends EntryFields {
  /** Index of the layer it comes from; `layerCount` means `docker create` (--docker-init). */
  layer: number;
  /** A directory docker made while unpacking because a layer needed it (mode 0755, owner 0:0). */
  implied: boolean;
}

export interface ListOptions extends FlattenOptions {
  /** Subtrees to list (as the user typed them, UTF-8); default: everything. */
  paths?: string[];
}

export interface ListSummary {
  entries: number;
  layerCount: number;
}

/** A path typed by the user (UTF-8, maybe with a leading '/') as a clean tree path (latin1 bytes). */
export function treePath(typed: string): string {
  const clean = cleanPath(Buffer.from(typed, 'utf8').toString('latin1'));
  if (clean === null) throw new LayerfoldError('USAGE', `${showName(typed)}: the path climbs out of the root`);
  return clean;
}

export function listEntryOf(entry: WalkEntry): ListEntry {
  const node = entry.node;
  // fields set one by one, not spread: a spread object per entry survived young-generation GCs
  // (V8 promoted ~530 bytes an entry), which took `ls` of a million entries to 770 MB
  const out = entryFields(entry) as ListEntry;
  out.layer = node.layer;
  out.implied = node instanceof Dir && node.implied;
  return out;
}

function inSubtrees(name: string, roots: string[]): boolean {
  const path = name.endsWith('/') ? name.slice(0, -1) : name;
  return roots.some((r) => r === '' || path === r || path.startsWith(`${r}/`));
}

/** Entries listed between two turns of the event loop. */
const ENTRIES_PER_TURN = 1 << 14;

/**
 * Call `each` for every entry of the merged tree (or of the PATH subtrees), in export order; when
 * `each` returns a promise, the walk waits for it.
 */
export async function listImage(input: string, options: ListOptions, each: (entry: ListEntry, layerCount: number) => void | Promise<void>): Promise<ListSummary> {
  const roots = (options.paths ?? []).map(treePath);
  const flat = await flattenImage(input, options);
  try {
    for (const [i, root] of roots.entries()) {
      if (lookup(flat.tree.root, root) === undefined) {
        throw new LayerfoldError('NOT_FOUND', `${showName(options.paths![i]!)}: no such path in the image`);
      }
    }
    let entries = 0;
    let walked = 0;
    for (const entry of walkTree(flat.tree)) {
      // a turn of the event loop now and then: a listing of millions of lines is synchronous work
      // (writes to a pipe block), and SIGINT / SIGTERM must be met during it, not after
      if ((++walked & (ENTRIES_PER_TURN - 1)) === 0) await new Promise((resolve) => setImmediate(resolve));
      if (roots.length > 0 && !inSubtrees(entry.name, roots)) continue;
      // a promise from `each` is awaited: the CLI's way to wait for a full pipe to drain
      const waiting = each(listEntryOf(entry), flat.tree.layerCount);
      if (waiting) await waiting;
      entries++;
    }
    return { entries, layerCount: flat.tree.layerCount };
  } finally {
    flat.close();
  }
}
