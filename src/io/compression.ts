/**
 * Compression is recognised by magic bytes, never by names or media types, since saves in the wild
 * mislabel both. gzip uses Node's zlib with 1 MiB chunks (2x the throughput of the 16 KiB default,
 * tar-libraries.md).
 *
 * zstd has one code path over two decoders: `node:zlib` where Node has zstd (22.15+, 24), else the
 * `zstd-napi` addon (an optional peer dependency, for Node 20: `npm install zstd-napi`; nothing is
 * compiled on a Node that has zstd). Above either decoder:
 *  - Each frame's header is read before its bytes reach the decoder (`ZstdFrames`): a frame whose
 *    window is past 512 MiB is refused as docker refuses it (klauspost/compress's default maximum,
 *    which moby and containerd use), and both decoders are told the same (windowLogMax 29).
 *  - The decoders' windows are bounded in total, not by count (`WindowBudget`): a stream waits until
 *    its frame's window fits in 128 MiB beside the others being decoded (one stream alone always may),
 *    so N layers decoded at once never hold N x 128 MiB (issue 20: 370 MB from a 20 KB archive).
 *  - Output waits for the reader: node:zlib honours backpressure within a chunk; zstd-napi's
 *    DecompressStream does not (a zstd bomb would inflate in memory), so its DCtx is driven one
 *    output buffer at a time.
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import * as stream from 'node:stream';
import { Duplex, Readable, type Transform } from 'node:stream';
import { LayerfoldError } from '../errors.js';

export type Compression = 'none' | 'gzip' | 'zstd';

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  // a zstd skippable frame (magic 0x184D2A50–5F) may come first; moby's detection takes it as zstd
  if (head.length >= 4 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return 'zstd';
  return 'none';
}

export function decompressor(kind: Exclude<Compression, 'none'>): Transform {
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize: 1 << 20 });
  return zstdDecompressor();
}

export function compressor(kind: Exclude<Compression, 'none'>): Transform {
  if (kind === 'gzip') return zlib.createGzip({ chunkSize: 1 << 20 });
  const backend = zstdBackend();
  if (backend === 'node:zlib') return nodeZstd().createZstdCompress({ chunkSize: 1 << 20 });
  return new (zstdNapi().CompressStream)() as unknown as Transform;
}

/** `.tar.gz`, `.tgz`, `.tar.zst`, `.tzst` output names ask for compression. */
export function compressionForName(name: string): Compression {
  if (/\.(tar\.gz|tgz)$/i.test(name)) return 'gzip';
  if (/\.(tar\.zst|tar\.zstd|tzst)$/i.test(name)) return 'zstd';
  return 'none';
}

// ---- which zstd ----------------------------------------------------------------------------

/** docker's limit: klauspost/compress refuses a frame whose Window_Descriptor is past 512 MiB. */
export const ZSTD_MAX_WINDOW = 512 * 1024 * 1024;
const ZSTD_WINDOW_LOG_MAX = 29;
/** Window bytes all zstd streams decoded at once may hold together (one alone may hold more). */
export const ZSTD_WINDOW_BUDGET = 128 * 1024 * 1024;

export type ZstdBackend = 'node:zlib' | 'zstd-napi';

/** What of node:zlib's zstd (Node 22.15+) is used; @types/node 20 does not declare it. */
interface NodeZstd {
  createZstdDecompress(options: { chunkSize?: number; params?: Record<number, number> }): Transform;
  createZstdCompress(options: { chunkSize?: number }): Transform;
  zstdCompressSync(data: Buffer): Buffer;
  zstdDecompressSync(data: Buffer): Buffer;
  constants: { ZSTD_d_windowLogMax: number };
}

/** What of zstd-napi is used. */
interface ZstdNapi {
  CompressStream: new () => Duplex;
  compress(data: Buffer): Buffer;
  decompress(data: Buffer): Buffer;
}
interface ZstdNapiBinding {
  DCtx: new () => { decompressStream(dst: Buffer, src: Buffer): [ret: number, produced: number, consumed: number]; setParameter(p: number, v: number): void };
  dStreamOutSize(): number;
  DParameter: { windowLogMax: number };
}

