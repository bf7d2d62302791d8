/**
 * Make every layer readable in place, as an uncompressed tar at a known offset of an open file:
 * - an uncompressed layer member is used where it lies in the archive (nothing is copied);
 * - a gzip or zstd layer (detected by magic bytes) is decompressed once into a private temporary
 *   file, several layers at a time (p-limit, one per core).
 * While the bytes pass, their digest is checked against the config's diff_id, and a stored blob
 * against its descriptor's digest and size, each with its own algorithm (sha256 or sha512: an
 * uncompressed layer whose two digests differ in algorithm is hashed both ways in one read).
 * A mismatch names the layer and both digests.
 */
import { createHash } from 'node:crypto';
import { createReadStream, openSync, constants as fsc, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { open as fsOpen, read as fsRead } from 'node:fs';
import pLimit from 'p-limit';
import { LayerfoldError } from '../errors.js';
import { decompressor, detectCompression, type Compression } from '../io/compression.js';
import type { TempSpace } from '../io/temp.js';
import { hashInline, placeHashes, type HashPool } from '../io/hash-pool.js';
import { algorithmOf } from './digest.js';
import { reportWork } from '../tree/apply.js';
import type { LayerRef, OpenedImage, UnpackProgress } from './image-support.js';
import type { UnpackedBlob } from './source.js';
import { writeFileFrom } from '../io/file-sink.js';

export interface LayerData {
  index: number;
  fd: number;
  /** Offset of the layer's first byte in fd. */
  base: number;
  /** Uncompressed size. */
  size: number;
  /** The member it came from, for messages. */
  label: string;
  compression: Compression;
  diffId: string;
  storedSize: number;
  /**
   * Settles when the layer's digests have been checked (rejects with DIGEST_MISMATCH). Uncompressed
   * layers are hashed on worker threads while the caller goes on; compressed ones were checked as
   * they were decompressed.
   */
  verified: Promise<void>;
}

export interface PrepareOptions {
  verify?: boolean;
  /**
   * Where uncompressed layers are hashed when they are worth a worker (io/hash-pool.ts,
   * placeHashes); otherwise, and by default, inline, before returning.
   */
  hashPool?: HashPool;
  /** Layer bytes to hash up to which the pool is not used (default INLINE_TOTAL; tests lower it). */
  inlineTotal?: number;
  concurrency?: number;
  /** Refuse layers whose uncompressed bytes add up to more than this. */
  maxSize?: number;
  /** Compressed bytes read so far, of all compressed layers together. */
  onUnpack?: UnpackProgress;
}

function describe(ref: LayerRef): string {
  return `layer ${ref.index} (${ref.blob.label})`;
}

function head(ref: LayerRef): Buffer {
  const buf = Buffer.alloc(Math.min(4, ref.blob.size));
  if (buf.length) readSync(ref.blob.fd, buf, 0, buf.length, ref.blob.offset);
  return buf;
}

function mismatch(ref: LayerRef, what: string, actual: string, expected: string): LayerfoldError {
  return new LayerfoldError('DIGEST_MISMATCH', `${describe(ref)}: ${what} is ${actual}, but ${expected} (use --no-verify to skip checks)`);
}

function checkSize(ref: LayerRef): void {
  if (ref.blobSize !== undefined && ref.blobSize !== ref.blob.size) {
    throw new LayerfoldError('DIGEST_MISMATCH', `${describe(ref)}: blob is ${ref.blob.size} bytes, but its descriptor says ${ref.blobSize}`);
  }
}

/** `stored` is the stored blob's digest in ref.blobDigest's algorithm (when the layout names one). */
function checkStored(ref: LayerRef, stored: string | undefined): void {
  checkSize(ref);
  if (stored !== undefined && ref.blobDigest !== undefined && ref.blobDigest !== stored) {
    throw mismatch(ref, 'the stored blob', stored, `its descriptor names ${ref.blobDigest}`);
  }
}

/**
 * The blob's bytes, read from an fd the source owns. `autoClose: false` is not enough: a ReadStream
 * destroyed mid-way (a corrupt layer, a limit) still closes its fd, and the archive's fd number could
 * then be reused and closed twice — hence a close that does nothing.
 */
function rangeStream(ref: LayerRef) {
  return createReadStream('', {
    fd: ref.blob.fd,
    start: ref.blob.offset,
    end: ref.blob.offset + ref.blob.size - 1,
    autoClose: false,
    highWaterMark: 1 << 20,
    fs: { open: fsOpen, read: fsRead, close: (_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => cb(null) },
  });
}

/** --max-size over uncompressed layer bytes, counted before they are written (a registry pull shares it). */
export class SizeBudget {
  used = 0;
  constructor(readonly max: number) {}
  add(n: number, what: string): void {
    this.used += n;
    if (this.used > this.max) {
      throw new LayerfoldError('LIMIT', `${what}: the layers unpack to more than ${this.max} bytes (--max-size)`);
    }
  }
}

/**
 * What a layer's check hashes from its file, in which algorithms, or undefined when nothing is:
 * a stored tar is hashed for its diff_id and its blob digest (one read when both are in one
 * algorithm); a pulled layer only when its diff_id is in another algorithm than the pull's sha256
 * (pull.ts took that one on the way); a compressed layer never (hashed as it is decompressed).
 * The one rule of which layers are hashed here: prepareLayers sizes the run's hashing by it (where
 * it runs: io/hash-pool.ts, placeHashes) and the checks below take their digests from it.
 */
function algorithmsToHash(ref: LayerRef, kind: Compression): string[] | undefined {
  const diffAlg = algorithmOf(ref.diffId);
  const unpacked = ref.blob.unpacked;
  if (unpacked) return algorithmOf(unpacked.layerDigest) === diffAlg ? undefined : [diffAlg];
  if (kind !== 'none') return undefined;
  const blobAlg = ref.blobDigest !== undefined ? algorithmOf(ref.blobDigest) : diffAlg;
  return blobAlg === diffAlg ? [diffAlg] : [diffAlg, blobAlg];
}

/** A layer's hashing under way: its algorithms (algorithmsToHash), their hex digests to come, and whether a worker has it. */
interface Hashing {
  algorithms: string[];
  hex: Promise<string[]>;
  onWorker: boolean;
}

async function prepareUncompressed(ref: LayerRef, budget: SizeBudget, hashing: Hashing | undefined): Promise<LayerData> {
  budget.add(ref.blob.size, describe(ref));
  let verified: Promise<void> = Promise.resolve();
  if (hashing) {
    // the stored bytes are the layer: one read checks the blob digest and the diff_id, in their algorithms
    const { algorithms } = hashing;
    const diffAlg = algorithms[0]!;
    const blobAlg = algorithms[1] ?? diffAlg;
    verified = hashing.hex.then(
      (hex) => {
        checkStored(ref, `${blobAlg}:${hex[algorithms.indexOf(blobAlg)]}`);
        const layer = `${diffAlg}:${hex[0]}`;
        if (layer !== ref.diffId) throw mismatch(ref, 'the layer', layer, `the config's diff_id is ${ref.diffId}`);
      },
      (e: Error) => {
        throw new LayerfoldError('IO', `${describe(ref)}: cannot read it to check its digest: ${e.message}`);
      },
    );
    if (!hashing.onWorker) await verified;
    verified.catch(() => undefined); // awaited by the caller; never an unhandled rejection
  }
  return {
    index: ref.index,
    fd: ref.blob.fd,
    base: ref.blob.offset,
    size: ref.blob.size,
    label: ref.blob.label,
    compression: 'none',
    diffId: ref.diffId,
    storedSize: ref.blob.size,
    verified,
  };
}

/**
 * A layer a registry pull unpacked as it arrived: its digests were taken on the way (pull.ts), so
 * the checks here are comparisons — the same checks, with the same messages, as for a stored blob —
 * except a diff_id in another algorithm than the pull's sha256, which is hashed from the unpacked file.
 */
function prepareUnpacked(ref: LayerRef, unpacked: UnpackedBlob, verify: boolean, budget: SizeBudget, hashing: Hashing | undefined): LayerData {
  budget.add(ref.blob.size, describe(ref));
  let verified: Promise<void> = Promise.resolve();
  if (verify) {
    if (ref.blobSize !== undefined && ref.blobSize !== unpacked.storedSize) {
      throw new LayerfoldError('DIGEST_MISMATCH', `${describe(ref)}: blob is ${unpacked.storedSize} bytes, but its descriptor says ${ref.blobSize}`);
    }
    if (ref.blobDigest !== undefined && ref.blobDigest !== unpacked.storedDigest) throw mismatch(ref, 'the stored blob', unpacked.storedDigest, `its descriptor names ${ref.blobDigest}`);
    const check = (layer: string): void => {
      if (layer !== ref.diffId) throw mismatch(ref, 'the uncompressed layer', layer, `the config's diff_id is ${ref.diffId}`);
    };
    if (!hashing) check(unpacked.layerDigest); // in the pull's algorithm (algorithmsToHash)
    else {
      verified = hashing.hex.then((hex) => check(`${hashing.algorithms[0]}:${hex[0]}`));
      verified.catch(() => undefined); // awaited by the caller; never an unhandled rejection
    }
  }
  return { index: ref.index, fd: ref.blob.fd, base: ref.blob.offset, size: ref.blob.size, label: ref.blob.label, compression: unpacked.compression, diffId: ref.diffId, storedSize: unpacked.storedSize, verified };
}

/** Counts compressed bytes across the layers decompressed at once, for one progress figure. */
class ReadCounter {
  private read = 0;
  constructor(
    private readonly total: number,
    private readonly report: UnpackProgress | undefined,
  ) {}
  add(n: number): void {
    this.read += n;
    this.report?.('layers', this.read, this.total);
  }
}

async function prepareCompressed(ref: LayerRef, kind: Exclude<Compression, 'none'>, temp: TempSpace, verify: boolean, budget: SizeBudget, counter: ReadCounter): Promise<LayerData> {
  const path = temp.path(`layer-${ref.index}.tar`);
  const storedAlg = ref.blobDigest !== undefined ? algorithmOf(ref.blobDigest) : undefined;
  const stored = storedAlg !== undefined ? createHash(storedAlg) : undefined;
  const unpacked = createHash(algorithmOf(ref.diffId));
  let size = 0;
  try {
    // the file is closed before this settles: a corrupt layer's caller removes the TempSpace next
    await writeFileFrom(path, (file) =>
      pipeline(
        rangeStream(ref),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            if (verify) stored?.update(chunk);
            counter.add(chunk.length);
            yield chunk;
          }
        },
        decompressor(kind),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            budget.add(chunk.length, describe(ref));
            if (verify) unpacked.update(chunk);
            yield chunk;
          }
        },
        file,
      ),
    );
  } catch (e) {
    if (e instanceof LayerfoldError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOSPC' || err.code === 'EACCES' || err.code === 'EROFS') {
      throw new LayerfoldError('IO', `${describe(ref)}: cannot spool the decompressed layer to ${temp.dir}: ${err.message}`);
    }
    throw new LayerfoldError('BAD_LAYER', `${describe(ref)}: corrupt ${kind} data: ${err.message}`);
  }
  if (verify) {
    checkStored(ref, stored && `${storedAlg}:${stored.digest('hex')}`);
    const layer = `${algorithmOf(ref.diffId)}:${unpacked.digest('hex')}`;
    if (layer !== ref.diffId) throw mismatch(ref, 'the uncompressed layer', layer, `the config's diff_id is ${ref.diffId}`);
  }
  const fd = openSync(path, fsc.O_RDONLY);
  temp.adoptFd(fd); // closed with the temp space (FlattenedImage.close, an error, a signal)
  return { index: ref.index, fd, base: 0, size, label: ref.blob.label, compression: kind, diffId: ref.diffId, storedSize: ref.blob.size, verified: Promise.resolve() };
}

