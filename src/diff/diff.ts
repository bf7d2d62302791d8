/**
 * `layerfold diff A B` as a library call: find what each side is (open-side.ts), read its entries
 * (a rootfs tar, a directory, an image flattened on the fly) and compare them (compare.ts) — or, with
 * `bytes`, compare the two tars byte for byte (bytes.ts; an image side is first exported to a
 * temporary tar exactly as `export` writes it). Temporary files live in one TempSpace, removed at
 * the end, on error and on a signal.
 */
import type { Readable } from 'node:stream';
import { LayerfoldError } from '../errors.js';
import { exportRootfs } from '../export.js';
import { DEFAULT_MAX_SIZE, type FlattenOptions } from '../flatten.js';
import type { Compression } from '../io/compression.js';
import { TempSpace } from '../io/temp.js';
import { compareTarBytes, type BytesResult } from './bytes.js';
import { compareSides, type CompareOptions, type DiffResult } from './compare.js';
import type { SideEntries, SideKind, SideStream } from './entries.js';
import { locateSide, readSide, streamSide, type LocatedSide, type SideOptions } from './open-side.js';

export interface DiffOptions extends CompareOptions {
  /** How image sides are flattened: image, platform, verify, dockerInit, impliedMtime, tmpDir… */
  flatten?: FlattenOptions;
  /** Compare the two archives byte for byte instead of entry by entry. */
  bytes?: boolean;
  /** Source of a side named `-` (default process.stdin). */
  stdin?: Readable;
}

export interface BytesSide {
  input: string;
  kind: SideKind;
  compression: Compression;
}

export interface BytesDiffResult extends BytesResult {
  a: BytesSide;
  b: BytesSide;
}

export type DiffOutcome = { mode: 'entries'; result: DiffResult } | { mode: 'bytes'; result: BytesDiffResult };

async function tarPathFor(side: LocatedSide, temp: TempSpace, flatten: FlattenOptions): Promise<string> {
  if (side.kind === 'directory') {
    throw new LayerfoldError('USAGE', `${side.input}: --bytes compares archives; a directory has no bytes to compare`);
  }
  if (side.kind === 'rootfs-tar') return side.path;
  const out = temp.path('export.tar');
  await exportRootfs(side.path, { ...flatten, output: out, compression: 'none' });
  return out;
}

/** Compare two root filesystems (or, with `bytes`, two tars). */
export async function diffRootfs(a: string, b: string, options: DiffOptions = {}): Promise<DiffOutcome> {
  if (a === '-' && b === '-') throw new LayerfoldError('USAGE', 'only one side can be - (stdin)');
  const flatten = options.flatten ?? {};
  const temp = TempSpace.create(flatten.tmpDir);
  try {
    // a compressed or piped side is spooled within --max-size, as an image archive is
    const sideA = await locateSide(a, temp, options.stdin, flatten.maxSize ?? DEFAULT_MAX_SIZE);
    const sideB = await locateSide(b, temp, options.stdin, flatten.maxSize ?? DEFAULT_MAX_SIZE);
    if (options.bytes) {
      const result = compareTarBytes(await tarPathFor(sideA, temp, flatten), await tarPathFor(sideB, temp, flatten));
      const summary = (s: LocatedSide): BytesSide => ({ input: s.input, kind: s.kind, compression: s.compression });
      return { mode: 'bytes', result: { ...result, a: summary(sideA), b: summary(sideB) } };
    }
    const sideOptions = { flatten, footprint: options.ignoreInit ?? false };
    const opened: SideStream[] = [];
    try {
      const [entriesA, entriesB] = await readSides(sideA, sideB, sideOptions, opened);
      return { mode: 'entries', result: await compareSides(entriesA, entriesB, options) };
    } finally {
      for (const stream of opened) stream.close();
    }
  } finally {
    temp.dispose();
  }
}

/**
 * Each side held in a list or streamed (read as it is compared). A directory streams. An image
 * streams only when it is read last, against a held side (a tar, or the first of two images): its
 * tree then goes as the comparison walks it. Against a directory it is held, its tree let go before
 * the directory is walked: a million-entry tree kept through that walk left its garbage on top of
 * the tree (420 MB, against 390 MB holding both sides in lists). A tar is held: a hard link names
 * an earlier entry, and a tar's order is only known once it is read. Held sides are read first.
 */
async function readSides(a: LocatedSide, b: LocatedSide, options: SideOptions, opened: SideStream[]): Promise<[SideEntries | SideStream, SideEntries | SideStream]> {
  const streamA = a.kind === 'directory' || (a.kind === 'image' && b.kind === 'rootfs-tar');
  const streamB = b.kind === 'directory' || (b.kind === 'image' && a.kind !== 'directory');
  const heldA = streamA ? undefined : await readSide(a, options);
  const heldB = streamB ? undefined : await readSide(b, options);
  const open = async (side: LocatedSide) => {
    const stream = await streamSide(side, options);
    opened.push(stream);
    return stream;
  };
  return [heldA ?? (await open(a)), heldB ?? (await open(b))];
}
