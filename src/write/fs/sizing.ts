/**
 * How big a filesystem image is: `--size` (fixed), `--free` (headroom over the tree: a percentage
 * of the space files can use, as `df` shows it, or bytes), `--inodes`. Shared by every writer.
 */
import { LayerfoldError } from '../../errors.js';

export type FreeSpec = { percent: number } | { bytes: number };

export const DEFAULT_FREE: FreeSpec = { percent: 20 };

/** One inode per this many bytes of image by default, as mke2fs's default inode_ratio. */
export const BYTES_PER_INODE = 16384;

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `2G`, `512M`, `1.5g`, `4096` (bytes); binary units. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new LayerfoldError('USAGE', `${flag} ${JSON.stringify(text)}: expected a size such as 2G, 512M or a number of bytes`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (bytes <= 0) throw new LayerfoldError('USAGE', `${flag} must be more than 0`);
  return bytes;
}

/** `20%` or a size (`100M`). */
export function parseFree(text: string): FreeSpec {
  const m = /^(\d+(?:\.\d+)?)\s*%$/.exec(text.trim());
  if (m) {
    const percent = Number(m[1]);
    if (percent >= 100) throw new LayerfoldError('USAGE', `--free ${text}: a percentage below 100`);
    return { percent };
  }
  if (/^0+$/.test(text.trim())) return { bytes: 0 };
  return { bytes: parseSize(text, '--free') };
}

/** Free blocks to add to `used` data blocks: P% of used + free, or the bytes asked for. */
export function freeBlocks(used: number, free: FreeSpec, blockSize: number): number {
  if ('bytes' in free) return Math.ceil(free.bytes / blockSize);
  const p = free.percent / 100;
  return Math.ceil((used * p) / (1 - p));
}

/** Default inode count: the used ones with the same headroom as the blocks, at least one per BYTES_PER_INODE. */
export function defaultInodes(used: number, usedBlocks: number, freeBlockCount: number, totalBytes: number): number {
  const share = usedBlocks + freeBlockCount === 0 ? 0 : freeBlockCount / (usedBlocks + freeBlockCount);
  return Math.max(Math.ceil(used / (1 - Math.min(share, 0.9))), Math.ceil(totalBytes / BYTES_PER_INODE));
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}
