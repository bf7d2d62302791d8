/**
 * Walk the entries of a tar stored at [start, limit) of a file, reading headers with positional reads
 * and skipping file data: each entry says where its data starts, nothing more is read.
 *
 * The rules are Go's archive/tar reader's, since that is what reads layers inside docker:
 * PAX `x` records and GNU `L`/`K` long names apply to the next header (a GNU long name wins over a
 * PAX path), global `g` headers are ignored, a `\0` type with a trailing slash is a directory,
 * header-only types (links, devices, directories, fifos) have no data whatever their size field says,
 * one zero block ends the archive if nothing but another zero block (or the end) follows it.
 * PAX sparse files (tar/sparse.ts) come out under their real name and size with their data segments.
 */
import { LayerfoldError } from '../errors.js';
import type { PositionalReader } from '../io/positional-reader.js';
import { BLOCK, decodeHeader, isZeroBlock, paddingFor, parsePaxRecords, type HeaderFields } from './header.js';
import { readSparse, type SparseSegment } from './sparse.js';

/** Go's maxSpecialFileSize: the largest PAX or GNU long-name record it reads. */
const MAX_SPECIAL_FILE = 1 << 20;

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** An entry as a layer holds it: `name` and `linkname` after PAX and GNU long names. */
export interface TarEntry extends HeaderFields {
  type: EntryType;
  /** SCHILY.xattr.* records, key without the prefix, value raw bytes as latin1. */
  xattrs: Map<string, string> | undefined;
  headerOffset: number;
  dataOffset: number;
  /** Bytes the data takes in the archive: `size`, or for a sparse file its map and data segments. */
  storedSize: number;
  /** A sparse file's data segments (`size` is its real size, the rest holes); undefined otherwise. */
  sparse: SparseSegment[] | undefined;
}

