/**
 * `--include` / `--exclude`: keep part of the merged tree, so that every writer (export, extract, ls,
 * and the writers after them) gives a valid docker-order result for just that part.
 *
 * Patterns, as the user typed them (UTF-8; a leading `/` or `./` and a trailing `/` are ignored):
 * - a plain path (no `*`, `?` or `[`) means that path and its subtree: `usr/lib`;
 * - a glob with a `/` is matched against the whole path: `usr/lib/*.so`, `usr/**\/*.a`;
 * - a glob without a `/` is matched against the last name at any depth: `*.a`, `__pycache__`;
 *   `*` and `?` never match `/`, `**` matches across directories, `[abc]` / `[!abc]` one byte.
 * A matched directory brings its whole subtree. An exclude wins over an include. With includes, an
 * entry is kept when it or a directory above it matches one; the directories above a kept entry are
 * kept too (with their own metadata), and nothing else. Hard links need no care here: walkTree
 * rebuilds groups on the pruned tree, so the first kept name of an inode carries its data.
 * The tree is pruned in place, without recursion (a tree may be millions of entries wide or deep).
 */
import { Dir, lookup, type MergedTree } from './node.js';

export interface PathFilter {
  include: string[];
  exclude: string[];
}

interface Pattern {
  /** As the user typed it, for messages. */
  typed: string;
  /** A plain path (latin1 bytes), or undefined for a glob. */
  plain?: string;
  glob?: RegExp;
  /** The glob is matched against the last name only. */
  baseOnly: boolean;
}

const GLOB_CHARS = /[*?[]/;

function toBytes(typed: string): string {
  return Buffer.from(typed, 'utf8').toString('latin1');
}

function trimPattern(typed: string): string {
  let p = toBytes(typed);
  while (p.startsWith('./')) p = p.slice(2);
  p = p.replace(/^\/+/, '').replace(/\/+$/, '');
  return p;
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** A glob as a RegExp over latin1 bytes. */
function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else {
      out += escapeRegExp(c);
    }
  }
  return new RegExp(`^${out}$`, 's');
}

function compile(typed: string): Pattern {
  const p = trimPattern(typed);
  if (!GLOB_CHARS.test(p)) return { typed, plain: p, baseOnly: false };
  return { typed, glob: globToRegExp(p), baseOnly: !p.includes('/') };
}

function matches(pattern: Pattern, path: string, base: string): boolean {
  if (pattern.plain !== undefined) return pattern.plain === '' || path === pattern.plain;
  return pattern.glob!.test(pattern.baseOnly ? base : path);
}

export interface PruneResult {
  /** Plain include paths that named nothing in the tree (as typed). */
  missing: string[];
}

/** Prune `tree` in place to what `filter` keeps. */
export function pruneTree(tree: MergedTree, filter: PathFilter): PruneResult {
  const include = filter.include.map(compile);
  const exclude = filter.exclude.map(compile);
  // checked before pruning: an include may lie under an exclude, or under another include
  const missing = include.filter((p) => p.plain !== undefined && p.plain !== '' && lookup(tree.root, p.plain) === undefined).map((p) => p.typed);
  const isIn = (list: Pattern[], path: string, base: string) => list.some((p) => matches(p, path, base));
  interface Frame {
    dir: Dir;
    path: string;
    names: string[];
    i: number;
    /** Everything below is kept (but for excludes). */
    whole: boolean;
    parent: Dir | undefined;
    name: string;
  }
  const stack: Frame[] = [{ dir: tree.root, path: '', names: [...tree.root.children.keys()], i: 0, whole: include.length === 0, parent: undefined, name: '' }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.i >= frame.names.length) {
      stack.pop();
      // a directory kept only for what lies below it goes when nothing below is kept
      if (frame.parent !== undefined && !frame.whole && frame.dir.children.size === 0) frame.parent.children.delete(frame.name);
      continue;
    }
    const name = frame.names[frame.i++]!;
    const node = frame.dir.children.get(name)!;
    const path = frame.path === '' ? name : `${frame.path}/${name}`;
    if (exclude.length > 0 && isIn(exclude, path, name)) {
      frame.dir.children.delete(name);
      continue;
    }
    const kept = frame.whole || isIn(include, path, name);
    if (node instanceof Dir) {
      stack.push({ dir: node, path, names: [...node.children.keys()], i: 0, whole: kept, parent: frame.dir, name });
    } else if (!kept) {
      frame.dir.children.delete(name);
    }
  }
  return { missing };
}
