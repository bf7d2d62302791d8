/**
 * Write the merged tree as the tar `docker export` writes: walk order from tree/walk.ts, header bytes
 * from tar/header.ts, file data copied once from the layer it lives in, two zero blocks at the end.
 */
import { showName } from '../errors.js';
import type { LayerData } from '../read/layers.js';
import { BLOCK, encodeExportHeader, encodeUstarInto, END_OF_ARCHIVE, paddingFor, type ExportHeader } from '../tar/header.js';
import type { Inode, MergedTree } from '../tree/node.js';
import { entryFields, walkTree, type EntryFields, type WalkEntry } from '../tree/walk.js';
import type { EntryType } from '../tar/entries.js';
import type { ByteSink } from './sink.js';
import { LayerReads, Stage, STAGE } from './stage.js';
import { sparseRuns, type SparseSegment } from '../tar/sparse.js';

/** The zeros of every sparse file's holes: one buffer, handed to the sink as often as a hole needs. */
let holeZeros: Buffer | undefined;

const TYPEFLAG: Record<EntryType, ExportHeader['typeflag']> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

/** The header export writes for a walk entry: its fields (tree/walk.ts), and a capability in PAX. */
export function exportHeaderOf(entry: WalkEntry): ExportHeader {
  const header = entryFields(entry) as EntryFields & ExportHeader;
  header.typeflag = TYPEFLAG[header.type];
  if (entry.node.capability) header.capability = entry.node.capability;
  return header;
}

export interface WriteProgress {
  entries: number;
  bytes: number;
}

/** The export tar's stage: a byte stream to the sink, counting what it has written. */
class Stager extends Stage {
  written = 0;
  constructor(private readonly sink: ByteSink) {
    super();
  }

  protected send(bytes: Buffer): Promise<void> {
    this.written += bytes.length;
    return this.sink.write(bytes);
  }

  /** Append bytes that fit (check with fits() first). */
  put(bytes: Buffer): void {
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
  }

  /** Encode a plain USTAR header in place (room for a block checked by the caller); false if it needs PAX. */
  putUstar(header: ExportHeader): boolean {
    const n = encodeUstarInto(header, this.buf, this.used);
    this.used += n;
    return n > 0;
  }

  zeros(n: number): void {
    this.buf.fill(0, this.used, this.used + n);
    this.used += n;
  }

  async append(bytes: Buffer): Promise<void> {
    if (!this.fits(bytes.length)) await this.flush();
    this.put(bytes);
  }

  /** A sparse file's data: its segments copied from the layer, its holes zeros (docker writes them). */
  async copySparse(reads: LayerReads, size: number, segments: readonly SparseSegment[], what: () => string): Promise<void> {
    for (const run of sparseRuns(size, segments)) {
      if (run.at === null) await this.holes(run.length);
      else await this.copyFile(reads, run.at, run.length, what);
    }
  }

  /** n zeros: in the stage when they fit, else the shared zero buffer written again and again, never filled anew. */
  private async holes(n: number): Promise<void> {
    if (this.fits(n)) {
      this.zeros(n);
      return;
    }
    await this.flush();
    holeZeros ??= Buffer.alloc(STAGE);
    for (; n > holeZeros.length; n -= holeZeros.length) await this.sendDirect(holeZeros);
    this.zeros(n); // the stage is empty after the flush, and n <= STAGE
  }
}

export async function writeExportTar(
  tree: MergedTree,
  layers: LayerData[],
  sink: ByteSink,
  onProgress?: (p: WriteProgress) => void,
  /** Awaited before the end-of-archive blocks: a check that fails here leaves a visibly truncated tar. */
  beforeEnd?: () => Promise<void>,
): Promise<WriteProgress> {
  return writeTarItems(walkTree(tree), layers, sink, onProgress, beforeEnd);
}

/** An entry that carries no data and no node: a whiteout or an opaque marker of a layer tar. */
export interface MarkerItem {
  marker: ExportHeader;
}

export type TarItem = WalkEntry | MarkerItem;

/**
 * The export tar's writer over any sequence of tree entries and markers: `export` gives it the whole
 * walk; `squash` the entries of the layer it writes (the same header bytes and data copy).
 */
export async function writeTarItems(
  items: Iterable<TarItem>,
  layers: LayerData[],
  sink: ByteSink,
  onProgress?: (p: WriteProgress) => void,
  beforeEnd?: () => Promise<void>,
): Promise<WriteProgress> {
  const stage = new Stager(sink);
  const reads = layers.map((l) => new LayerReads(l.fd, l.base + l.size));
  let entries = 0;
  for (const entry of items) {
    if ('marker' in entry) {
      const bytes = encodeExportHeader(entry.marker);
      if (!stage.fits(bytes.length)) await stage.flush();
      stage.put(bytes);
      entries++;
      continue;
    }
    const header = exportHeaderOf(entry);
    if (!stage.fits(BLOCK)) await stage.flush();
    if (!stage.putUstar(header)) {
      const bytes = encodeExportHeader(header);
      if (!stage.fits(bytes.length)) await stage.flush();
      stage.put(bytes);
    }
    if (header.typeflag === '0' && header.size > 0) {
      const inode = entry.node as Inode;
      const layer = layers[inode.layer]!;
      const what = (): string => `layer ${layer.index} (${layer.label}) entry ${showName(entry.name)}`;
      if (inode.sparse) await stage.copySparse(reads[inode.layer]!, header.size, inode.sparse, what);
      else await stage.copyFile(reads[inode.layer]!, inode.dataOffset, header.size, what);
      const pad = paddingFor(header.size);
      if (!stage.fits(pad)) await stage.flush();
      stage.zeros(pad);
    }
    entries++;
    if (onProgress && (entries & 1023) === 0) onProgress({ entries, bytes: stage.written });
  }
  await stage.drain();
  if (beforeEnd) await beforeEnd();
  await stage.append(END_OF_ARCHIVE);
  await stage.drain();
  return { entries, bytes: stage.written };
}