const nodeZstd = (): NodeZstd => zlib as unknown as NodeZstd;
const nodeHasZstd = typeof (zlib as unknown as Partial<NodeZstd>).createZstdDecompress === 'function';
const requireHere = createRequire(import.meta.url);
let forced: ZstdBackend | undefined;

function zstdNapi(): ZstdNapi {
  try {
    return requireHere('zstd-napi') as ZstdNapi;
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    throw new LayerfoldError('UNSUPPORTED', `zstd needs Node.js 22.15 or later, or the zstd-napi package on Node.js ${process.version} (npm install zstd-napi): ${why}`);
  }
}

/** The decoder in use: node:zlib where Node has zstd, else zstd-napi. */
export function zstdBackend(): ZstdBackend {
  return forced ?? (nodeHasZstd ? 'node:zlib' : 'zstd-napi');
}

/** Whether zstd-napi can be loaded here (tests run the addon path where it can). */
export function zstdNapiAvailable(): boolean {
  try {
    requireHere.resolve('zstd-napi');
    return true;
  } catch {
    return false;
  }
}

/** Tests: force one backend, or `undefined` for the default. */
export function useZstdBackend(backend: ZstdBackend | undefined): void {
  if (backend === 'node:zlib' && !nodeHasZstd) throw new Error(`node:zlib has no zstd on Node.js ${process.version}`);
  forced = backend;
}

/** Whole-buffer zstd at its default level (3), through the backend in use (squashfs blocks, tests, scripts). */
export const zstdSync = {
  compress: (data: Buffer): Buffer => (zstdBackend() === 'node:zlib' ? nodeZstd().zstdCompressSync(data) : zstdNapi().compress(data)),
  decompress: (data: Buffer): Buffer => (zstdBackend() === 'node:zlib' ? nodeZstd().zstdDecompressSync(data) : zstdNapi().decompress(data)),
};

// ---- decoding ------------------------------------------------------------------------------

function zstdDecompressor(): Transform {
  const reservation = new WindowReservation(windowBudget);
  const backend = zstdBackend();
  const decode = Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const frames = admitted(source, reservation);
    yield* backend === 'node:zlib' ? zlibDecode(frames) : napiDecode(bytesOf(frames));
  }) as unknown as Transform;
  decode.once('close', () => reservation.release());
  return decode;
}

/** The bytes of zstd frames, each frame's first piece only once its window is granted; skippable frames dropped. */
async function* admitted(source: AsyncIterable<Buffer>, reservation: WindowReservation): AsyncGenerator<FramePiece> {
  const frames = new ZstdFrames();
  for await (const chunk of source) {
    for (const piece of frames.pieces(chunk)) {
      if (piece.kind === 'skip') continue;
      if (piece.window !== undefined) await reservation.grow(piece.window);
      yield piece;
    }
  }
  frames.end();
}

async function* bytesOf(pieces: AsyncIterable<FramePiece>): AsyncGenerator<Buffer> {
  for await (const piece of pieces) yield piece.bytes;
}

/**
 * node:zlib's zstd stops at the end of the first frame and drops the rest without a word (Node 22,
 * 24), while docker reads every frame of a layer (zstd:chunked layers have many): so one decoder per
 * frame, each fed exactly its frame's bytes.
 */
