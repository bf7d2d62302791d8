/**
 * A path looked up in the merged tree as the kernel would look it up in a container's root: symlinks
 * followed (absolute targets from the image's root, at most 40 in one lookup), `..` going up from
 * where a link led. A `..` that would climb above the image's root is refused by default, so that
 * `cat` never quietly answers with a file the link did not mean; `cp` passes `clampAtRoot`, as
 * docker cp resolves a source in the container's scope (its FollowSymlinkInScope: `..` at the root
 * stays at the root, as the kernel does for a chrooted process).
 */
import { Dir, type Node } from './node.js';

const MAX_SYMLINKS = 40;

export type ResolveFailure = 'missing' | 'not-a-directory' | 'outside' | 'loop';

export type Resolved = { node: Node; path: string } | { failure: ResolveFailure; at: string };

/**
 * `path` (clean, relative to the root, '' for the root) resolved in `root`. The last part is followed
 * too when it is a symlink, unless `followLast` is false (then the link itself is the answer).
 */
export function resolvePath(root: Dir, path: string, followLast = true, clampAtRoot = false): Resolved {
  let queue = path === '' ? [] : path.split('/');
  // the directories from the root down to where the lookup stands, with their names
  const stack: Array<{ dir: Dir; name: string }> = [{ dir: root, name: '' }];
  const at = (part?: string) => [...stack.slice(1).map((s) => s.name), ...(part === undefined ? [] : [part])].join('/');
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length > 1) stack.pop();
      else if (!clampAtRoot) return { failure: 'outside', at: at() };
      continue;
    }
    const child: Node | undefined = stack[stack.length - 1]!.dir.children.get(part);
    if (child === undefined) return { failure: 'missing', at: at(part) };
    const last = !queue.some((p) => p !== '' && p !== '.');
    if (!(child instanceof Dir) && child.type === 'symlink' && (!last || followLast)) {
      if (++links > MAX_SYMLINKS) return { failure: 'loop', at: at(part) };
      if (child.linkname.startsWith('/')) stack.length = 1;
      queue = [...child.linkname.split('/'), ...queue]; // not unshift(...x): a call's arguments are bounded by the stack
      continue;
    }
    if (child instanceof Dir) {
      stack.push({ dir: child, name: part });
      continue;
    }
    if (!last) return { failure: 'not-a-directory', at: at(part) };
    return { node: child, path: at(part) };
  }
  return { node: stack[stack.length - 1]!.dir, path: at() };
}
