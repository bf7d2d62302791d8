/** `layerfold export`: an image archive to the rootfs tar `docker export` gives. */
import type { Writable } from 'node:stream';
import { LayerfoldError } from './errors.js';
import { compressionForName, compressor, type Compression } from './io/compression.js';
import { flattenImage, type FlattenOptions } from './flatten.js';
import { CompressedFileSink, FileSink, StreamSink, type ByteSink } from './write/sink.js';
import { writeExportTar, type WriteProgress } from './write/export-tar.js';

export interface ExportOptions extends FlattenOptions {
  /** A file path, or '-' / undefined for `stdout`. */
  output?: string;
  /** Where '-' writes (default process.stdout). */
  stdout?: Writable;
  /** Default: from the output name (.tar.gz, .tar.zst), else none. */
  compression?: Compression;
  onProgress?: (p: WriteProgress) => void;
}

export interface ExportResult extends WriteProgress {
  /** The mtime given to implied directories. */
  impliedMtime: number;
}

function openSink(options: ExportOptions): ByteSink {
  const output = options.output ?? '-';
  const kind = options.compression ?? (output === '-' ? 'none' : compressionForName(output));
  if (output === '-') {
    const stdout = options.stdout ?? process.stdout;
    if (kind === 'none') return new StreamSink(stdout, 'stdout');
    const z = compressor(kind);
    z.pipe(stdout);
    return new StreamSink(z, 'stdout');
  }
  return kind === 'none' ? new FileSink(output) : new CompressedFileSink(output, kind);
}

export async function exportRootfs(input: string, options: ExportOptions = {}): Promise<ExportResult> {
  const flat = await flattenImage(input, { ...options, deferVerify: true });
  let sink: ByteSink | undefined;
  try {
    sink = openSink(options);
    // Digests are checked while the tar is written; the end of the archive waits for them.
    const progress = await writeExportTar(flat.tree, flat.layers, sink, options.onProgress, () => flat.verified);
    await sink.finish();
    return { ...progress, impliedMtime: flat.impliedMtime };
  } catch (e) {
    sink?.abort();
    // Corrupt data may fail the write before its digest check reports: the mismatch is the cause.
    const mismatch = await flat.verified.then(() => undefined, (v: unknown) => v);
    if (mismatch !== undefined) throw mismatch;
    if (e instanceof LayerfoldError) throw e;
    throw new LayerfoldError('IO', `writing ${options.output ?? 'stdout'}: ${(e as Error).message}`, { cause: e });
  } finally {
    flat.close();
  }
}
