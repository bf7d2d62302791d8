/** `layerfold squash IMAGE -o OUT [--keep N] [--tag NAME:TAG] [--format docker|oci] [--compress …]` */
import type { Compression } from '../io/compression.js';
import type { WriteProgress } from '../write/export-tar.js';
import { parseTime } from '../time.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

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

export async function run(args: SquashArgs, ctx: CommandContext): Promise<void> {
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
}
