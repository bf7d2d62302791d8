/** `layerfold why IMAGE PATH`: one path's history through the layers, and its final state. */
import { jsonText } from '../escape.js';
import type { CommandModule } from 'yargs';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs, imageOptions } from './shared.js';

interface WhyArgs extends ImageArgs {
  image_archive: string;
  path: string;
  json?: boolean;
}

export function whyCommand(ctx: CommandContext): CommandModule<object, WhyArgs> {
  return {
    command: 'why <image_archive> <path>',
    describe: 'show how one path came to be: every layer that added, changed, replaced, hid or linked it',
    builder: (y) =>
      imageOptions(y)
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .positional('path', { type: 'string', demandOption: true, describe: 'a path in the image, e.g. /etc/passwd' })
        .option('json', { type: 'boolean', default: false, describe: 'print the steps as JSON' })
        .example('$0 why image.tar /usr/lib/libssl.so.3', '') as never,
    handler: async (args) => {
      const { jsonName, renderWhy } = await import('../inspect/render.js');
      const { explainPath } = await import('../inspect/why.js');
      const { io } = ctx;
      const report = await explainPath(dash(args.image_archive), args.path, flattenOptionsFrom(args, io));
      if (args.json) {
        const json = {
          ...report,
          path: jsonName(report.path).name,
          steps: report.steps.map((s) => ({ ...s, entry: jsonName(s.entry).name, ...(s.other !== undefined ? { other: jsonName(s.other).name } : {}) })),
        };
        io.stdout.write(`${jsonText(json, 2)}\n`);
        return;
      }
      const columns = io.stdout.isTTY ? ((io.stdout as { columns?: number }).columns ?? 100) : undefined;
      io.stdout.write(Buffer.from(renderWhy(report, columns), 'utf8'));
    },
  };
}