async function* zlibDecode(pieces: AsyncIterable<FramePiece>): AsyncGenerator<Buffer> {
  const it = pieces[Symbol.asyncIterator]();
  let next = await it.next();
  while (!next.done) {
    const first = next.value;
    const frame = async function* (): AsyncGenerator<Buffer> {
      yield first.bytes;
      for (;;) {
        next = await it.next();
        if (next.done || next.value.kind === 'start') return;
        yield next.value.bytes;
      }
    };
    const z = nodeZstd().createZstdDecompress({ chunkSize: 1 << 20, params: { [nodeZstd().constants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX } });
    stream.pipeline(Readable.from(frame()), z, () => undefined); // an error reaches z, and so this loop
    for await (const out of z) yield out as Buffer;
  }
}

/**
 * zstd-napi's DCtx, waiting for the reader after each output buffer: its DecompressStream decodes a
 * whole input chunk before it returns, ignoring backpressure, and zstd RLE blocks reach ratios past
 * 40000:1 — so 1 MiB of input could become gigabytes in memory (a zstd bomb).
 */
async function* napiDecode(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  zstdNapi();
  const binding = requireHere('zstd-napi/binding.js') as ZstdNapiBinding;
  const dctx = new binding.DCtx();
  dctx.setParameter(binding.DParameter.windowLogMax, ZSTD_WINDOW_LOG_MAX);
  const size = binding.dStreamOutSize();
  for await (const chunk of source) {
    let src: Buffer = chunk;
    for (;;) {
      const dst = Buffer.allocUnsafe(size);
      const [ret, produced, consumed] = dctx.decompressStream(dst, src);
      src = src.subarray(consumed);
      if (produced > 0) yield dst.subarray(0, produced);
      if (src.length === 0 && (produced < dst.length || ret === 0)) break;
    }
  }
}

const MiB = 1024 * 1024;
const sizeText = (n: number): string => (n >= MiB ? `${+(n / MiB).toFixed(1)} MiB` : `${n} bytes`);

/** Bytes of a zstd stream: the first piece of a frame (with its window), more of it, or a skippable frame. */
export interface FramePiece {
  bytes: Buffer;
  kind: 'start' | 'more' | 'skip';
  window?: number;
}

function piece(bytes: Buffer, kind: FramePiece['kind'], window: number | undefined): FramePiece {
  return window === undefined ? { bytes, kind } : { bytes, kind, window };
}

/**
 * Frame boundaries in a zstd stream, from the compressed bytes alone (RFC 8878: frame header, then
 * blocks of 3-byte headers, then an optional 4-byte checksum; skippable frames by their size). Splits
 * input so that each frame's first bytes come with its window size, before the decoder sees them.
 */
export class ZstdFrames {
  private carry: Buffer = Buffer.alloc(0);
  private state: 'frame' | 'block' | 'checksum' = 'frame';
  private skip = 0;
  private after: 'frame' | 'block' | 'checksum' = 'frame';
  private checksum = false;
  /** Offset in the stream of the first byte of the current buffer. */
  private base = 0;
  /** What the bytes after the last header belong to. */
  private region: 'more' | 'skip' = 'more';

  *pieces(chunk: Buffer): Generator<FramePiece> {
    const buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    let start = 0;
    let i = 0;
    let kind: FramePiece['kind'] = this.region;
    let window: number | undefined;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length - i);
        i += n;
        this.skip -= n;
        if (this.skip > 0) break;
        this.state = this.after;
        continue;
      }
      if (this.state === 'checksum') {
        [this.skip, this.after] = [4, 'frame'];
        continue;
      }
      if (this.state === 'block') {
        if (buf.length - i < 3) break;
        const h = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16);
        const type = (h >> 1) & 3;
        if (type === 3) throw new Error(`zstd block at byte ${this.base + i} has the reserved block type`);
        i += 3;
        this.skip = type === 1 ? 1 : h >>> 3;
        this.after = (h & 1) === 0 ? 'block' : this.checksum ? 'checksum' : 'frame';
        if (this.skip === 0) this.state = this.after;
        continue;
      }
      if (i === buf.length) break;
      const header = this.frameHeader(buf, i);
      if (header === undefined) break; // the rest of the header is in the next chunk
      if (i > start) yield piece(buf.subarray(start, i), kind, window);
      [start, window] = [i, header.window];
      kind = header.window === undefined ? 'skip' : 'start';
      this.region = header.window === undefined ? 'skip' : 'more';
      i += header.length;
    }
    this.carry = Buffer.from(buf.subarray(i));
    this.base += i;
    if (i > start) yield piece(buf.subarray(start, i), kind, window);
  }

  /** The stream ended: it must end between frames. */
  end(): void {
    if (this.state !== 'frame' || this.skip > 0 || this.carry.length > 0) throw new Error('the stream ends in the middle of a zstd frame');
  }

  /** A frame's header at `i`: its length and (zstd frames) window size; undefined when incomplete. */
  private frameHeader(buf: Buffer, i: number): { length: number; window?: number } | undefined {
    if (buf.length - i < 4) return undefined;
    const magic = buf.readUInt32LE(i);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (buf.length - i < 8) return undefined;
      [this.skip, this.after] = [buf.readUInt32LE(i + 4), 'frame'];
      return { length: 8 };
    }
    if (magic !== 0xfd2fb528) throw new Error(`no zstd frame at byte ${this.base + i} (magic 0x${magic.toString(16).padStart(8, '0')})`);
    if (buf.length - i < 5) return undefined;
    const fhd = buf[i + 4]!;
    const single = (fhd & 0x20) !== 0;
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    const fcsBytes = [single ? 1 : 0, 2, 4, 8][fhd >> 6]!;
    const length = 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
    if (buf.length - i < length) return undefined;
    let window: number;
    if (!single) {
      const wd = buf[i + 5]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    } else {
      const at = i + 5 + dictBytes;
      window = fcsBytes === 1 ? buf[at]! : fcsBytes === 2 ? buf.readUInt16LE(at) + 256 : fcsBytes === 4 ? buf.readUInt32LE(at) : Number(buf.readBigUInt64LE(at));
    }
    if (window > ZSTD_MAX_WINDOW) {
      throw new Error(`the zstd frame at byte ${this.base + i} needs a ${sizeText(window)} window; docker's decoder refuses windows past 512 MiB`);
    }
    this.checksum = (fhd & 4) !== 0;
    this.state = 'block';
    return { length, window };
  }
}

