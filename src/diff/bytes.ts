/**
 * `diff --bytes`: are two tars the same bytes, and if not, where is the first difference — in which
 * entry, which header field (both values), PAX record or data? Both files are read in step in 1 MiB
 * chunks; only once a difference is found is A's structure walked (headers only, src/tar/entries.ts)
 * to name the place. Everything before the first difference is equal, so B has the same structure
 * up to it and the same offset in B is the same field.
 *
 * In a header, the first differing field other than the checksum is reported (the checksum sits
 * before the type flag and link name, so a changed type would otherwise show up as a checksum).
 */
import { closeSync, fstatSync, openSync, readSync, constants as fsc } from 'node:fs';
import { PositionalReader } from '../io/positional-reader.js';
import { BLOCK, flagAndSize, HEADER_FIELDS, paddingFor, parsePaxRecords, type HeaderField } from '../tar/header.js';
import { tarEntries } from '../tar/entries.js';
import { display } from './compare.js';
import { alignedBuffer } from '../io/aligned.js';

const CHUNK = 1 << 20;

export interface BytesDifference {
  /** Offset of the first differing byte (or the length of the shorter file). */
  offset: number;
  /** The entry it belongs to, when it is inside one. */
  entry?: string;
  /** `header`, `pax` (extended header), `data`, or `end` (after the last entry / length). */
  region: 'header' | 'pax' | 'data' | 'end';
  /** Header field name, PAX key (`mtime`, `SCHILY.xattr.…`), `content`, `end-of-archive` or `length`. */
  field?: string;
  /** A's and B's values (for data: up to 16 bytes from the offset, hex; for length: the sizes). */
  a: string;
  b: string;
  /** More about the place, e.g. `byte 1024 of its data`. */
  detail?: string;
}

export interface BytesResult {
  equal: boolean;
  sizeA: number;
  sizeB: number;
  difference?: BytesDifference;
}

/** The codec's field table, the checksum last: it follows from the others, so any other change is named first. */
const FIELDS_IN_ORDER: readonly HeaderField[] = [...HEADER_FIELDS.filter((f) => f.name !== 'chksum'), ...HEADER_FIELDS.filter((f) => f.name === 'chksum')];

function fieldText(block: Buffer, { offset, length, numeric }: HeaderField): string {
  const raw = block.subarray(offset, offset + length);
  const text = JSON.stringify(raw.toString('latin1'));
  if (!numeric) return JSON.stringify(display(raw.toString('latin1').replace(/\0+$/, '')));
  const digits = raw.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  return /^[0-7]+$/.test(digits) ? `${parseInt(digits, 8)} (${text})` : text;
}

/** The first byte at which the two files differ, or -1. */
function firstDifference(fdA: number, fdB: number, sizeA: number, sizeB: number): number {
  const bufA = alignedBuffer(CHUNK);
  const bufB = alignedBuffer(CHUNK);
  const common = Math.min(sizeA, sizeB);
  for (let pos = 0; pos < common; pos += CHUNK) {
    const len = Math.min(CHUNK, common - pos);
    const nA = readSync(fdA, bufA, 0, len, pos);
    const nB = readSync(fdB, bufB, 0, len, pos);
    const x = bufA.subarray(0, nA);
    const y = bufB.subarray(0, nB);
    if (nA === len && nB === len && x.equals(y)) continue;
    for (let i = 0; i < Math.min(nA, nB); i++) if (x[i] !== y[i]) return pos + i;
    return pos + Math.min(nA, nB);
  }
  return sizeA === sizeB ? -1 : common;
}

function readBlock(fd: number, offset: number): Buffer {
  const buf = Buffer.alloc(BLOCK);
  readSync(fd, buf, 0, BLOCK, offset);
  return buf;
}

function headerDifference(fdA: number, fdB: number, headerOffset: number, entry: string, offset: number): BytesDifference {
  const x = readBlock(fdA, headerOffset);
  const y = readBlock(fdB, headerOffset);
  for (const f of FIELDS_IN_ORDER) {
    if (x.subarray(f.offset, f.offset + f.length).equals(y.subarray(f.offset, f.offset + f.length))) continue;
    return { offset, entry, region: 'header', field: f.name, a: fieldText(x, f), b: fieldText(y, f) };
  }
  return { offset, entry, region: 'header', a: '', b: '' };
}

