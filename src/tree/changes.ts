/**
 * What apply reports, change by change, to a listener (`ApplyOptions.onChange`): the one account of
 * what each layer did to the merged tree, from which `why` and `inspect` are built, so that no rule is
 * restated outside src/tree/apply.ts. Paths are clean, relative to the root, raw bytes as latin1, and
 * name where the change landed once the layer's own symlinks are followed (rule 4b).
 *
 * | kind | what happened at `path` |
 * |---|---|
 * | `add` | an entry made something where nothing stood |
 * | `replace` | an entry replaced what stood there (a directory replaced takes its subtree with it) |
 * | `merge` | a directory entry over a directory: children kept, metadata taken from the entry |
 * | `imply` | a directory the layer needed but did not hold: made (0755 0:0, the stand-in time), or a lower one's metadata taken over |
 * | `whiteout` | a whiteout hid what lower layers put there (and its subtree) |
 * | `opaque` | an opaque directory hid this lower child (and its subtree) |
 * | `restore` | a directory made over this layer's own whiteout brought back what the whiteout hid |
 * | `hardlink` | the name now shares `target`'s inode; the link entry's metadata applies to every name |
 */
import type { TarEntry } from '../tar/entries.js';
import type { Node, NodeState } from './node.js';

export type TreeChangeKind = 'add' | 'replace' | 'merge' | 'imply' | 'whiteout' | 'opaque' | 'restore' | 'hardlink';

export interface TreeChange {
  kind: TreeChangeKind;
  /** The layer applied. */
  layer: number;
  /** The layer entry that made the change (for `imply`, the entry that needed the directory). */
  entry: TarEntry;
  path: string;
  /** What stood at `path` before, as it was then. */
  before: NodeState | undefined;
  /** What stands there now, as it is now. */
  after: NodeState | undefined;
  /** The node itself (shared by every name of a hard-linked inode). */
  node: Node | undefined;
  /** `hardlink`: the inode as it was before the link entry's metadata applied, and the target's path. */
  inodeBefore?: NodeState | undefined;
  target?: string | undefined;
}
