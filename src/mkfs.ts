/** `layerfold mkfs`: an image to a filesystem image (ext4, squashfs) written from the merged tree. */
import { createHash } from 'node:crypto';
import { LayerfoldError } from './errors.js';
import { flattenImage, type FlattenOptions } from './flatten.js';
import { writeExt4, type FsSummary } from './write/fs/ext4.js';
import { writeSquashfs, type SquashCompression } from './write/fs/squashfs.js';
import { DEFAULT_FREE, type FreeSpec } from './write/fs/sizing.js';

export type FsType = 'ext4' | 'squashfs' | 'erofs';
export type { FsSummary, FreeSpec, SquashCompression };

export interface MkfsOptions extends FlattenOptions {
  type: FsType;
  /** Fixed size in bytes; default: the smallest image holding the tree plus `free`. */
  size?: number;
  /** Headroom (default 20 % of the space files can use). */
  free?: FreeSpec;
  /** Inode count (ext4); default: the used ones with the same headroom, at least one per 16 KiB. */
  inodes?: number;
  /** squashfs block compression (default gzip: every kernel reads it). */
  compression?: SquashCompression;
}

/** What identifies the input: the same image and options give the same UUID and bytes. */
function identity(flat: Awaited<ReturnType<typeof flattenImage>>, options: MkfsOptions): string {
  const h = createHash('sha256');
  h.update(flat.image.configDigest ?? '');
  for (const l of flat.image.layers) h.update(`\0${l.diffId}`);
  h.update(`\0${options.dockerInit ?? ''}\0${flat.impliedMtime}\0${options.size ?? ''}\0${JSON.stringify(options.free ?? DEFAULT_FREE)}\0${options.inodes ?? ''}`);
  return h.digest('hex');
}

/** Write the filesystem image of IMAGE to `output` (renamed into place when complete). */
export async function makeFilesystem(input: string, output: string, options: MkfsOptions): Promise<FsSummary> {
  if (options.type === 'erofs') throw new LayerfoldError('UNSUPPORTED', '--type erofs: not built yet; ext4 and squashfs are');
  if (options.type === 'squashfs' && (options.size !== undefined || options.free !== undefined || options.inodes !== undefined)) {
    throw new LayerfoldError('USAGE', 'squashfs is read-only and exactly as big as its tree: --size, --free and --inodes are for ext4');
  }
  const flat = await flattenImage(input, { ...options, deferVerify: true });
  try {
    const time = options.dockerInit ?? flat.impliedMtime;
    if (options.type === 'squashfs') return await writeSquashfs(flat.tree, flat.layers, output, { compression: options.compression ?? 'gzip', time }, () => flat.verified);
    return await writeExt4(flat.tree, flat.layers, output, { ...options, free: options.free ?? DEFAULT_FREE, time, seed: identity(flat, options) }, () => flat.verified);
  } catch (e) {
    const failure = await flat.verified.then(() => undefined, (v: unknown) => v);
    if (failure instanceof LayerfoldError && failure.code === 'DIGEST_MISMATCH') throw failure;
    if (e instanceof LayerfoldError) throw e;
    throw new LayerfoldError('IO', `writing ${output}: ${(e as Error).message}`, { cause: e });
  } finally {
    flat.close();
  }
}
