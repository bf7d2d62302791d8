/**
 * The image's USER resolved the way runc and docker resolve it (moby/sys/user GetExecUser), through
 * the image's own /etc/passwd and /etc/group read from the merged tree — never the host's.
 *
 * Rules: `USER` is `user[:group]`, each a name or a number. Empty means 0:0. A user name must be in
 * /etc/passwd; a number need not be (then gid 0, home `/`). A matched passwd entry gives gid and home.
 * A group name must be in /etc/group; a number need not be. Without an explicit group, the groups
 * that list the matched user name are its supplementary groups. Files are found in the tree the way
 * openat2 RESOLVE_IN_ROOT would: symlinks followed inside the tree (`..` stops at the root), 40 hops.
 */
import { readSync } from 'node:fs';
import { LayerfoldError } from '../errors.js';
import type { FlattenedImage } from '../flatten.js';
import { Dir, type Inode, type Node } from '../tree/node.js';

export interface ImageUser {
  uid: number;
  gid: number;
  /** Supplementary groups (from /etc/group when no group was given). */
  additionalGids: number[];
  /** The passwd entry's home, else `/`. */
  home: string;
  /** The passwd name when one matched. */
  name?: string;
}

const MAX_HOPS = 40;
const MAX_FILE = 16 * 1024 * 1024;
const MAX_ID = 2 ** 31 - 1;

/** The node at an absolute path in the tree, symlinks followed inside it. */
export function resolveInTree(root: Dir, path: string): Node | undefined {
  let parts = path.split('/').filter((p) => p !== '' && p !== '.');
  let stack: Node[] = [root];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const dir = stack[stack.length - 1];
    if (!(dir instanceof Dir)) return undefined;
    const next = dir.children.get(part);
    if (next === undefined) return undefined;
    if (!(next instanceof Dir) && next.type === 'symlink') {
      if (++hops > MAX_HOPS) return undefined;
      const target = next.linkname;
      if (target.startsWith('/')) stack = [root];
      parts = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...parts];
      continue;
    }
    stack.push(next);
  }
  return stack[stack.length - 1];
}

/** A regular file's bytes from the layer that holds them, or undefined when there is none. */
export function readTreeFile(flat: FlattenedImage, path: string): Buffer | undefined {
  const node = resolveInTree(flat.tree.root, path);
  if (node === undefined || node instanceof Dir || node.type !== 'file') return undefined;
  const inode: Inode = node;
  if (inode.size > MAX_FILE) throw new LayerfoldError('UNSUPPORTED', `${path}: ${inode.size} bytes is too large to read as a user database`);
  const buf = Buffer.alloc(inode.size);
  const layer = flat.layers[inode.layer];
  if (inode.size === 0 || layer === undefined) return buf;
  // a sparse file's holes are the zeros Buffer.alloc gave; only its segments are read
  for (const s of inode.sparse ?? [{ offset: 0, length: inode.size, at: inode.dataOffset }]) {
    for (let got = 0; got < s.length; ) {
      const n = readSync(layer.fd, buf, s.offset + got, s.length - got, s.at + got);
      if (n === 0) throw new LayerfoldError('BAD_LAYER', `layer ${layer.index} (${layer.label}) entry ${path}: data ends early`);
      got += n;
    }
  }
  return buf;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function lines(file: Buffer | undefined): string[][] {
  if (!file) return [];
  return file
    .toString('utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

export function parsePasswd(file: Buffer | undefined): PasswdEntry[] {
  return lines(file)
    .filter((f) => f.length >= 4 && isId(f[2]!) && isId(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' }));
}

export function parseGroup(file: Buffer | undefined): GroupEntry[] {
  return lines(file)
    .filter((f) => f.length >= 3 && isId(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter((m) => m !== '') }));
}

function isId(s: string): boolean {
  return /^\d+$/.test(s) && Number(s) <= MAX_ID;
}

/** Resolve `user[:group]` against the given passwd and group files. */
export function resolveUserSpec(spec: string | undefined, passwd: Buffer | undefined, group: Buffer | undefined): ImageUser {
  const text = spec ?? '';
  const colon = text.indexOf(':');
  const userArg = colon < 0 ? text : text.slice(0, colon);
  const groupArg = colon < 0 ? '' : text.slice(colon + 1);
  const user: ImageUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };
  const users = parsePasswd(passwd);
  const matched = userArg === '' ? users.find((u) => u.uid === 0) : users.find((u) => u.name === userArg || (isId(userArg) && u.uid === Number(userArg)));
  if (matched) {
    Object.assign(user, { uid: matched.uid, gid: matched.gid, home: matched.home, name: matched.name });
  } else if (userArg !== '') {
    if (!isId(userArg)) throw new LayerfoldError('NOT_FOUND', `USER ${JSON.stringify(text)}: no user ${JSON.stringify(userArg)} in the image's /etc/passwd`);
    user.uid = Number(userArg);
  }
  const groups = parseGroup(group);
  if (groupArg !== '') {
    const g = groups.find((x) => x.name === groupArg || (isId(groupArg) && x.gid === Number(groupArg)));
    if (g) user.gid = g.gid;
    else if (isId(groupArg)) user.gid = Number(groupArg);
    else throw new LayerfoldError('NOT_FOUND', `USER ${JSON.stringify(text)}: no group ${JSON.stringify(groupArg)} in the image's /etc/group`);
  } else if (user.name !== undefined) {
    const name = user.name;
    user.additionalGids = [...new Set(groups.filter((g) => g.members.includes(name)).map((g) => g.gid))];
  }
  return user;
}

/** The image config's USER resolved through the image's own user database. */
export function resolveImageUser(flat: FlattenedImage): ImageUser {
  return resolveUserSpec(flat.image.config.config.User, readTreeFile(flat, '/etc/passwd'), readTreeFile(flat, '/etc/group'));
}
