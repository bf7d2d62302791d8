/** `layerfold squash IMAGE -o OUT [--keep N] [--tag NAME:TAG] [--format docker|oci] [--compress …]` */
import type { CommandModule } from 'yargs';
import type { Compression } from '../io/compression.js';
import type { WriteProgress } from '../write/export-tar.js';
import { parseTime } from '../time.js';
import type { CommandContext } from './main.js';
import { dash, filterOptions, flattenOptionsFrom, type ImageArgs, imageOptions } from './shared.js';

interface SquashArgs extends ImageArgs {
  image_archive: string;
  output: string;
  keep?: number;
  tag?: string;
  format?: string;
  compress?: string;
  created?: string;
  'all-platforms'?: boolean;
  quiet?: boolean;
}

export function squashCommand(ctx: CommandContext): CommandModule<object, SquashArgs> {
  return {
    command: 'squash <image_archive>',
    describe: 'write the image back with its layers (or those above --keep N) folded into one',
    builder: (y) =>
      filterOptions(imageOptions(y))
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, docker-daemon:…, docker://…, or - for stdin' })
        .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'a docker-load archive (FILE, docker-archive:FILE), an OCI archive (oci-archive:FILE), oci:DIR, or docker://REGISTRY/REPO:TAG' })
        .option('keep', { type: 'number', default: 0, describe: 'keep the lowest N layers as they are; squash the rest into one' })
        .option('tag', { type: 'string', describe: 'NAME:TAG to give the squashed image (default: none for files; a registry push takes its own)' })
        .option('format', { type: 'string', choices: ['docker', 'oci'], describe: 'docker (docker load / schema 2) or oci (default: from OUT, else docker)' })
        .option('compress', { type: 'string', choices: ['none', 'gzip', 'zstd'], describe: 'compression of the squashed layer (default none; gzip for docker://)' })
        .option('created', { type: 'string', describe: 'created time of the image and of the squash step (RFC 3339 or epoch seconds; default the image\'s)' })
        .option('all-platforms', { type: 'boolean', describe: 'squash every platform of a multi-platform image into an OCI index' })
        .example('$0 squash app.tar -o app-squashed.tar --tag app:squashed', '')
        .example('$0 squash app.tar --keep 1 -o oci:app-oci', '')
        .example('$0 squash docker://registry.local/app:1 -o docker://registry.local/app:1-squashed', '') as never,
    handler: async (args) => {
      const { squashImage } = await import('../squash.js');
      const { progressFor } = await import('../progress.js');
      const { io } = ctx;
      const progress = progressFor(io.stderr, { quiet: args.quiet });
      progress.phase('reading layers');
      const result = await squashImage(dash(args.image_archive), {
        // only when a progress line is shown: no per-entry callbacks otherwise
        ...(progress.enabled
          ? { onEntry: progress.onEntry, onUnpack: progress.onUnpack, onWriteStart: (totals: WriteProgress) => progress.phase('writing', totals), onProgress: (p: WriteProgress) => progress.update(p) }
          : {}),
        ...flattenOptionsFrom({ ...args, 'docker-init': undefined }, io),
        output: dash(args.output),
        keep: args.keep ?? 0,
        ...(args.tag !== undefined ? { tag: args.tag } : {}),
        ...(args.format ? { format: args.format as 'docker' | 'oci' } : {}),
        ...(args.compress ? { compression: args.compress as Compression } : {}),
        ...(args.created !== undefined ? { created: parseTime(args.created, '--created') } : {}),
        ...(args['all-platforms'] ? { allPlatforms: true } : {}),
      }).finally(() => progress.done());
      if (!args.quiet) io.stderr.write(`wrote ${result.output}: ${result.layers.length} layer${result.layers.length === 1 ? '' : 's'}, manifest ${result.manifestDigest}\n`);
    },
  };
}
