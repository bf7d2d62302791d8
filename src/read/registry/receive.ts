/**
 * One blob's bytes from the socket to the disk, once. Every byte is counted against the descriptor's
 * size (never read past it) and hashed with its digest's algorithm as it passes. A layer blob whose
 * first bytes say gzip or zstd is unpacked as it arrives — the decoder runs on libuv's thread pool, so
 * layers downloaded at once decompress on every core — straight into the uncompressed file the layer
 * reader uses: the compressed bytes are neither written nor read back nor hashed a second time.
 * The uncompressed bytes are hashed on the way (sha256, the diff_id's usual algorithm) and counted
 * against --max-size before each is written, so a gzip bomb leaves no more than the limit on disk.
 *
 * The digest decides first: when the decoder fails (corrupt data), the rest of the body is still
 * read and hashed, so bytes tampered with on the way are DIGEST_MISMATCH, and a blob that is what
 * the manifest names but does not decompress is BAD_LAYER, as it is from an archive on disk.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LayerfoldError } from '../../errors.js';
import { decompressor, detectCompression } from '../../io/compression.js';
import { writeFileFrom } from '../../io/file-sink.js';
import type { DigestAlgorithm } from '../digest.js';
import type { SizeBudget } from '../layers.js';
import type { Descriptor } from '../oci.js';
import type { UnpackedBlob } from '../source.js';

export interface Receiving {
  d: Descriptor;
  algorithm: DigestAlgorithm;
  /** `docker://…: layer 3 (sha256:…)`, first in every message. */
  where: string;
  /** Where the blob goes as stored (renamed into place by the caller once it is verified). */
  storedPath: string;
  /** Unpack a compressed blob into this file instead (layers only), within the budget. */
  unpack?: { path: string; budget: SizeBudget };
  /** Compressed bytes received, as they arrive. */
  onBytes?: (n: number) => void;
  signal: AbortSignal;
}

/** What arrived: the stored bytes' digest, and when the blob was unpacked, what it became. */
export interface Received {
  digest: string;
  unpacked?: UnpackedBlob;
}

/** The body's bytes, each counted against the descriptor and hashed; the far end never gets to send more. */
async function* checked(body: AsyncIterable<Buffer>, r: Receiving, hash: Hash, count: { size: number }): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    count.size += chunk.length;
    if (count.size > r.d.size) throw new LayerfoldError('DIGEST_MISMATCH', `${r.where}: more than the ${r.d.size} bytes its descriptor says`);
    hash.update(chunk);
    r.onBytes?.(chunk.length);
    yield chunk;
  }
}

/** The first chunks, until the 4 bytes that say gzip or zstd are in (or the body ended). */
async function peek(source: AsyncGenerator<Buffer>): Promise<Buffer[]> {
  const head: Buffer[] = [];
  for (let n = 0; n < 4; ) {
    const next = await source.next();
    if (next.done) break;
    head.push(next.value);
    n += next.value.length;
  }
  return head;
}

async function* replay(head: Buffer[], rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  yield* rest;
}

/** Stream `body` (a blob response) to disk as `r` says; checks the size and digest, throws on a mismatch. */
export async function receiveBlob(body: Readable, r: Receiving): Promise<Received> {
  const hash = createHash(r.algorithm);
  const count = { size: 0 };
  const source = checked(body, r, hash, count);
  const abort = () => body.destroy(r.signal.reason as Error);
  // a response that arrived after the pull was stopped is not read (an 'abort' listener added now never fires)
  if (r.signal.aborted) {
    abort();
    throw r.signal.reason;
  }
  r.signal.addEventListener('abort', abort, { once: true });
  try {
    const head = await peek(source);
    const kind = r.unpack ? detectCompression(Buffer.concat(head)) : 'none';
    let unpacked: { size: number; digest: string; failure?: unknown } | undefined;
    if (kind === 'none') await writeFileFrom(r.storedPath, (file) => pipeline(Readable.from(replay(head, source)), file));
    else unpacked = await unpackWhileReceiving(replay(head, source), decompressor(kind), r);
    if (count.size !== r.d.size) throw new LayerfoldError('DIGEST_MISMATCH', `${r.where}: ${count.size} bytes, but its descriptor says ${r.d.size}`);
    const digest = `${r.algorithm}:${hash.digest('hex')}`;
    if (digest !== r.d.digest) throw new LayerfoldError('DIGEST_MISMATCH', `${r.where}: content is ${digest}, but the manifest names ${r.d.digest}`);
    if (kind === 'none' || !unpacked) return { digest };
    if (unpacked.failure !== undefined) throw unpackError(unpacked.failure, kind, r);
    return { digest, unpacked: { compression: kind, storedSize: count.size, storedDigest: digest, layerDigest: unpacked.digest } };
  } finally {
    r.signal.removeEventListener('abort', abort);
  }
}

/** Failures of the writing side that end the transfer at once (the rest are the data's, judged after the digest). */
function isFatal(e: unknown): boolean {
  if (e instanceof LayerfoldError) return true;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' || code === 'EDQUOT' || code === 'ABORT_ERR';
}

function unpackError(e: unknown, kind: string, r: Receiving): Error {
  if (e instanceof LayerfoldError) return e;
  const err = e as NodeJS.ErrnoException;
  if (isFatal(e)) return new LayerfoldError('IO', `${r.where}: cannot spool the decompressed layer: ${err.message}`);
  return new LayerfoldError('BAD_LAYER', `${r.where}: corrupt ${kind} data: ${err.message}`);
}

/**
 * Feed the compressed bytes to the decoder while its output goes, counted and hashed, to the unpack
 * file. Resolves once the body has been read to its end; `failure` is why the decoder side stopped.
 */
async function unpackWhileReceiving(compressed: AsyncGenerator<Buffer>, z: Transform, r: Receiving): Promise<{ size: number; digest: string; failure?: unknown }> {
  const { path, budget } = r.unpack!;
  const layer = createHash('sha256');
  let size = 0;
  let failure: unknown;
  const counted = async function* (out: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of out) {
      size += chunk.length;
      budget.add(chunk.length, r.where); // before the write: never more than the limit on disk
      layer.update(chunk);
      yield chunk;
    }
  };
  const writing = writeFileFrom(path, (file) => pipeline(z, counted, file, { signal: r.signal })).catch((e: unknown) => {
    failure ??= e;
  });
  try {
    for await (const chunk of compressed) {
      if (failure !== undefined && isFatal(failure)) throw unpackError(failure, 'compressed', r);
      if (failure !== undefined || z.destroyed) continue; // go on hashing: the digest says whether the bytes were tampered with
      if (!z.write(chunk)) await Promise.race([once(z, 'drain').catch(() => undefined), writing]);
    }
    if (failure === undefined && !z.destroyed) z.end();
    await writing;
    if (failure !== undefined && isFatal(failure)) throw unpackError(failure, 'compressed', r);
  } catch (e) {
    budget.used -= size; // an attempt that failed gives its bytes back: a retry writes them again
    throw e;
  } finally {
    if (!z.destroyed) z.destroy();
    await writing;
  }
  if (failure !== undefined) budget.used -= size;
  return failure !== undefined ? { size, digest: '', failure } : { size, digest: `sha256:${layer.digest('hex')}` };
}
