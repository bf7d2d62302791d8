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
import { BLOCK, blankBlock, blankBlockSums, HIGH_UNIT, loadBlock, octalField, putOctalField } from './wasm-block.js';

export { BLOCK };

/** One field of the header block: its name (as the POSIX spec names it), where it is, how long, and whether it holds a number. */
export interface HeaderField {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly numeric: boolean;
}

/**
 * The v7 / USTAR header block, field after field (each starts where the one before it ends): the one
 * table the codec reads and writes by, and `diff --bytes` names a differing byte by.
 */
const LAYOUT = [
  // v7
  ['name', 100, 'text'], ['mode', 8, 'number'], ['uid', 8, 'number'], ['gid', 8, 'number'], ['size', 12, 'number'],
  ['mtime', 12, 'number'], ['chksum', 8, 'number'], ['typeflag', 1, 'text'], ['linkname', 100, 'text'],
  // USTAR
  ['magic', 6, 'text'], ['version', 2, 'text'], ['uname', 32, 'text'], ['gname', 32, 'text'],
  ['devmajor', 8, 'number'], ['devminor', 8, 'number'], ['prefix', 155, 'text'],
  // unused by USTAR (star's atime, ctime and trailer, GNU's extras)
  ['padding', 12, 'text'],
] as const;

type FieldName = (typeof LAYOUT)[number][0];

/** A field as the codec holds it: with the bound an octal number in it stays under (the hot path compares, never computes). */
interface CodecField extends HeaderField {
  readonly limit: number;
}

const codecField = (name: string, offset: number, length: number, numeric: boolean): CodecField => ({ name, offset, length, numeric, limit: 8 ** (length - 1) });

const FIELDS: readonly CodecField[] = LAYOUT.map(([name, length, kind], i) => codecField(name, LAYOUT.slice(0, i).reduce((at, [, len]) => at + len, 0), length, kind === 'number'));

export const HEADER_FIELDS: readonly HeaderField[] = FIELDS;

/** The fields by name. */
const F = Object.fromEntries(FIELDS.map((f) => [f.name, f])) as Record<FieldName, CodecField>;

/** star keeps a shorter prefix (then atime and ctime) and a "tar\0" trailer in the last four bytes. */
const STAR_PREFIX_SIZE = 131;
const STAR_TRAILER_AT = BLOCK - 4;

/** A header's type flag and stored size (the size 0 when the field is not a number), for walking extended headers by hand. */
export function flagAndSize(buf: Buffer, off = 0): { typeflag: string; size: number } {
  let size = 0;
  try {
    size = numericField(buf, off, F.size);
  } catch {
    // a corrupt size is shown, not fatal, where this is used (diff --bytes)
  }
  return { typeflag: typeflagAt(buf, off), size: Math.max(0, size) };
}

export type TarFormat = 'ustar' | 'gnu' | 'star' | 'v7';

/**
 * The fields every header has and every entry is told by: the codec's records, the tar reader's
 * entries, the export's headers and ls's rows all extend this. Names are latin1 strings (raw bytes).
 */
