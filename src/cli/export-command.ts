/** `layerfold export IMAGE [-o FILE]` */
import { LayerfoldError } from '../errors.js';
import type { WriteProgress } from '../write/export-tar.js';
import type { Compression } from '../io/compression.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface ExportArgs extends ImageArgs {
  image_archive: string;
  output?: string;
  compress?: string;
  quiet?: boolean;
  wsl?: boolean;
}

export async function run(args: ExportArgs, ctx: CommandContext): Promise<void> {
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
}
