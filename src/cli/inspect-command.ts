/** `layerfold inspect IMAGE`: layers, config and where the bytes go; a table, or --json. */
import { jsonText } from '../escape.js';
import type { CommandModule } from 'yargs';
import { imageOptions, type CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface InspectArgs extends ImageArgs {
  image_archive: string;
  json?: boolean;
  quiet?: boolean;
}

export function inspectCommand(ctx: CommandContext): CommandModule<object, InspectArgs> {
  return {
    command: 'inspect <image_archive>',
    describe: 'show the image: layout, config, layers with their sizes, history and wasted bytes',
    builder: (y) =>
      imageOptions(y)
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
        .example('$0 inspect image.tar', '')
        .example('$0 inspect image.tar --json | jq .totals.efficiency', '') as never,
    handler: async (args) => {
      const { inspectImage } = await import('../inspect/inspect.js');
      const { renderInspect } = await import('../inspect/render.js');
      const { progressFor } = await import('../progress.js');
      const { io } = ctx;
      const progress = progressFor(io.stderr, { quiet: args.quiet, json: args.json });
      let report;
      try {
        progress.phase('reading layers');
        report = await inspectImage(dash(args.image_archive), { ...flattenOptionsFrom(args, io), onEntry: progress.onEntry, onUnpack: progress.onUnpack });
      } finally {
        progress.done();
      }
      const columns = io.stdout.isTTY ? ((io.stdout as { columns?: number }).columns ?? 100) : undefined;
      io.stdout.write(args.json ? `${jsonText(report, 2)}\n` : renderInspect(report, columns));
    },
  };
}
