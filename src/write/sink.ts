/**
 * Where output bytes go. Writers fill a staging buffer (headers, and file data read straight into it
 * with positional reads) and hand it over whole; while one buffer is being written the next is
 * filled, so reading and writing overlap and every byte is copied once in user space.
 */
import { closeSync, openSync, renameSync, rmSync, statSync, write, constants as fsc } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { LayerfoldError } from '../errors.js';
import { compressor, type Compression } from '../io/compression.js';
import { onCleanup } from '../io/cleanup.js';

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

function ioError(target: string, e: unknown): LayerfoldError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on device' : err.code === 'EACCES' ? 'permission denied' : err.message;
  return new LayerfoldError('IO', `${target}: cannot write: ${why}`, { cause: e });
}

/**
 * A file written as `.<name>.layerfold-<pid>.tmp` beside the target and renamed into place at the
 * end, so that an error or a signal never leaves a partial output under the real name. A target that
 * exists and is not a regular file (/dev/null, a fifo, a terminal) is written in place: renaming over
 * it would replace the device with a file.
 */
let tempCounter = 0;

export class FileSink implements ByteSink {
  private readonly fd: number;
  private readonly temp: string | undefined;
  private readonly unregister: () => void;
  private done = false;

  constructor(readonly target: string) {
    let special = false;
    try {
      special = !statSync(target).isFile();
    } catch {
      // absent: made through a temporary file
    }
    // pid plus a counter: two exports in one process to the same name never share a temporary
    this.temp = special ? undefined : join(dirname(target), `.${basename(target)}.layerfold-${process.pid}${tempCounter++ ? `-${tempCounter}` : ''}.tmp`);
    try {
      this.fd = special ? openSync(target, fsc.O_WRONLY) : openSync(this.temp!, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o644);
    } catch (e) {
      throw ioError(target, e);
    }
    this.unregister = onCleanup(() => this.abort());
  }

  async write(bytes: Buffer): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      try {
        off += await writeAsync(this.fd, bytes, off, bytes.length - off);
      } catch (e) {
        throw ioError(this.target, e);
      }
    }
  }

  async finish(): Promise<void> {
    try {
      closeSync(this.fd);
      if (this.temp !== undefined) renameSync(this.temp, this.target);
    } catch (e) {
      this.abort();
      throw ioError(this.target, e);
    }
    this.done = true;
    this.unregister();
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    if (this.temp !== undefined) rmSync(this.temp, { force: true });
    this.unregister();
  }
}

/** A stream (stdout, or a compressor in front of a FileSink). */
export class StreamSink implements ByteSink {
  private error: unknown;
  constructor(
    private readonly stream: Writable,
    private readonly label: string,
  ) {
    stream.on('error', (e) => {
      this.error ??= e;
    });
  }

  /**
   * Resolves once the stream has taken the bytes (its write callback), so the caller may reuse the
   * buffer without a copy; the caller's two alternating buffers still keep the stream busy.
   */
  async write(bytes: Buffer): Promise<void> {
    if (this.error) throw ioError(this.label, this.error);
    await new Promise<void>((resolve, reject) => {
      this.stream.write(bytes, (err) => (err ? reject(ioError(this.label, err)) : resolve()));
    });
  }

  async finish(): Promise<void> {
    if (this.error) throw ioError(this.label, this.error);
    this.stream.end();
    try {
      await finished(this.stream);
    } catch (e) {
      throw ioError(this.label, e);
    }
  }

  abort(): void {
    this.stream.destroy();
  }
}

/** A compressed file: compressor → temporary file, renamed at the end. */
export class CompressedFileSink implements ByteSink {
  private readonly inner: StreamSink;
  private readonly file: FileSink;
  private readonly out: Writable;
  private readonly finished: Promise<void>;

  constructor(target: string, kind: Exclude<Compression, 'none'>) {
    this.file = new FileSink(target);
    const z = compressor(kind);
    this.out = z;
    this.inner = new StreamSink(z, target);
    const file = this.file;
    this.finished = (async () => {
      for await (const chunk of z) await file.write(chunk as Buffer);
    })();
    this.finished.catch(() => undefined);
  }

  async write(bytes: Buffer): Promise<void> {
    await this.inner.write(bytes);
  }

  async finish(): Promise<void> {
    this.out.end();
    await this.finished;
    await this.file.finish();
  }

  abort(): void {
    this.inner.abort();
    this.file.abort();
  }
}