/** Window bytes shared by every zstd stream being decoded, granted first come, first served. */
class WindowBudget {
  private held = 0;
  private holders = 0;
  private readonly queue: Array<{ size: number; grant: () => void }> = [];

  constructor(private readonly total: number) {}

  acquire(size: number): Promise<void> {
    if (this.queue.length === 0 && this.fits(size)) {
      this.take(size);
      return Promise.resolve();
    }
    return new Promise((grant) => this.queue.push({ size, grant }));
  }

  release(size: number): void {
    this.held -= size;
    this.holders--;
    while (this.queue.length > 0 && this.fits(this.queue[0]!.size)) {
      const next = this.queue.shift()!;
      this.take(next.size);
      next.grant();
    }
  }

  private fits(size: number): boolean {
    return this.holders === 0 || this.held + size <= this.total;
  }

  private take(size: number): void {
    this.held += size;
    this.holders++;
  }
}

const windowBudget = new WindowBudget(ZSTD_WINDOW_BUDGET);

/**
 * One stream's share of the budget: the largest window it has needed so far. A larger one is asked
 * for afresh (the decoder frees the old window when it allocates the larger), which cannot deadlock:
 * a stream waiting holds nothing.
 */
class WindowReservation {
  private size = 0;
  private closed = false;

  constructor(private readonly budget: WindowBudget) {}

  async grow(window: number): Promise<void> {
    if (window <= this.size || this.closed) return;
    if (this.size > 0) this.budget.release(this.size);
    this.size = 0;
    await this.budget.acquire(window);
    if (this.closed) this.budget.release(window);
    else this.size = window;
  }

  release(): void {
    this.closed = true;
    if (this.size > 0) this.budget.release(this.size);
    this.size = 0;
  }
}
