/** `layerfold mkfs`: an image to a filesystem image (ext4, squashfs, EROFS) written from the merged tree. */
import { createHash } from 'node:crypto';
import { LayerfoldError } from './errors.js';
import { flattenImage, type FlattenOptions } from './flatten.js';
import { writeExt4, type FsSummary } from './write/fs/ext4.js';
import { writeSquashfs, type SquashCompression } from './write/fs/squashfs.js';
import { writeErofs } from './write/fs/erofs.js';
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
  /** squashfs: worker threads compressing data blocks (0: this thread; default: none for a tree of at most 1 MiB of file data, else the cores, at most 4). The bytes are the same for any count. */
  workers?: number;
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
  if (options.type !== 'ext4' && (options.size !== undefined || options.free !== undefined || options.inodes !== undefined)) {
    throw new LayerfoldError('USAGE', `${options.type} is read-only and exactly as big as its tree: --size, --free and --inodes are for ext4`);
  }
  const flat = await flattenImage(input, { ...options, deferVerify: true });
  try {
    const time = options.dockerInit ?? flat.impliedMtime;
    if (options.type === 'erofs') {
      const uuid = createHash('sha256').update('layerfold erofs\0').update(identity(flat, options)).digest().subarray(0, 16);
      return await writeErofs(flat.tree, flat.layers, output, { time, uuid }, () => flat.verified);
    }
    if (options.type === 'squashfs') return await writeSquashfs(flat.tree, flat.layers, output, { compression: options.compression ?? 'gzip', time, workers: options.workers }, () => flat.verified);
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
