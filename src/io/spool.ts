/**
 * A stream (stdin, a daemon's save stream, a compressed archive) copied once to a file, decompressed
 * on the way when its first bytes say gzip or zstd, and stopped at `maxSize` bytes written: the one
 * spool every command uses, so that no input can fill the disk past the limit the user set
 * (`layerfold diff bomb.tar.gz x` decompressed without bound when diff had a copy of its own).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LayerfoldError } from '../errors.js';
import { decompressor, detectCompression, type Compression } from './compression.js';
import { writeFileFrom } from './file-sink.js';

export interface SpoolOptions {
  /** For messages: what is being read. */
  label: string;
  /** Refuse past this many bytes written (--max-size). */
  maxSize?: number;
  /** Bytes read so far (before decompression), and the total when known. */
  onRead?: (read: number, total: number | undefined) => void;
  total?: number;
  /** What the input is called in a message about bad bytes ('archive', 'input'). */
  noun?: string;
}

/** Copy `input` to `path`; resolves to the compression it had. */
export async function spoolTo(input: Readable, path: string, options: SpoolOptions): Promise<Compression> {
  const maxSize = options.maxSize ?? Number.MAX_SAFE_INTEGER;
  const iterator = input[Symbol.asyncIterator]();
  // Peek at the first bytes to see whether the stream itself is compressed.
  const chunks: Buffer[] = [];
  let head = Buffer.alloc(0);
  while (head.length < 4) {
    const next = await iterator.next();
    if (next.done) break;
    chunks.push(Buffer.from(next.value as Buffer));
    head = Buffer.concat(chunks);
  }
  const kind = detectCompression(head);
  let read = 0;
  const replay = Readable.from(
    (async function* () {
      read += head.length;
      if (head.length) yield head;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        read += (next.value as Buffer).length;
        options.onRead?.(read, options.total);
        yield next.value as Buffer;
      }
    })(),
  );
  let written = 0;
  const limit = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      written += chunk.length;
      if (written > maxSize) throw new LayerfoldError('LIMIT', `${options.label}: the ${options.noun ?? 'archive'} unpacks to more than ${maxSize} bytes (--max-size)`);
      yield chunk;
    }
  };
  try {
    // settles once the file is closed: a refused spool's caller removes the TempSpace next
    if (kind === 'none') await writeFileFrom(path, (file) => pipeline(replay, limit, file));
    else await writeFileFrom(path, (file) => pipeline(replay, decompressor(kind), limit, file));
  } catch (e) {
    if (e instanceof LayerfoldError) throw e;
    throw new LayerfoldError('BAD_ARCHIVE', `${options.label}: could not read the ${kind === 'none' ? '' : `${kind}-compressed `}${options.noun ?? 'archive'}: ${(e as Error).message}`);
  }
  return kind;
}
