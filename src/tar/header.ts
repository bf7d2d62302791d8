/**
 * The tar header codec: buffers in, records out, and records in, buffers out. Nothing else in
 * layerfold parses or formats a header field.
 *
 * Why not tar-stream or node-tar (see ../shared/notes/tar-libraries.md): both decode PAX values and
 * names as UTF-8, so binary `SCHILY.xattr.security.capability` values and non-UTF-8 names are corrupted,
 * node-tar drops xattrs altogether, and neither writes the exact bytes Go's archive/tar writes — which
 * is what `docker export` is. Names and link names are therefore held as latin1 strings: one char per
 * byte, so byte-wise order is plain string order and no byte is ever reinterpreted.
 *
 * Decoding follows Go's archive/tar reader (what docker uses to read layers); encoding follows Go's
 * writer as `docker export` drives it (format PAX wanted, USTAR used whenever the entry fits).
 */
import { LayerfoldError } from '../errors.js';

export const BLOCK = 512;

// Field offsets and sizes of the v7 / USTAR header.
const NAME = [0, 100] as const;
const MODE = [100, 8] as const;
const UID = [108, 8] as const;
const GID = [116, 8] as const;
const SIZE = [124, 12] as const;
const MTIME = [136, 12] as const;
const CHKSUM = [148, 8] as const;
const TYPEFLAG = 156;
const LINKNAME = [157, 100] as const;
const MAGIC = [257, 6] as const;
const VERSION = [263, 2] as const;
const UNAME = [265, 32] as const;
const GNAME = [297, 32] as const;
const DEVMAJOR = [329, 8] as const;
const DEVMINOR = [337, 8] as const;
const PREFIX = [345, 155] as const;
const STAR_PREFIX_SIZE = 131;
const STAR_TRAILER = [508, 4] as const;
const PADDING = [500, 12] as const; // after the prefix: unused by USTAR (star's trailer, GNU's extras)

/** One field of the header block: its name (as the POSIX spec names it), where it is, how long, and whether it holds a number. */
export interface HeaderField {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly numeric: boolean;
}

const field = (name: string, [offset, length]: readonly [number, number], numeric: boolean): HeaderField => ({ name, offset, length, numeric });

/**
 * The header's fields in block order, from the same offsets the codec reads and writes: the table
 * `diff --bytes` names a differing header byte by.
 */
export const HEADER_FIELDS: readonly HeaderField[] = [
  field('name', NAME, false),
  field('mode', MODE, true),
  field('uid', UID, true),
  field('gid', GID, true),
  field('size', SIZE, true),
  field('mtime', MTIME, true),
  field('chksum', CHKSUM, true),
  field('typeflag', [TYPEFLAG, 1], false),
  field('linkname', LINKNAME, false),
  field('magic', MAGIC, false),
  field('version', VERSION, false),
  field('uname', UNAME, false),
  field('gname', GNAME, false),
  field('devmajor', DEVMAJOR, true),
  field('devminor', DEVMINOR, true),
  field('prefix', PREFIX, false),
  field('padding', PADDING, false),
];

/** A header's type flag and stored size (the size 0 when the field is not a number), for walking extended headers by hand. */
export function flagAndSize(buf: Buffer, off = 0): { typeflag: string; size: number } {
  let size = 0;
  try {
    size = parseNumeric(buf, off + SIZE[0], SIZE[1], 'size');
  } catch {
    // a corrupt size is shown, not fatal, where this is used (diff --bytes)
  }
  return { typeflag: String.fromCharCode(buf[off + TYPEFLAG]!), size: Math.max(0, size) };
}

export type TarFormat = 'ustar' | 'gnu' | 'star' | 'v7';

/** One header block as stored, before PAX / GNU long-name records are merged in. */
export interface RawHeader {
  name: string; // latin1
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number; // seconds
  typeflag: string; // one char; '\0' kept as '\0'
  linkname: string; // latin1
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  format: TarFormat;
}

