/** `layerfold mkfs IMAGE OUT [--type ext4] [--size S | --free F] [--inodes N]` */
import { LayerfoldError } from '../errors.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface MkfsArgs extends ImageArgs {
  image_archive: string;
  out: string;
  type?: string;
  size?: string;
  free?: string;
  inodes?: number;
  quiet?: boolean;
  compression?: string;
}

const BY_EXTENSION: Array<[RegExp, 'ext4' | 'squashfs' | 'erofs']> = [
  [/\.ext4$/i, 'ext4'],
  [/\.(sqfs|squashfs)$/i, 'squashfs'],
  [/\.erofs$/i, 'erofs'],
];

export async function run(args: MkfsArgs, ctx: CommandContext): Promise<void> {
  const { makeFilesystem } = await import('../mkfs.js');
  const { parseFree, parseSize, formatSize } = await import('../write/fs/sizing.js');
  const out = dash(args.out);
  if (out === '-') throw new LayerfoldError('USAGE', 'mkfs writes a file by position: name OUT, not -');
  const type = args.type ?? BY_EXTENSION.find(([re]) => re.test(out))?.[1];
  if (type === undefined) throw new LayerfoldError('USAGE', `name the filesystem: --type ext4|squashfs|erofs (or end ${out} in .ext4, .sqfs, .erofs)`);
  if (args.compression !== undefined && type !== 'squashfs') throw new LayerfoldError('USAGE', '--compression is for squashfs');
  if (args.size !== undefined && args.free !== undefined) throw new LayerfoldError('USAGE', '--size and --free: give one (a fixed size has the headroom it has)');
  if (args.inodes !== undefined && (!Number.isInteger(args.inodes) || args.inodes <= 0)) throw new LayerfoldError('USAGE', '--inodes takes a positive whole number');
  const summary = await makeFilesystem(dash(args.image_archive), out, {
    ...flattenOptionsFrom(args, ctx.io),
    type: type as 'ext4' | 'squashfs' | 'erofs',
    ...(args.size !== undefined ? { size: parseSize(args.size, '--size') } : {}),
    ...(args.free !== undefined ? { free: parseFree(args.free) } : {}),
    ...(args.inodes !== undefined ? { inodes: args.inodes } : {}),
    ...(args.compression !== undefined ? { compression: args.compression as 'gzip' | 'zstd' } : {}),
  });
  if (!args.quiet && summary.type === 'erofs') {
    ctx.io.stderr.write(`${out}: erofs, ${formatSize(summary.bytes)} (${summary.blocks} blocks of 4 KiB, uncompressed), ${summary.inodes} inodes\n`);
  } else if (!args.quiet && summary.type === 'squashfs') {
    ctx.io.stderr.write(`${out}: squashfs, ${formatSize(summary.bytes)} (${args.compression ?? 'gzip'} blocks of ${summary.blockSize / 1024} KiB), ${summary.inodes} inodes\n`);
    if (summary.clampedTimes) ctx.io.stderr.write(`layerfold: note: ${summary.clampedTimes} mtimes outside 1970–2106 clamped to it (squashfs stores unsigned 32-bit seconds)\n`);
  } else if (!args.quiet) {
    const freePct = Math.round((summary.freeBlocks / summary.blocks) * 100);
    ctx.io.stderr.write(
      `${out}: ${summary.type}, ${formatSize(summary.bytes)} (${summary.blocks} blocks of ${summary.blockSize / 1024} KiB, ${freePct}% free), ${summary.inodesUsed} of ${summary.inodes} inodes used\n`,
    );
  }
}