function parseDecimal(value: string, key: string): number {
  if (!/^-?[0-9]+$/.test(value)) {
    throw new LayerfoldError('BAD_LAYER', `invalid PAX header: ${key}=${JSON.stringify(value)} is not a number`);
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new LayerfoldError('BAD_LAYER', `invalid PAX header: ${key}=${value} is out of range`);
  return n;
}

/** PAX times may carry a fraction; docker keeps whole seconds, rounding toward negative infinity. */
function parsePaxTime(value: string): number {
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(value);
  if (!m) throw new LayerfoldError('BAD_LAYER', `invalid PAX header: mtime=${JSON.stringify(value)} is not a time`);
  const secs = Number(m[2]);
  if (!Number.isSafeInteger(secs)) throw new LayerfoldError('BAD_LAYER', `invalid PAX header: mtime=${value} is out of range`);
  const hasFraction = m[3] !== undefined && /[1-9]/.test(m[3]);
  if (m[1] === '-') return hasFraction ? -secs - 1 : -secs;
  return secs;
}

export function* tarEntries(reader: PositionalReader, start: number): Generator<TarEntry> {
  let pos = start;
  let pax: Map<string, string> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = reader.read(pos, BLOCK);
    if (block.length === 0) return; // Go accepts an archive that just stops at a header boundary
    if (block.length < BLOCK) throw new LayerfoldError('BAD_LAYER', `truncated tar: a header at offset ${pos - start} is cut short`);
    if (isZeroBlock(block)) {
      const next = reader.read(pos + BLOCK, BLOCK);
      if (next.length === BLOCK && !isZeroBlock(next)) {
        throw new LayerfoldError('BAD_LAYER', `invalid tar: a lone zero block at offset ${pos - start} is followed by more data`);
      }
      return;
    }
    let raw;
    try {
      raw = decodeHeader(block);
    } catch (e) {
      if (e instanceof LayerfoldError) {
        throw new LayerfoldError(e.code, `${e.message.replace(/^invalid tar header/, `invalid tar header at offset ${pos - start}`)}`);
      }
      throw e;
    }
    const headerOffset = pos;
    const dataOffset = pos + BLOCK;
    const flag = raw.typeflag;

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (raw.size > MAX_SPECIAL_FILE) {
        throw new LayerfoldError('BAD_LAYER', `a ${flag} record at offset ${pos - start} claims ${raw.size} bytes (more than the 1 MiB any tar reader accepts)`);
      }
      const data = reader.readCopy(dataOffset, raw.size);
      if (data.length < raw.size) throw new LayerfoldError('BAD_LAYER', `truncated tar: the ${flag} record at offset ${pos - start} is cut short`);
      pos = dataOffset + raw.size + paddingFor(raw.size);
      if (flag === 'x') pax = parsePaxRecords(data);
      else if (flag === 'g') parsePaxRecords(data); // validated, then ignored as docker does
      else {
        const nul = data.indexOf(0);
        const value = data.toString('latin1', 0, nul === -1 ? data.length : nul);
        if (flag === 'L') longName = value;
        else longLink = value;
      }
      continue;
    }

    const entry: TarEntry = {
      name: raw.name,
      type: 'file',
      mode: raw.mode,
      uid: raw.uid,
      gid: raw.gid,
      size: raw.size,
      mtime: raw.mtime,
      linkname: raw.linkname,
      devmajor: raw.devmajor,
      devminor: raw.devminor,
      xattrs: undefined,
      headerOffset,
      dataOffset,
      storedSize: 0,
      sparse: undefined,
    };
    if (pax) applyPax(entry, pax);
    if (longName !== undefined) entry.name = longName;
    if (longLink !== undefined) entry.linkname = longLink;

    const type = TYPES[flag];
    if (type === undefined) {
      const shown = flag === 'S' ? 'an old GNU sparse file (type S), which docker refuses ("unhandled tar header type 83")' : `type ${JSON.stringify(flag)} is not something docker can unpack`;
      throw new LayerfoldError('UNSUPPORTED', `entry ${JSON.stringify(Buffer.from(entry.name, 'latin1').toString())}: ${shown}`);
    }
    entry.type = flag === '\0' && entry.name.endsWith('/') ? 'dir' : type;
    if (entry.type !== 'file') entry.size = 0; // header-only types carry no data
    entry.storedSize = entry.size;
    if (entry.size > 0 && dataOffset + entry.size > reader.limit) {
      throw new LayerfoldError('BAD_LAYER', `truncated tar: entry ${JSON.stringify(Buffer.from(entry.name, 'latin1').toString())} claims ${entry.size} bytes that run past the end of the layer`);
    }
    // after the long names: Go's GNU.sparse.name wins over both
    const sparse = pax && readSparse(pax, reader, { name: entry.name, dataOffset, stored: entry.storedSize, headerOnly: entry.type !== 'file' });
    if (sparse) {
      entry.name = sparse.name ?? entry.name;
      entry.size = sparse.size;
      entry.sparse = sparse.segments;
    }
    pax = longName = longLink = undefined;
    pos = dataOffset + entry.storedSize + paddingFor(entry.storedSize);
    yield entry;
  }
}

function applyPax(entry: TarEntry, pax: Map<string, string>): void {
  for (const [key, value] of pax) {
    if (value === '') continue; // Go keeps the header's own value
    switch (key) {
      case 'path':
        entry.name = value;
        break;
      case 'linkpath':
        entry.linkname = value;
        break;
      case 'size':
        entry.size = parseDecimal(value, key);
        if (entry.size < 0) throw new LayerfoldError('BAD_LAYER', `invalid PAX header: negative size ${value}`);
        break;
      case 'uid':
        entry.uid = parseDecimal(value, key);
        break;
      case 'gid':
        entry.gid = parseDecimal(value, key);
        break;
      case 'mtime':
        entry.mtime = parsePaxTime(value);
        break;
      default:
        if (key.startsWith('SCHILY.xattr.')) {
          entry.xattrs ??= new Map();
          entry.xattrs.set(key.slice('SCHILY.xattr.'.length), value);
        } // GNU.sparse.* records: readSparse, once the entry's type and name are known
    }
  }
}