export interface HeaderFields {
  /** As stored: the export's directories end in '/'. */
  name: string;
  /** Permission bits plus setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data after the header: once read, a regular file's size and 0 for every other entry. */
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  /** A symlink's target; a hard link's, the name that carries the data. */
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** One header block as stored, before PAX / GNU long-name records are merged in (`size` is the field's value). */
export interface RawHeader extends HeaderFields {
  typeflag: string; // one char; '\0' kept as '\0'
  uname: string;
  gname: string;
  format: TarFormat;
}

export function isZeroBlock(buf: Buffer, off = 0): boolean {
  for (let i = off; i < off + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Bytes of a field (of the block at `off`) up to the first NUL, as latin1; `len` cuts it shorter.
 * latin1Slice is what toString('latin1', …) calls once it has checked its arguments (in range here):
 * the check is most of the cost before TurboFan (cli/tiering.ts), for four fields of every header.
 */
function cString(buf: Buffer, off: number, field: HeaderField, len = field.length): string {
  off += field.offset;
  let end = off;
  const limit = off + len;
  while (end < limit && buf[end] !== 0) end++;
  const slicer = buf as Latin1Slicer;
  return slicer.latin1Slice ? slicer.latin1Slice(off, end) : buf.toString('latin1', off, end);
}

/** Node's Buffer has latin1Slice (what toString('latin1') ends in); @types/node does not declare it. */
type Latin1Slicer = Buffer & { latin1Slice?(start: number, end: number): string };

function badField(field: string): LayerfoldError {
  return new LayerfoldError('BAD_LAYER', `invalid tar header: the ${field} field is not a number (is the tar corrupted?)`);
}

/** A numeric field of the block at `off`; `shown` names it in the error. */
function numericField(buf: Buffer, off: number, field: HeaderField, shown = field.name): number {
  return parseNumeric(buf, off + field.offset, field.length, shown);
}

function typeflagAt(buf: Buffer, off: number): string {
  return String.fromCharCode(buf[off + F.typeflag.offset]!);
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
  // One pass (this runs for eight fields of every header): leading spaces and NULs skipped, octal
  // digits up to a NUL (Go's parseString cuts there) or the field's end; a space after the digits only
  // if nothing but spaces and NULs follows it; any other byte is not a number.
  const end = off + len;
  let i = off;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let value = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x37) value = value * 8 + (c - 0x30);
    else if (c === 0) break;
    else if (c !== 0x20 || !onlyPadding(buf, i, end)) throw badField(field);
    else break;
  }
  if (!Number.isSafeInteger(value)) throw badField(field);
  return value;
}

/** Whether [from, end) holds nothing but spaces and NULs. */
function onlyPadding(buf: Buffer, from: number, end: number): boolean {
  for (let i = from; i < end; i++) if (buf[i] !== 0x20 && buf[i] !== 0) return false;
  return true;
}

/** The checksum figures of the block at `off`: every byte summed, the checksum field counted as eight spaces. */
export function checksums(buf: Buffer, off: number): { unsigned: number; signed: number } {
  const sums = loadBlock(buf, off);
  const unsigned = sums % HIGH_UNIT;
  // bytes > 127 count negative in the signed variant (old tars), i.e. 256 less each
  return { unsigned, signed: unsigned - 256 * ((sums - unsigned) / HIGH_UNIT) };
}

/** Byte by byte, not Buffer.compare: before TurboFan its argument checks cost more than the bytes. */
function detectFormat(buf: Buffer, off: number): TarFormat {
  const m = off + F.magic.offset;
  if (buf[m] !== 0x75 || buf[m + 1] !== 0x73 || buf[m + 2] !== 0x74 || buf[m + 3] !== 0x61 || buf[m + 4] !== 0x72) return 'v7'; // "ustar"
  if (buf[m + 5] === 0) {
    const t = off + STAR_TRAILER_AT;
    return buf[t] === 0x74 && buf[t + 1] === 0x61 && buf[t + 2] === 0x72 && buf[t + 3] === 0 ? 'star' : 'ustar'; // "tar\0"
  }
  return buf[m + 5] === 0x20 && buf[m + 6] === 0x20 && buf[m + 7] === 0 ? 'gnu' : 'v7'; // "ustar  \0"
}

/**
 * A numeric field of the block at `off`, which checksums() has just loaded: WebAssembly reads a
 * plain octal number (tar/wasm-block.ts), parseNumeric anything else, and gives the verdict.
 */
function loadedField(buf: Buffer, off: number, field: HeaderField, shown = field.name): number {
  const value = octalField(field.offset, field.length);
  return value >= 0 ? value : numericField(buf, off, field, shown);
}

/** Decode one non-zero header block. Throws BAD_LAYER on a bad checksum or a malformed number. */
export function decodeHeader(buf: Buffer, off = 0): RawHeader {
  const { unsigned, signed } = checksums(buf, off);
  const stored = loadedField(buf, off, F.chksum, 'checksum');
  if (stored !== unsigned && stored !== signed) {
    throw new LayerfoldError('BAD_LAYER', 'invalid tar header: checksum mismatch (the tar is corrupted, or not a tar at all)');
  }
  const format = detectFormat(buf, off);
  const header: RawHeader = {
    name: cString(buf, off, F.name),
    mode: loadedField(buf, off, F.mode),
    uid: loadedField(buf, off, F.uid),
    gid: loadedField(buf, off, F.gid),
    size: loadedField(buf, off, F.size),
    mtime: loadedField(buf, off, F.mtime),
    typeflag: typeflagAt(buf, off),
    linkname: cString(buf, off, F.linkname),
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    format,
  };
  if (format !== 'v7') {
    header.uname = cString(buf, off, F.uname);
    header.gname = cString(buf, off, F.gname);
    header.devmajor = loadedField(buf, off, F.devmajor);
    header.devminor = loadedField(buf, off, F.devminor);
  }
  if (format === 'ustar' || format === 'star') {
    const prefix = cString(buf, off, F.prefix, format === 'star' ? STAR_PREFIX_SIZE : F.prefix.length);
    if (prefix.length > 0) header.name = `${prefix}/${header.name}`;
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

/** What `docker export` knows of one entry. */
export interface ExportHeader extends HeaderFields {
  typeflag: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  /** `security.capability` as stored in the PAX record (already v2). */
  capability?: Buffer;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** Go's toASCII on a byte string: every byte >= 0x80 is dropped. */
function toAscii(s: string): string {
  return isAscii(s) ? s : s.replace(/[\x80-\xff]/g, '');
}

/** Whether a number fits its field in octal, with the field's NUL. */
function fitsOctal(field: CodecField, value: number): boolean {
  return value >= 0 && value < field.limit;
}

/**
 * Go's formatString: copy (cut to the field), NUL-terminate when there is room; and when the cut ends
 * in '/', put a NUL where the trailing slashes start, so no reader takes a cut file name for a directory.
 */
function writeString(buf: Buffer, field: HeaderField, s: string): void {
  const { offset, length } = field;
  buf.write(s.length > length ? s.slice(0, length) : s, offset, 'latin1');
  if (s.length > length && s[length - 1] === '/') {
    buf[offset + s.slice(0, length).replace(/\/+$/, '').length] = 0;
  }
}

/**
 * Go's formatOctal, digit by digit (no string: the writer's hot path): length-1 zero-padded digits
 * then a NUL, a value that does not fit written as 0. Returns the sum of the bytes written.
 */
function putOctal(buf: Buffer, off: number, field: CodecField, value: number): number {
  const start = off + field.offset;
  let sum = 0;
  let v = fitsOctal(field, value) ? value : 0;
  for (let i = start + field.length - 2; i >= start; i--) {
    const digit = 0x30 + (v % 8);
    buf[i] = digit;
    sum += digit;
    v = Math.floor(v / 8);
  }
  buf[start + field.length - 1] = 0;
  return sum;
}

/** The fields Go's writer formats for a header block (strings cut to their field, numbers octal), then magic and checksum. */
function formatBlock(buf: Buffer, fields: Partial<Record<FieldName, string | number>>): void {
  for (const [name, value] of Object.entries(fields)) {
    const field = F[name as FieldName];
    if (typeof value === 'number') putOctal(buf, 0, field, value);
    else writeString(buf, field, value);
  }
  buf.write(USTAR_MAGIC_VERSION, F.magic.offset, 'latin1');
  const { unsigned } = checksums(buf, 0);
  putOctal(buf, 0, CHKSUM_DIGITS, unsigned);
  buf[F.chksum.offset + 7] = 0x20;
}

/** Go's splitUSTARPath. */
export function splitUstarPath(name: string): [prefix: string, suffix: string] | null {
  let length = name.length;
  if (length <= F.name.length || !isAscii(name)) return null;
  if (length > F.prefix.length + 1) length = F.prefix.length + 1;
  else if (name[length - 1] === '/') length--;
  const i = name.lastIndexOf('/', length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > F.name.length || nlen === 0 || i > F.prefix.length) return null;
  return [name.slice(0, i), name.slice(i + 1)];
}

/** The numbers a PAX record carries when they do not fit their field. */
const PAX_NUMBERS = ['uid', 'gid', 'size', 'mtime'] as const;

/** The PAX records Go would write for this entry, or null when a plain USTAR header holds it. */
function paxRecordsFor(h: ExportHeader): Map<string, string> | null {
  const records = new Map<string, string>();
  let ustar = true;
  if (!isAscii(h.name) || h.name.length > F.name.length) {
    if (splitUstarPath(h.name) === null) ustar = false;
    records.set('path', h.name);
  }
  if (!isAscii(h.linkname) || h.linkname.length > F.linkname.length) {
    ustar = false;
    records.set('linkpath', h.linkname);
  }
  for (const key of PAX_NUMBERS) {
    if (!fitsOctal(F[key], h[key])) {
      ustar = false;
      records.set(key, String(h[key]));
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
  const { mode, uid, gid, size, mtime, typeflag, devmajor, devminor } = h;
  formatBlock(buf, { name, linkname, mode, uid, gid, size, mtime, typeflag, devmajor, devminor, prefix });
  return buf;
}

/** Go's name for the PAX header of an entry: path.Join(dir, "PaxHeaders.0", file), ASCII, ≤ 100 bytes. */
export function paxHeaderName(name: string): string {
  const slash = name.lastIndexOf('/');
  const dir = name.slice(0, slash + 1);
  const file = name.slice(slash + 1);
  let joined = [dir.replace(/\/+$/, ''), 'PaxHeaders.0', file].filter((p) => p !== '').join('/');
  joined = toAscii(joined);
  if (joined.length > F.name.length) joined = joined.slice(0, F.name.length);
  return joined.replace(/\/+$/, '');
}

/** Go's writeRawFile: a v7 block with only these fields, its data after it. */
function encodePaxHeader(name: string, records: Map<string, string>): Buffer {
  const keys = [...records.keys()].sort();
  const data = Buffer.from(keys.map((k) => formatPaxRecord(k, records.get(k)!)).join(''), 'latin1');
  const padded = Math.ceil(data.length / BLOCK) * BLOCK;
  const buf = Buffer.alloc(BLOCK + padded);
  formatBlock(buf, { name: paxHeaderName(name), mode: 0, uid: 0, gid: 0, size: data.length, mtime: 0, typeflag: 'x' });
  data.copy(buf, BLOCK);
  return buf;
}

const USTAR_MAGIC_VERSION = 'ustar\u000000';
const USTAR_MAGIC_BYTES = Buffer.from(USTAR_MAGIC_VERSION, 'latin1');
/** The checksum as Go writes it: six digits, a NUL, then a space. */
const CHKSUM_DIGITS = codecField('chksum', F.chksum.offset, 7, true);

/** Node's Buffer has latin1Write (what write(s, 'latin1') ends in); @types/node does not declare it. */
type Latin1Writer = Buffer & { latin1Write?(s: string, offset: number, length: number): number };

/** A short latin1 string (it fits, checked by the caller) into a field of the block. */
function putLatin1(block: Latin1Writer, field: HeaderField, s: string): void {
  if (s.length === 0) return;
  if (block.latin1Write) block.latin1Write(s, field.offset, field.length);
  else block.write(s, field.offset, field.length, 'latin1');
}

/**
 * Write the header of `h` into `buf` at `off` when it is a plain USTAR header (the common case:
 * ASCII names of at most 100 bytes, numbers that fit, no capability) and return 512; otherwise write
 * nothing and return 0 (the caller uses encodeExportHeader). Same bytes as encodeExportHeader; it
 * saves a buffer, strings and a pass over the block for each of a hundred thousand entries.
 * The block is made in tar/wasm-block.ts's memory: its digits and its sums are WebAssembly loops
 * (fast before TurboFan), its names native copies; a byte above 127 in the sum says a name is not ASCII.
 */
export function encodeUstarInto(h: ExportHeader, buf: Buffer, off: number): number {
  if (h.capability || h.name.length > F.name.length || h.linkname.length > F.linkname.length) return 0;
  if (!fitsOctal(F.uid, h.uid) || !fitsOctal(F.gid, h.gid) || !fitsOctal(F.size, h.size) || !fitsOctal(F.mtime, h.mtime)) return 0;
  const block = blankBlock();
  putLatin1(block, F.name, h.name);
  putLatin1(block, F.linkname, h.linkname);
  putOctalField(F.mode.offset, F.mode.length, fitsOctal(F.mode, h.mode) ? h.mode : 0);
  putOctalField(F.uid.offset, F.uid.length, h.uid);
  putOctalField(F.gid.offset, F.gid.length, h.gid);
  putOctalField(F.size.offset, F.size.length, h.size);
  putOctalField(F.mtime.offset, F.mtime.length, h.mtime);
  putOctalField(F.devmajor.offset, F.devmajor.length, fitsOctal(F.devmajor, h.devmajor) ? h.devmajor : 0);
  putOctalField(F.devminor.offset, F.devminor.length, fitsOctal(F.devminor, h.devminor) ? h.devminor : 0);
  block[F.typeflag.offset] = h.typeflag.charCodeAt(0);
  block.set(USTAR_MAGIC_BYTES, F.magic.offset);
  const sums = blankBlockSums();
  if (sums >= HIGH_UNIT) return 0; // a byte above 127: a name that is not ASCII
  putOctalField(CHKSUM_DIGITS.offset, CHKSUM_DIGITS.length, sums);
  block[F.chksum.offset + 7] = 0x20;
  buf.set(block, off);
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
