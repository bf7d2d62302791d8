/**
 * The entries of a rootfs tar (a `docker export`, our own export, a GNU tar of a directory), stored
 * uncompressed in a file: headers read with positional reads (src/tar/entries.ts, Go's reader rules),
 * each file's content hashed straight from the file in 1 MiB chunks, nothing else kept.
 *
 * A hardlink entry is another name of its target's inode: it takes all of the target's fields (what
 * extracting it gives: link(2) changes no metadata; `docker export` writes the inode's fields in both
 * headers anyway), and must name an earlier non-directory entry, as extracting it requires. Names are cleaned; `./` (the root) is skipped.
 */
import { closeSync, fstatSync, openSync, constants as fsc } from 'node:fs';
import { addContext, LayerfoldError, showName } from '../errors.js';
import { PositionalReader } from '../io/positional-reader.js';
import { tarEntries, type TarEntry } from '../tar/entries.js';
import { cleanPath } from '../tree/paths.js';
import { blankEntry, EntryList, entryError, hashRange, type DiffEntry, type EntryType } from './entries.js';

const TYPES: Record<Exclude<TarEntry['type'], 'hardlink'>, EntryType> = {
  file: 'file',
  dir: 'dir',
  symlink: 'symlink',
  char: 'char',
  block: 'block',
  fifo: 'fifo',
};

function cleanName(name: string): string {
  const clean = cleanPath(name);
  if (clean === null) throw new LayerfoldError('PATH_ESCAPE', `entry ${showName(name)} climbs above the root`);
  return clean;
}

/** The last entry named `linkname`, when it can be a hard link's target. */
function linkTarget(list: EntryList, path: string, linkname: string): number {
  const target = list.find(cleanName(linkname));
  if (target === -1 || list.typeOf(target) === 'dir') {
    throw entryError(path, `is a hard link to ${showName(linkname)}, which is not an earlier non-directory entry of the tar`);
  }
  return target;
}

function entryOf(fd: number, tar: TarEntry, path: string, list: EntryList): DiffEntry {
  if (tar.type === 'hardlink') {
    const target = linkTarget(list, path, tar.linkname);
    const entry = { ...list.at(target), path };
    list.join(entry, target);
    return entry;
  }
  const entry = blankEntry(path, TYPES[tar.type]);
  entry.mode = tar.mode & 0o7777;
  entry.uid = tar.uid;
  entry.gid = tar.gid;
  entry.mtime = tar.mtime;
  if (tar.xattrs && tar.xattrs.size > 0) entry.xattrs = new Map(tar.xattrs);
  if (tar.type === 'file') {
    entry.size = tar.size;
    entry.digest = hashRange(fd, tar.dataOffset, tar.size, `entry ${showName(path)}`, tar.sparse);
  } else if (tar.type === 'symlink') {
    entry.link = tar.linkname;
  } else if (tar.type === 'char' || tar.type === 'block') {
    entry.devmajor = tar.devmajor;
    entry.devminor = tar.devminor;
  }
  return entry;
}

/** Entries of the uncompressed tar at `path`; `label` names the side in messages. */
export function readTarSide(path: string, label: string): { entries: EntryList } {
  const fd = openSync(path, fsc.O_RDONLY);
  try {
    const list = new EntryList();
    list.indexPaths(); // a hard link names an earlier entry by path
    const reader = new PositionalReader(fd, fstatSync(fd).size);
    for (const tar of tarEntries(reader, 0)) {
      const clean = cleanName(tar.name);
      if (clean === '') continue;
      list.add(entryOf(fd, tar, clean, list));
    }
    return { entries: list };
  } catch (e) {
    throw addContext(label, e);
  } finally {
    closeSync(fd);
  }
}

/** Names of the entries of a tar, for recognising an image archive (headers only). */
export function tarNames(path: string): Set<string> {
  const fd = openSync(path, fsc.O_RDONLY);
  try {
    const names = new Set<string>();
    const reader = new PositionalReader(fd, fstatSync(fd).size);
    for (const tar of tarEntries(reader, 0)) {
      const clean = cleanPath(tar.name);
      if (clean !== null && !clean.includes('/')) names.add(clean);
    }
    return names;
  } finally {
    closeSync(fd);
  }
}
