/** `layerfold mkfs IMAGE OUT [--type ext4] [--size S | --free F] [--inodes N]` */
import type { CommandModule } from 'yargs';
import { LayerfoldError } from '../errors.js';
import type { CommandContext } from './main.js';
import { dash, filterOptions, flattenOptionsFrom, type ImageArgs, imageOptions } from './shared.js';

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

export function mkfsCommand(ctx: CommandContext): CommandModule<object, MkfsArgs> {
  return {
    command: 'mkfs <image_archive> <out>',
    describe: 'write a filesystem image (ext4, squashfs, erofs) of the rootfs, without root, loop devices or mke2fs',
    builder: (y) =>
      filterOptions(imageOptions(y))
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .positional('out', { type: 'string', demandOption: true, describe: 'the filesystem image to write' })
        .option('type', { alias: 't', type: 'string', choices: ['ext4', 'squashfs', 'erofs'], describe: 'filesystem (default: from OUT: .ext4, .sqfs/.squashfs, .erofs)' })
        .option('size', { type: 'string', describe: 'fixed image size (2G, 512M, bytes); fails if the tree does not fit' })
        .option('free', { type: 'string', describe: 'headroom: a percentage of the space files can use, or bytes (default 20%)' })
        .option('inodes', { type: 'number', describe: 'inode count (default: the tree\'s with the same headroom, at least one per 16 KiB)' })
        .option('compression', { type: 'string', choices: ['gzip', 'zstd'], describe: 'squashfs: how blocks are compressed (default gzip)' })
        .option('docker-init', { type: 'string', describe: 'add what `docker create` adds (/dev, /proc, /sys mount points…), for a container created at TIME (default now)' })
        .example('$0 mkfs image.tar rootfs.ext4', 'smallest ext4 holding the tree, 20% free')
        .example('$0 mkfs image.tar disk.img --type ext4 --size 2G --docker-init', 'a 2 GiB root disk for a microVM') as never,
    handler: async (args) => {
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
    },
  };
}