export async function prepareLayers(image: OpenedImage, temp: TempSpace, options: PrepareOptions = {}): Promise<LayerData[]> {
  const verify = options.verify ?? true;
  // rejectOnClear: layers still queued when one fails settle (rejected) rather than never, which
  // would leave the wait below pending and the process to exit 13 with nothing said.
  const limit = pLimit({ concurrency: options.concurrency ?? Math.max(1, availableParallelism()), rejectOnClear: true });
  const budget = new SizeBudget(options.maxSize ?? Number.MAX_SAFE_INTEGER);
  // A blob listed again (same bytes, same digests to meet) is read, hashed and decompressed once; the
  // listings share its file and each keeps its own index (tree nodes name their layer by index).
  const firsts = new Map<string, number>();
  const firstOf = image.layers.map((ref, i) => {
    const key = [ref.blob.fd, ref.blob.offset, ref.blob.size, ref.diffId, ref.blobDigest ?? '', ref.blobSize ?? ''].join(' ');
    const first = firsts.get(key) ?? i;
    firsts.set(key, first);
    return first;
  });
  // an unpacked blob's bytes are already the layer (its compression is only reported)
  const kinds = image.layers.map((ref, i) => (firstOf[i] === i && !ref.blob.unpacked ? detectCompression(head(ref)) : 'none'));
  const compressedBytes = image.layers.reduce((sum, ref, i) => (kinds[i] === 'none' ? sum : sum + ref.blob.size), 0);
  const counter = new ReadCounter(compressedBytes, compressedBytes > 0 ? options.onUnpack : undefined);
  const toHash = image.layers.map((ref, i) => (verify && firstOf[i] === i ? algorithmsToHash(ref, kinds[i]!) : undefined));
  const onWorker = placeHashes(image.layers.map((ref, i) => (toHash[i] ? ref.blob.size : 0)), options.hashPool ? options.inlineTotal : Infinity);
  const hashingOf = (ref: LayerRef, i: number): Hashing | undefined => {
    const algorithms = toHash[i];
    if (!algorithms) return undefined;
    const { fd, offset, size } = ref.blob;
    const worker = onWorker[i]! && options.hashPool;
    const hex = worker ? worker.hash(fd, offset, size, algorithms) : new Promise<string[]>((resolve) => resolve(hashInline(fd, offset, size, algorithms)));
    return { algorithms, hex, onWorker: !!worker };
  };
  // a big image gets TurboFan before its layers are decompressed and hashed (cli/tiering.ts)
  reportWork({ bytes: image.layers.reduce((sum, ref, i) => (firstOf[i] === i ? sum + ref.blob.size : sum), 0) });
  const tasks: Array<Promise<LayerData>> = [];
  image.layers.forEach((ref, i) => {
    const first = firstOf[i]!;
    if (first !== i) {
      // the size budget counts every listing: a layer applied twice is unpacked twice by docker
      tasks.push(tasks[first]!.then((data) => (budget.add(data.size, describe(ref)), { ...data, index: ref.index })));
      return;
    }
    const kind = kinds[i]!;
    const unpacked = ref.blob.unpacked;
    if (unpacked) {
      tasks.push(limit(async () => prepareUnpacked(ref, unpacked, verify, budget, hashingOf(ref, i))));
      return;
    }
    tasks.push(limit(() => (kind === 'none' ? prepareUncompressed(ref, budget, hashingOf(ref, i)) : prepareCompressed(ref, kind, temp, verify, budget, counter))));
  });
  try {
    return await Promise.all(tasks);
  } catch (e) {
    // One layer failed: start no other, and let those under way end before the caller cleans up.
    limit.clearQueue();
    await Promise.allSettled(tasks);
    throw e;
  }
}
