/**
 * GNU sparse files in PAX form, read as Go's archive/tar reads them inside docker: GNU.sparse 0.0 (its
 * repeated offset/numbytes records folded into a map by parsePaxRecords), 0.1 (`GNU.sparse.map`) and
 * 1.0 (the map in decimal lines at the start of the entry's data, in whole blocks; bsdtar writes it
 * too, with zero-length segments at the ends). The file is `GNU.sparse.name` (not the stored
 * `GNUSparseFile.PID/…` name), `GNU.sparse.size` or `realsize` bytes long, its data segments stored
 * one after another and the rest holes, which read as zeros. Docker unpacks such a file in full and
 * exports it as a regular file; only the segments are ever read here.
 *
 * Docker refuses a map Go refuses ("archive/tar: invalid tar header"): segments negative, out of order,
 * overlapping or past the real size, a map that is not numbers or holds fewer pairs than it says; and
 * a file whose stored data is more or less than its segments ("sparse file contains unreferenced
 * data", "references non-existent data"). So does this module, one line naming the entry.
 */
import { LayerfoldError, showName } from '../errors.js';
import type { PositionalReader } from '../io/positional-reader.js';
import { BLOCK } from './header.js';

/** One data segment: `length` bytes at `offset` of the file, stored at `at` (absolute) in the layer's file. */
export interface SparseSegment {
  offset: number;
  length: number;
  at: number;
}

/** What the PAX records and the map make of a sparse entry. */
export interface SparseFile {
  /** GNU.sparse.name, when given (it replaces the entry's name). */
  name: string | undefined;
  /** The file's real size. */
  size: number;
  segments: SparseSegment[];
}

/** Go's maxSpecialFileSize: a 1.0 map may take at most 1 MiB. */
const MAX_MAP = 1 << 20;

type Version = '0.x' | '1.0';

/** Which sparse format the records name, or undefined when the entry is not sparse (as Go decides). */
function sparseVersion(pax: Map<string, string>): Version | undefined {
  const major = pax.get('GNU.sparse.major') ?? '';
  const minor = pax.get('GNU.sparse.minor') ?? '';
  if (major === '0' && (minor === '0' || minor === '1')) return '0.x';
  if (major === '1' && minor === '0') return '1.0';
  if (major !== '' || minor !== '') return undefined; // a version Go does not know: a plain file
  return (pax.get('GNU.sparse.map') ?? '') !== '' ? '0.x' : undefined;
}

const refuse = (name: string, what: string, docker = 'archive/tar: invalid tar header'): LayerfoldError =>
  new LayerfoldError('BAD_ENTRY', `entry ${showName(name)}: ${what}; docker refuses the layer ("${docker}")`);

