/**
 * Where output bytes go. Writers fill a staging buffer (headers, and file data read straight into it
 * with positional reads) and hand it over whole; while one buffer is being written the next is
 * filled, so reading and writing overlap and every byte is copied once in user space.
 */
import { write } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { LayerfoldError } from '../errors.js';
import { compressor, type Compression } from '../io/compression.js';
import { OutputFile, writeError } from '../io/output-file.js';

function writeAsync(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buffer, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

export interface ByteSink {
  /** Write the bytes; the buffer may be reused by the caller once the promise resolves. */
  write(bytes: Buffer): Promise<void>;
  /** Flush and make the output final (rename a temporary file into place). */
  finish(): Promise<void>;
  /** Drop a partial output. */
  abort(): void;
}

const ioError = writeError;

/**
 * A file (io/output-file.ts): written as `.<name>.layerfold-<pid>.tmp` beside the target and renamed
 * into place at the end; a target that exists and is not a regular file (/dev/null, a fifo, a
 * terminal) is written in place, since renaming over it would replace the device with a file.
 */
export class FileSink implements ByteSink {
  private readonly out: OutputFile;

  constructor(readonly target: string) {
    this.out = new OutputFile(target, { inPlaceIfSpecial: true });
  }

  async write(bytes: Buffer): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      try {
        off += await writeAsync(this.out.fd, bytes, off, bytes.length - off);
      } catch (e) {
        throw ioError(this.target, e);
      }
    }
  }

  async finish(): Promise<void> {
    this.out.finish();
  }

  abort(): void {
    this.out.abort();
  }
}

/** A stream (stdout, or the compressor of a CompressingSink). */
export class StreamSink implements ByteSink {
  private error: unknown;
  /** Rejecters of writes whose callback has not come yet: a failure settles them all. */
  private readonly waiting = new Set<(e: unknown) => void>();
  /** Whether each write is a copy: the stream may keep the chunk after calling back. */
  private readonly copies: boolean;
  constructor(
    private readonly stream: Writable,
    private readonly label: string,
    /** The stream is done with a chunk when it calls back (our own compressor). */
    options: { consumesBeforeCallback?: boolean } = {},
  ) {
    // A stream on a descriptor (stdout, a file) has handed the bytes to the kernel when it calls back,
    // and so has a compressor. Any other Writable (a PassThrough a library user reads) may still hold
    // the chunk itself: writing the stage that is filled next into it changed bytes already "written"
    // (seen once the output was over two stages; 1 MiB stages made that 2 MiB).
    this.copies = !options.consumesBeforeCallback && typeof (stream as { fd?: unknown }).fd !== 'number';
    stream.on('error', (e) => this.fail(e));
  }

  private asError(e: unknown): LayerfoldError {
    return e instanceof LayerfoldError ? e : ioError(this.label, e);
  }

  /**
   * Resolves once the stream has taken the bytes (its write callback), so the caller may reuse the
   * buffer without a copy; the caller's two alternating buffers still keep the stream busy.
   */
  async write(bytes: Buffer): Promise<void> {
    if (this.error) throw this.asError(this.error);
    await new Promise<void>((resolve, reject) => {
      const refuse = (e: unknown) => reject(this.asError(e));
      this.waiting.add(refuse);
      this.stream.write(this.copies ? Buffer.from(bytes) : bytes, (err) => {
        this.waiting.delete(refuse);
        if (err) refuse(err);
        else resolve();
      });
    });
  }

  /**
   * Fail every write under way and every later one with `e` (the stream's own error, or one from
   * beyond it): a stream that errors does not always call back the writes it holds.
   */
  fail(e: unknown): void {
    this.error ??= e;
    for (const refuse of this.waiting) refuse(this.error);
    this.waiting.clear();
  }

  async finish(): Promise<void> {
    if (this.error) throw this.asError(this.error);
    this.stream.end();
    try {
      await finished(this.stream);
    } catch (e) {
      throw this.asError(this.error ?? e);
    }
  }

  abort(): void {
    this.stream.destroy();
  }
}

/**
 * Compressed output: a compressor whose output is written to another sink (a FileSink renamed at the
 * end, or stdout). When that sink fails (disk full, file too large, a closed pipe) the compressor is
 * stopped and every write waiting on it fails with that sink's error — a compressor left full would
 * otherwise never call back, and the run would neither finish nor fail.
 */
export class CompressingSink implements ByteSink {
  private readonly input: StreamSink;
  private readonly compressor: Writable;
  private readonly drained: Promise<void>;

  constructor(
    kind: Exclude<Compression, 'none'>,
    private readonly output: ByteSink,
    label: string,
  ) {
    const z = compressor(kind);
    this.compressor = z;
    this.input = new StreamSink(z, label, { consumesBeforeCallback: true });
    this.drained = (async () => {
      for await (const chunk of z) await output.write(chunk as Buffer);
    })();
    this.drained.catch((e: unknown) => {
      this.input.fail(e);
      z.destroy();
    });
  }

  write(bytes: Buffer): Promise<void> {
    return this.input.write(bytes);
  }

  async finish(): Promise<void> {
    this.compressor.end();
    await this.drained;
    await this.output.finish();
  }

  abort(): void {
    this.input.abort();
    this.output.abort();
  }
}