export function isZeroBlock(buf: Buffer, off = 0): boolean {
  for (let i = off; i < off + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Bytes of a field up to the first NUL, as latin1. */
function cString(buf: Buffer, off: number, len: number): string {
  let end = off;
  const limit = off + len;
  while (end < limit && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

function badField(field: string): LayerfoldError {
  return new LayerfoldError('BAD_LAYER', `invalid tar header: the ${field} field is not a number (is the tar corrupted?)`);
}

/** Go's parseNumeric: base-256 when the high bit is set, else octal padded with spaces or NULs. */
export function parseNumeric(buf: Buffer, off: number, len: number, field: string): number {
  if (buf[off]! & 0x80) {
    const negative = (buf[off]! & 0x40) !== 0;
    const inv = negative ? 0xff : 0;
    let x = 0n;
    for (let i = 0; i < len; i++) {
      let c = buf[off + i]! ^ inv;
      if (i === 0) c &= 0x7f;
      if (x >> 56n > 0n) throw badField(field);
      x = (x << 8n) | BigInt(c);
    }
    const value = negative ? -x - 1n : x;
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw badField(field);
    return Number(value);
  }
  let start = off;
  let end = off + len;
  while (start < end && (buf[start] === 0x20 || buf[start] === 0)) start++;
  while (end > start && (buf[end - 1] === 0x20 || buf[end - 1] === 0)) end--;
  if (start === end) return 0;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0) break; // Go's parseString cuts at the first NUL
    if (c < 0x30 || c > 0x37) throw badField(field);
    value = value * 8 + (c - 0x30);
  }
  if (!Number.isSafeInteger(value)) throw badField(field);
  return value;
}

/** A word view of the buffer headers are read from: it is the same reader window header after header. */
let wordsBuffer: ArrayBufferLike | undefined;
let wordsView: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
function wordsOf(buffer: ArrayBufferLike): Uint32Array<ArrayBufferLike> {
  if (buffer !== wordsBuffer) {
    wordsBuffer = buffer;
    wordsView = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return wordsView;
}

export function checksums(buf: Buffer, off: number): { unsigned: number; signed: number } {
  // Sum every byte, then count the checksum field as eight spaces; bytes > 127 count negative
  // in the signed variant (old tars), i.e. 256 less each.
  const [sum, high] = byteSums(buf, off);
  let unsigned = sum;
  let highs = high;
  for (let i = off + CHKSUM[0]; i < off + CHKSUM[0] + CHKSUM[1]; i++) {
    const c = buf[i]!;
    unsigned += 0x20 - c;
    highs -= c >> 7;
  }
  return { unsigned, signed: unsigned - 256 * highs };
}

/** The sum of a block's bytes and the count of those above 127. */
function byteSums(buf: Buffer, off: number): [sum: number, high: number] {
  const at = buf.byteOffset + off;
  const words = (at & 3) === 0 && off + BLOCK <= buf.length ? wordsOf(buf.buffer) : undefined;
  if (words === undefined || (at >>> 2) + BLOCK / 4 > words.length) {
    let sum = 0;
    let high = 0;
    for (let i = off; i < off + BLOCK; i++) {
      const c = buf[i]!;
      sum += c;
      high += c >> 7;
    }
    return [sum, high];
  }
  // Four bytes a step (a header is checked for each of 100k entries): two 16-bit lanes of byte
  // sums (at most 128 * 510, no carry between them) and four 8-bit lanes of high-bit counts.
  let lanes = 0;
  let highs = 0;
  for (let i = at >>> 2, end = (at >>> 2) + BLOCK / 4; i < end; i++) {
    const w = words[i]!;
    lanes += (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff);
    highs += (w >>> 7) & 0x01010101;
  }
  const sum = (lanes % 0x10000) + Math.floor(lanes / 0x10000);
  return [sum, (highs & 0xff) + ((highs >>> 8) & 0xff) + ((highs >>> 16) & 0xff) + (highs >>> 24)];
}

const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1');
const GNU_MAGIC = Buffer.from('ustar  \0', 'latin1'); // magic "ustar " + version " \0"
const STAR_TRAILER_BYTES = Buffer.from('tar\0', 'latin1');

function detectFormat(buf: Buffer, off: number): TarFormat {
  if (buf.compare(USTAR_MAGIC, 0, 6, off + MAGIC[0], off + MAGIC[0] + 6) === 0) {
    return buf.compare(STAR_TRAILER_BYTES, 0, 4, off + STAR_TRAILER[0], off + STAR_TRAILER[0] + 4) === 0 ? 'star' : 'ustar';
  }
  if (buf.compare(GNU_MAGIC, 0, 8, off + MAGIC[0], off + MAGIC[0] + 8) === 0) return 'gnu';
  return 'v7';
}

/** Decode one non-zero header block. Throws BAD_LAYER on a bad checksum or a malformed number. */
export function decodeHeader(buf: Buffer, off = 0): RawHeader {
  const stored = parseNumeric(buf, off + CHKSUM[0], CHKSUM[1], 'checksum');
  const { unsigned, signed } = checksums(buf, off);
  if (stored !== unsigned && stored !== signed) {
    throw new LayerfoldError('BAD_LAYER', 'invalid tar header: checksum mismatch (the tar is corrupted, or not a tar at all)');
  }
  const format = detectFormat(buf, off);
  const n = (f: readonly [number, number], name: string) => parseNumeric(buf, off + f[0], f[1], name);
  let name = cString(buf, off + NAME[0], NAME[1]);
  const header: RawHeader = {
    name,
    mode: n(MODE, 'mode'),
    uid: n(UID, 'uid'),
    gid: n(GID, 'gid'),
    size: n(SIZE, 'size'),
    mtime: n(MTIME, 'mtime'),
    typeflag: String.fromCharCode(buf[off + TYPEFLAG]!),
    linkname: cString(buf, off + LINKNAME[0], LINKNAME[1]),
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    format,
  };
  if (format !== 'v7') {
    header.uname = cString(buf, off + UNAME[0], UNAME[1]);
    header.gname = cString(buf, off + GNAME[0], GNAME[1]);
    header.devmajor = n(DEVMAJOR, 'devmajor');
    header.devminor = n(DEVMINOR, 'devminor');
  }
  if (format === 'ustar' || format === 'star') {
    const prefix = cString(buf, off + PREFIX[0], format === 'star' ? STAR_PREFIX_SIZE : PREFIX[1]);
    if (prefix.length > 0) name = `${prefix}/${name}`;
    header.name = name;
  }
  if (header.size < 0) throw new LayerfoldError('BAD_LAYER', `invalid tar header: negative size ${header.size}`);
  return header;
}

// ---------------------------------------------------------------------------------------------
// PAX records

/** PAX keys whose values are names: Go refuses a NUL in them (validPAXRecord). */
const NAME_KEYS = new Set(['path', 'linkpath', 'uname', 'gname']);

/**
 * Parse PAX extended-header data into key → value, values kept as raw bytes (latin1 strings) so
 * binary xattrs survive. Every record's length must be exact; anything else is a corrupt header.
 * GNU.sparse 0.0's repeated offset/numbytes records come back as one `GNU.sparse.map`, as Go reads them.
 */
export function parsePaxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  const sparse00: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    let sp = pos;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const lenText = data.toString('latin1', pos, sp);
    if (sp >= data.length || !/^[0-9]{1,12}$/.test(lenText)) {
      // GNU tar pads the data with NULs after the last record; Go accepts that too.
      if (data.subarray(pos).every((b) => b === 0)) break;
      throw new LayerfoldError('BAD_LAYER', 'invalid PAX header: a record has no valid length');
    }
    const len = Number(lenText);
    if (len <= sp - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new LayerfoldError('BAD_LAYER', `invalid PAX header: a record claims ${len} bytes but does not end there`);
    }
    const record = data.subarray(sp + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new LayerfoldError('BAD_LAYER', 'invalid PAX header: a record has no key');
    const key = record.toString('latin1', 0, eq);
    const value = record.toString('latin1', eq + 1);
    // Go's validPAXRecord: a NUL would cut a name short in any C reader (an export's `..\0x` prefix
    // would read back as `..`), so names and keys holding one are refused, as docker refuses them.
    if (NAME_KEYS.has(key) ? value.includes('\0') : key.includes('\0')) {
      throw new LayerfoldError('BAD_LAYER', `invalid PAX header: ${NAME_KEYS.has(key) ? key : 'a key'} holds a NUL byte`);
    }
    if (key === SPARSE_OFFSET || key === SPARSE_NUMBYTES) sparse00.push(sparse00Value(key, value, sparse00.length));
    else records.set(key, value);
    pos += len;
  }
  if (sparse00.length > 0) records.set('GNU.sparse.map', sparse00.join(','));
  return records;
}

const SPARSE_OFFSET = 'GNU.sparse.offset';
const SPARSE_NUMBYTES = 'GNU.sparse.numbytes';

/**
 * GNU.sparse 0.0 repeats `offset` and `numbytes` records, one pair per segment: Go folds them, in
 * order, into the 0.1 `GNU.sparse.map` (and so do we), refusing them out of turn or holding a comma.
 */
function sparse00Value(key: string, value: string, index: number): string {
  const expected = index % 2 === 0 ? SPARSE_OFFSET : SPARSE_NUMBYTES;
  if (key !== expected) throw new LayerfoldError('BAD_LAYER', `invalid PAX header: a GNU.sparse 0.0 map has ${key} where ${expected} belongs`);
  if (value.includes(',')) throw new LayerfoldError('BAD_LAYER', `invalid PAX header: ${key}=${JSON.stringify(value)} holds a comma`);
  return value;
}

export function formatPaxRecord(key: string, value: string): string {
  const base = Buffer.byteLength(key, 'latin1') + Buffer.byteLength(value, 'latin1') + 3;
  let size = base + String(base).length;
  if (String(size).length + base !== size) size = base + String(size).length;
  return `${size} ${key}=${value}\n`;
}

// ---------------------------------------------------------------------------------------------
// Encoding, as Go's archive/tar writer does for `docker export`

/** What `docker export` knows of one entry. Names are latin1 strings (raw bytes). */
export interface ExportHeader {
  name: string; // directories end in '/'
  typeflag: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  mode: number; // permission bits plus setuid/setgid/sticky
  uid: number;
  gid: number;
  size: number;
  mtime: number; // whole seconds
  linkname: string;
  devmajor: number;
  devminor: number;
  /** `security.capability` as stored in the PAX record (already v2). */
  capability?: Buffer;
}

const MAX_OCTAL_8 = 0o7777777; // fits in an 8-byte field with its NUL
const MAX_OCTAL_12 = 0o77777777777;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** Go's toASCII on a byte string: every byte >= 0x80 is dropped. */
function toAscii(s: string): string {
  return isAscii(s) ? s : s.replace(/[\x80-\xff]/g, '');
}

function fitsOctal(size: number, value: number): boolean {
  const max = size === 12 ? MAX_OCTAL_12 : size === 8 ? MAX_OCTAL_8 : 8 ** (size - 1) - 1;
  return value >= 0 && value <= max;
}

/**
 * Go's formatString: copy (cut to the field), NUL-terminate when there is room; and when the cut ends
 * in '/', put a NUL where the trailing slashes start, so no reader takes a cut file name for a directory.
 */
function writeString(buf: Buffer, off: number, size: number, s: string): void {
  buf.write(s.length > size ? s.slice(0, size) : s, off, 'latin1');
  if (s.length > size && s[size - 1] === '/') {
    buf[off + s.slice(0, size).replace(/\/+$/, '').length] = 0;
  }
}

/** Go's formatOctal: size-1 zero-padded digits then NUL; a value that does not fit becomes 0. */
function writeOctal(buf: Buffer, off: number, size: number, value: number): void {
  const v = fitsOctal(size, value) ? value : 0;
  const digits = v.toString(8).padStart(size - 1, '0');
  buf.write(digits, off, 'latin1');
  buf[off + size - 1] = 0;
}

function finishChecksum(buf: Buffer, off: number): void {
  buf.write('ustar\u000000', off + MAGIC[0], 'latin1');
  const { unsigned } = checksums(buf, off);
  buf.write(unsigned.toString(8).padStart(6, '0'), off + CHKSUM[0], 'latin1');
  buf[off + CHKSUM[0] + 6] = 0;
  buf[off + CHKSUM[0] + 7] = 0x20;
}

/** Go's splitUSTARPath. */
export function splitUstarPath(name: string): [prefix: string, suffix: string] | null {
  let length = name.length;
  if (length <= NAME[1] || !isAscii(name)) return null;
  if (length > PREFIX[1] + 1) length = PREFIX[1] + 1;
  else if (name[length - 1] === '/') length--;
  const i = name.lastIndexOf('/', length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > NAME[1] || nlen === 0 || i > PREFIX[1]) return null;
  return [name.slice(0, i), name.slice(i + 1)];
}

/** The PAX records Go would write for this entry, or null when a plain USTAR header holds it. */
function paxRecordsFor(h: ExportHeader): Map<string, string> | null {
  const records = new Map<string, string>();
  let ustar = true;
  if (!isAscii(h.name) || h.name.length > NAME[1]) {
    if (splitUstarPath(h.name) === null) ustar = false;
    records.set('path', h.name);
  }
  if (!isAscii(h.linkname) || h.linkname.length > LINKNAME[1]) {
    ustar = false;
    records.set('linkpath', h.linkname);
  }
  const numeric: Array<[number, number, string]> = [
    [h.uid, 8, 'uid'],
    [h.gid, 8, 'gid'],
    [h.size, 12, 'size'],
    [h.mtime, 12, 'mtime'],
  ];
  for (const [value, size, key] of numeric) {
    if (!fitsOctal(size, value)) {
      ustar = false;
      records.set(key, String(value));
    }
  }
  if (h.capability) {
    ustar = false;
    records.set('SCHILY.xattr.security.capability', h.capability.toString('latin1'));
  }
  return ustar ? null : records;
}

function encodeMain(h: ExportHeader, pax: boolean): Buffer {
  const buf = Buffer.alloc(BLOCK);
  let name = h.name;
  let linkname = h.linkname;
  let prefix = '';
  if (pax) {
    name = toAscii(name);
    linkname = toAscii(linkname);
  } else {
    const split = splitUstarPath(name);
    if (split) [prefix, name] = split;
  }
  writeString(buf, NAME[0], NAME[1], name);
  writeString(buf, LINKNAME[0], LINKNAME[1], linkname);
  writeOctal(buf, MODE[0], MODE[1], h.mode);
  writeOctal(buf, UID[0], UID[1], h.uid);
  writeOctal(buf, GID[0], GID[1], h.gid);
  writeOctal(buf, SIZE[0], SIZE[1], h.size);
  writeOctal(buf, MTIME[0], MTIME[1], h.mtime);
  buf[TYPEFLAG] = h.typeflag.charCodeAt(0);
  writeOctal(buf, DEVMAJOR[0], DEVMAJOR[1], h.devmajor);
  writeOctal(buf, DEVMINOR[0], DEVMINOR[1], h.devminor);
  if (prefix) writeString(buf, PREFIX[0], PREFIX[1], prefix);
  finishChecksum(buf, 0);
  return buf;
}

/** Go's name for the PAX header of an entry: path.Join(dir, "PaxHeaders.0", file), ASCII, ≤ 100 bytes. */
export function paxHeaderName(name: string): string {
  const slash = name.lastIndexOf('/');
  const dir = name.slice(0, slash + 1);
  const file = name.slice(slash + 1);
  let joined = [dir.replace(/\/+$/, ''), 'PaxHeaders.0', file].filter((p) => p !== '').join('/');
  joined = toAscii(joined);
  if (joined.length > NAME[1]) joined = joined.slice(0, NAME[1]);
  return joined.replace(/\/+$/, '');
}

function encodePaxHeader(name: string, records: Map<string, string>): Buffer {
  const keys = [...records.keys()].sort();
  const data = Buffer.from(keys.map((k) => formatPaxRecord(k, records.get(k)!)).join(''), 'latin1');
  const padded = Math.ceil(data.length / BLOCK) * BLOCK;
  const buf = Buffer.alloc(BLOCK + padded);
  writeString(buf, NAME[0], NAME[1], paxHeaderName(name));
  writeOctal(buf, MODE[0], MODE[1], 0);
  writeOctal(buf, UID[0], UID[1], 0);
  writeOctal(buf, GID[0], GID[1], 0);
  writeOctal(buf, SIZE[0], SIZE[1], data.length);
  writeOctal(buf, MTIME[0], MTIME[1], 0);
  buf[TYPEFLAG] = 0x78; // 'x'
  finishChecksum(buf, 0);
  data.copy(buf, BLOCK);
  return buf;
}

/**
 * An octal field written digit by digit (no string): the hot path of the writer. Same bytes as
 * writeOctal for values that fit, which the caller has checked.
 */
function putOctal(buf: Buffer, off: number, size: number, value: number): number {
  let sum = 0;
  let v = value;
  for (let i = off + size - 2; i >= off; i--) {
    const digit = 0x30 + (v % 8);
    buf[i] = digit;
    sum += digit;
    v = Math.floor(v / 8);
  }
  buf[off + size - 1] = 0;
  return sum;
}

/** A name field for a short ASCII string (checked by the caller); returns the sum of its bytes. */
function putAscii(buf: Buffer, off: number, s: string): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    buf[off + i] = c;
    sum += c;
  }
  return sum;
}

