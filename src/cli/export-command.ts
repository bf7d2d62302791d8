/** `layerfold export IMAGE [-o FILE]` */
import type { CommandModule } from 'yargs';
import { LayerfoldError } from '../errors.js';
import type { WriteProgress } from '../write/export-tar.js';
import type { Compression } from '../io/compression.js';
import { imageOptions, type CommandContext } from './main.js';
import { dash, filterOptions, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface ExportArgs extends ImageArgs {
  image_archive: string;
  output?: string;
  compress?: string;
  quiet?: boolean;
  wsl?: boolean;
}

export function exportCommand(ctx: CommandContext): CommandModule<object, ExportArgs> {
  return {
    command: 'export <image_archive>',
    describe: 'write the rootfs tar `docker export` gives for a container of the image',
    builder: (y) =>
      filterOptions(imageOptions(y))
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .option('output', { alias: 'o', type: 'string', describe: 'output file (.tar, .tar.gz, .tar.zst), or - for stdout' })
        .option('docker-init', { type: 'string', describe: 'add what `docker create` adds, for a container created at TIME (RFC 3339 or epoch seconds; default now)' })
        .option('wsl', { type: 'boolean', describe: 'add /etc/wsl.conf (the image\'s USER as WSL\'s default user) and the image\'s Env for login shells, for wsl --import' })
        .option('compress', { type: 'string', choices: ['none', 'gzip', 'zstd'], describe: 'compress the output (default: from the output name)' })
        .example('$0 export image.tar -o rootfs.tar', '')
        .example("$0 export image.tar --include usr/lib --exclude '*.a' -o lib.tar", '')
        .example('docker save app | $0 export - --docker-init > rootfs.tar', '') as never,
    handler: async (args) => {
      const { exportRootfs } = await import('../export.js');
      const { progressFor } = await import('../progress.js');
      const { io } = ctx;
      const input = dash(args.image_archive);
      const output = dash(args.output) ?? '-';
      if (output === '-' && args.output === undefined && io.stdout.isTTY) {
        throw new LayerfoldError('USAGE', 'refusing to write a tar to a terminal: use -o FILE, or -o - to insist');
      }
      const progress = progressFor(io.stderr, { quiet: args.quiet });
      try {
        progress.phase('reading layers');
        const result = await exportRootfs(input, {
          ...flattenOptionsFrom(args, io),
          output,
          stdout: io.stdout,
          ...(args.compress ? { compression: args.compress as Compression } : {}),
          ...(args.wsl ? { wsl: true } : {}),
          // only when a progress line is shown: no per-entry callbacks, no totals walk otherwise
          ...(progress.enabled
            ? { onEntry: progress.onEntry, onUnpack: progress.onUnpack, onWriteStart: (totals: WriteProgress) => progress.phase('writing', totals), onProgress: (p: WriteProgress) => progress.update(p) }
            : {}),
        });
        if (result.keptImageWslConf) io.stderr.write('layerfold: the image has its own /etc/wsl.conf; it was kept as it is\n');
      } finally {
        progress.done();
      }
    },
  };
}
