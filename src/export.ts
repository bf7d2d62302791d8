/** `layerfold export`: an image archive to the rootfs tar `docker export` gives. */
import type { Writable } from 'node:stream';
import { LayerfoldError } from './errors.js';
import { compressionForName, type Compression } from './io/compression.js';
import { flattenImage, type FlattenOptions } from './flatten.js';
import { CompressingSink, FileSink, StreamSink, type ByteSink } from './write/sink.js';
import { writeExportTar, type WriteProgress } from './write/export-tar.js';
import type { WslFiles } from './write/wsl.js';
import { Dir, type Inode, type MergedTree } from './tree/node.js';

export interface ExportOptions extends FlattenOptions {
  /** A file path, or '-' / undefined for `stdout`. */
  output?: string;
  /** Where '-' writes (default process.stdout). */
  stdout?: Writable;
  /** Default: from the output name (.tar.gz, .tar.zst), else none. */
  compression?: Compression;
  onProgress?: (p: WriteProgress) => void;
  /** Called once the tree is known, before writing starts: what the write will cover. */
  onWriteStart?: (totals: WriteProgress) => void;
  /** Add what `wsl --import` needs to start as the container would (write/wsl.ts). */
  wsl?: boolean;
}

/** Entries and bytes the export of this tree will write (headers included, PAX headers not). */
export function exportTotals(tree: MergedTree): WriteProgress {
  let entries = 0;
  let bytes = 1024;
  const seen = new Set<Inode>();
  const stack: Dir[] = [tree.root];
  while (stack.length > 0) {
    for (const node of stack.pop()!.children.values()) {
      entries++;
      bytes += 512;
      if (node instanceof Dir) stack.push(node);
      else if (node.type === 'file' && !(node.linked && seen.has(node))) {
        if (node.linked) seen.add(node);
        bytes += Math.ceil(node.size / 512) * 512;
      }
    }
  }
  return { entries, bytes };
}

export interface ExportResult extends WriteProgress {
  /** The mtime given to implied directories. */
  impliedMtime: number;
  /** With `wsl`: the image had its own /etc/wsl.conf, which was kept. */
  keptImageWslConf?: boolean;
}

function openSink(options: ExportOptions): ByteSink {
  const output = options.output ?? '-';
  const kind = options.compression ?? (output === '-' ? 'none' : compressionForName(output));
  const target = output === '-' ? new StreamSink(options.stdout ?? process.stdout, 'stdout') : new FileSink(output);
  return kind === 'none' ? target : new CompressingSink(kind, target, output === '-' ? 'stdout' : output);
}

export async function exportRootfs(input: string, options: ExportOptions = {}): Promise<ExportResult> {
  const flat = await flattenImage(input, { ...options, deferVerify: true });
  let sink: ByteSink | undefined;
  let wsl: WslFiles | undefined;
  try {
    // loaded only when asked for: its graph (the image's user, config views) is not the export's
    if (options.wsl) wsl = (await import('./write/wsl.js')).addWslFiles(flat, options.dockerInit ?? flat.impliedMtime);
    options.onWriteStart?.(exportTotals(flat.tree));
    sink = openSink(options);
    // Digests are checked while the tar is written; the end of the archive waits for them.
    const progress = await writeExportTar(flat.tree, wsl?.layers ?? flat.layers, sink, options.onProgress, () => flat.verified);
    await sink.finish();
    const result: ExportResult = { ...progress, impliedMtime: flat.impliedMtime };
    if (wsl?.keptImageConf) result.keptImageWslConf = true;
    return result;
  } catch (e) {
    sink?.abort();
    // Corrupt data may fail the write before its digest check reports: the mismatch is the cause.
    const failure = await flat.verified.then(() => undefined, (v: unknown) => v);
    if (failure instanceof LayerfoldError && failure.code === 'DIGEST_MISMATCH') throw failure;
    if (e instanceof LayerfoldError) throw e;
    throw new LayerfoldError('IO', `writing ${options.output ?? 'stdout'}: ${(e as Error).message}`, { cause: e });
  } finally {
    wsl?.close();
    flat.close();
  }
}