/** Bytes of "ustar\0" "00" plus the checksum field counted as eight spaces. */
const CONSTANT_SUM = [...'ustar\u000000'].reduce((a, c) => a + c.charCodeAt(0), 0) + 8 * 0x20;

/**
 * Write the header of `h` straight into `buf` at `off` when it is a plain USTAR header (the common
 * case: ASCII names of at most 100 bytes, numbers that fit, no capability) and return 512; otherwise
 * write nothing and return 0 (the caller uses encodeExportHeader). Same bytes as encodeExportHeader;
 * it saves a buffer, strings and a second pass over the block for each of a hundred thousand entries.
 */
export function encodeUstarInto(h: ExportHeader, buf: Buffer, off: number): number {
  // Only ASCII names of at most 100 bytes fit a plain USTAR header as they are.
  if (h.capability || h.name.length > NAME[1] || h.linkname.length > LINKNAME[1] || !isAscii(h.name) || !isAscii(h.linkname)) return 0;
  if (!fitsOctal(8, h.uid) || !fitsOctal(8, h.gid) || !fitsOctal(12, h.size) || !fitsOctal(12, h.mtime)) return 0;
  buf.fill(0, off, off + BLOCK);
  let sum = CONSTANT_SUM;
  sum += putAscii(buf, off + NAME[0], h.name);
  sum += putAscii(buf, off + LINKNAME[0], h.linkname);
  sum += putOctal(buf, off + MODE[0], MODE[1], fitsOctal(8, h.mode) ? h.mode : 0);
  sum += putOctal(buf, off + UID[0], UID[1], h.uid);
  sum += putOctal(buf, off + GID[0], GID[1], h.gid);
  sum += putOctal(buf, off + SIZE[0], SIZE[1], h.size);
  sum += putOctal(buf, off + MTIME[0], MTIME[1], h.mtime);
  const typeflag = h.typeflag.charCodeAt(0);
  buf[off + TYPEFLAG] = typeflag;
  sum += typeflag;
  sum += putOctal(buf, off + DEVMAJOR[0], DEVMAJOR[1], fitsOctal(8, h.devmajor) ? h.devmajor : 0);
  sum += putOctal(buf, off + DEVMINOR[0], DEVMINOR[1], fitsOctal(8, h.devminor) ? h.devminor : 0);
  buf.write('ustar\u000000', off + MAGIC[0], 'latin1');
  putOctal(buf, off + CHKSUM[0], 7, sum);
  buf[off + CHKSUM[0] + 7] = 0x20;
  return BLOCK;
}

/** The header bytes (PAX header included when needed) Go's writer emits for this entry. */
export function encodeExportHeader(h: ExportHeader): Buffer {
  const records = paxRecordsFor(h);
  if (records === null) return encodeMain(h, false);
  return Buffer.concat([encodePaxHeader(h.name, records), encodeMain(h, true)]);
}

export function paddingFor(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** The end of an archive as docker writes it: two zero blocks, no padding to a record. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