/** strconv.ParseInt(s, 10, 64), held to what a JavaScript number holds exactly. */
function parseNumber(text: string, name: string, what: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) throw refuse(name, `a sparse ${what} ${JSON.stringify(text.slice(0, 40))} is not a number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw refuse(name, `a sparse ${what} ${text.slice(0, 40)} is out of range`);
  return n;
}

/** The [offset, length] pairs of a 0.0/0.1 map, checked against GNU.sparse.numblocks. */
function map0x(pax: Map<string, string>, name: string): number[] {
  const count = parseNumber(pax.get('GNU.sparse.numblocks') ?? '', name, 'numblocks');
  const text = pax.get('GNU.sparse.map') ?? '';
  const fields = text === '' ? [] : text.split(',');
  if (count < 0 || fields.length !== 2 * count) {
    throw refuse(name, `GNU.sparse.numblocks says ${count} segments, the map holds ${fields.length / 2}`);
  }
  return fields.map((f) => parseNumber(f, name, 'map value'));
}

/**
 * The pairs of a 1.0 map, read block by block from the entry's data until it has as many lines as it
 * says (Go's readGNUSparseMap1x0), and the bytes those blocks take.
 */
function map10(reader: PositionalReader, dataOffset: number, stored: number, name: string): { pairs: number[]; mapBytes: number } {
  let text = '';
  let newlines = 0;
  let mapBytes = 0;
  const feed = (want: number): void => {
    while (newlines < want) {
      if (mapBytes + BLOCK > MAX_MAP) throw refuse(name, 'a sparse map longer than 1 MiB', 'archive/tar: sparse file too long');
      if (mapBytes + BLOCK > stored) throw refuse(name, 'a sparse map that runs past the end of the entry', 'unexpected EOF');
      const block = reader.read(dataOffset + mapBytes, BLOCK);
      if (block.length < BLOCK) throw refuse(name, 'a sparse map that runs past the end of the layer', 'unexpected EOF');
      const chunk = block.toString('latin1');
      for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) newlines++;
      text += chunk;
      mapBytes += BLOCK;
    }
  };
  feed(1);
  const lines = text.split('\n');
  const count = parseNumber(lines[0]!, name, 'segment count');
  if (count < 0) throw refuse(name, `a sparse map of ${count} segments`);
  feed(1 + 2 * count);
  const all = text.split('\n');
  const pairs = all.slice(1, 1 + 2 * count).map((t) => parseNumber(t, name, 'map value'));
  return { pairs, mapBytes };
}

/**
 * The sparse file an entry's PAX records describe, or undefined when they describe none. `stored` is
 * the entry's size in the archive (map blocks and data); `headerOnly` an entry type that has no data,
 * which Go refuses to make sparse.
 */
export function readSparse(
  pax: Map<string, string>,
  reader: PositionalReader,
  entry: { name: string; dataOffset: number; stored: number; headerOnly: boolean },
): SparseFile | undefined {
  const version = sparseVersion(pax);
  if (version === undefined) return undefined;
  const sparseName = pax.get('GNU.sparse.name') || undefined;
  const name = sparseName ?? entry.name;
  // Go takes a NUL here (it checks only path and linkpath), the kernel does not: docker's open fails
  if (sparseName?.includes('\0')) throw refuse(entry.name, 'a GNU.sparse.name holding a NUL byte', 'invalid argument');
  const sizeText = pax.get('GNU.sparse.size') || pax.get('GNU.sparse.realsize') || undefined;
  const size = sizeText === undefined ? entry.stored : parseNumber(sizeText, name, 'size');
  const { pairs, mapBytes } = version === '1.0' ? map10(reader, entry.dataOffset, entry.stored, name) : { pairs: map0x(pax, name), mapBytes: 0 };
  if (entry.headerOnly) throw refuse(name, 'a sparse map on an entry that is not a regular file');
  const segments = checkedSegments(pairs, size, name, entry.dataOffset + mapBytes);
  const data = segments.reduce((sum, s) => sum + s.length, 0);
  const storedData = entry.stored - mapBytes;
  if (storedData > data) throw refuse(name, `${storedData} bytes of data stored where its sparse map names ${data}`, 'archive/tar: sparse file contains unreferenced data');
  if (storedData < data) throw refuse(name, `a sparse map naming ${data} bytes of data where ${storedData} are stored`, 'archive/tar: sparse file references non-existent data');
  return { name: sparseName, size, segments };
}

/** Go's validateSparseEntries (the checks bsdtar makes too), then where each segment is stored. */
function checkedSegments(pairs: number[], size: number, name: string, firstAt: number): SparseSegment[] {
  if (size < 0) throw refuse(name, `a sparse file of ${size} bytes`);
  const segments: SparseSegment[] = [];
  let end = 0;
  let at = firstAt;
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const offset = pairs[i]!;
    const length = pairs[i + 1]!;
    const where = `${offset}+${length}`;
    if (offset < 0 || length < 0) throw refuse(name, `a sparse segment ${where} is negative`);
    if (offset + length > size) throw refuse(name, `a sparse segment ${where} runs past the file's ${size} bytes`);
    if (offset < end) throw refuse(name, `a sparse segment ${where} overlaps or comes before the one ending at ${end}`);
    segments.push({ offset, length, at });
    at += length;
    end = offset + length;
  }
  return segments;
}

/** A run of a sparse file: `length` bytes stored at `at`, or a hole of `length` zeros (`at` null). */
export interface SparseRun {
  at: number | null;
  length: number;
}

/** The runs of a sparse file of `size` bytes, in order: data where a segment is, holes between. */
export function* sparseRuns(size: number, segments: readonly SparseSegment[]): Generator<SparseRun> {
  let pos = 0;
  for (const s of segments) {
    if (s.offset > pos) yield { at: null, length: s.offset - pos };
    if (s.length > 0) yield { at: s.at, length: s.length };
    pos = s.offset + s.length;
  }
  if (size > pos) yield { at: null, length: size - pos };
}