/** The extended headers (PAX `x`, GNU `L`/`K`) in [start, end): the first record that differs. */
function extendedDifference(fdA: number, fdB: number, start: number, end: number, entry: string, offset: number): BytesDifference {
  const records = (fd: number) => {
    const out = new Map<string, string>();
    for (let pos = start; pos < end; ) {
      const header = readBlock(fd, pos);
      const { typeflag: flag, size } = flagAndSize(header);
      const data = Buffer.alloc(Math.min(size, 1 << 20));
      readSync(fd, data, 0, data.length, pos + BLOCK);
      if (flag === 'x' || flag === 'g') {
        try {
          for (const [k, v] of parsePaxRecords(data)) out.set(k, v);
        } catch {
          out.set(`${flag} record`, data.toString('latin1'));
        }
      } else {
        out.set(flag === 'L' ? 'GNU long name' : flag === 'K' ? 'GNU long link' : `type ${flag}`, data.toString('latin1').replace(/\0+$/, ''));
      }
      pos += BLOCK + size + paddingFor(size);
    }
    return out;
  };
  const x = records(fdA);
  const y = records(fdB);
  for (const key of new Set([...x.keys(), ...y.keys()])) {
    if (x.get(key) === y.get(key)) continue;
    const show = (v: string | undefined) => (v === undefined ? '(none)' : JSON.stringify(display(v)));
    return { offset, entry, region: 'pax', field: key, a: show(x.get(key)), b: show(y.get(key)) };
  }
  return { offset, entry, region: 'pax', a: '', b: '' };
}

/** Name the place of `offset` in the tar structure of fd (A's, or B's when A ends first). */
function locate(fd: number, size: number, fdA: number, fdB: number, offset: number): BytesDifference {
  const reader = new PositionalReader(fd, size);
  let end = 0;
  for (const entry of tarEntries(reader, 0)) {
    const name = display(entry.name);
    if (offset < entry.headerOffset) return extendedDifference(fdA, fdB, end, entry.headerOffset, name, offset);
    if (offset < entry.dataOffset) return headerDifference(fdA, fdB, entry.headerOffset, name, offset);
    end = entry.dataOffset + entry.storedSize + paddingFor(entry.storedSize);
    if (offset < end) return { offset, entry: name, region: 'data', field: 'content', a: hexAt(fdA, offset), b: hexAt(fdB, offset), detail: `byte ${offset - entry.dataOffset} of its data` };
  }
  return { offset, region: 'end', field: 'end-of-archive', a: hexAt(fdA, offset), b: hexAt(fdB, offset), detail: `${offset - end} bytes after the last entry's data` };
}

function hexAt(fd: number, offset: number): string {
  const buf = Buffer.alloc(16);
  return buf.subarray(0, readSync(fd, buf, 0, 16, offset)).toString('hex');
}

/** Compare two uncompressed tars byte for byte. */
export function compareTarBytes(pathA: string, pathB: string): BytesResult {
  const fdA = openSync(pathA, fsc.O_RDONLY);
  const fdB = openSync(pathB, fsc.O_RDONLY);
  try {
    const sizeA = fstatSync(fdA).size;
    const sizeB = fstatSync(fdB).size;
    const offset = firstDifference(fdA, fdB, sizeA, sizeB);
    if (offset < 0) return { equal: true, sizeA, sizeB };
    if (offset < Math.min(sizeA, sizeB)) return { equal: false, sizeA, sizeB, difference: locate(fdA, sizeA, fdA, fdB, offset) };
    // One is a prefix of the other: name what the longer one goes on with.
    const longer = sizeA > sizeB ? fdA : fdB;
    const place = locate(longer, Math.max(sizeA, sizeB), fdA, fdB, offset);
    const difference: BytesDifference = { offset, region: 'end', field: 'length', a: `${sizeA} bytes`, b: `${sizeB} bytes` };
    if (place.entry !== undefined) {
      difference.entry = place.entry;
      difference.detail = `${sizeA > sizeB ? 'A' : 'B'} goes on with this entry's ${place.region}`;
    }
    return { equal: false, sizeA, sizeB, difference };
  } finally {
    closeSync(fdA);
    closeSync(fdB);
  }
}
