/** `layerfold cat IMAGE PATH`: one file's bytes to stdout. */
import type { CommandModule } from 'yargs';
import { imageOptions, type CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface CatArgs extends ImageArgs {
  image_archive: string;
  path: string;
}

export function catCommand(ctx: CommandContext): CommandModule<object, CatArgs> {
  return {
    command: 'cat <image_archive> <path>',
    describe: 'write a file of the image to stdout (symlinks followed inside the image)',
    builder: (y) =>
      imageOptions(y)
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .positional('path', { type: 'string', demandOption: true, describe: 'path of a regular file in the image' })
        .option('docker-init', { type: 'string', describe: 'include what `docker create` adds, for a container created at TIME (default now)' })
        .example('$0 cat image.tar /etc/os-release', '') as never,
    handler: async (args) => {
      const { catFile } = await import('../write/copy-out.js');
      await catFile(dash(args.image_archive), String(args.path), ctx.io.stdout, flattenOptionsFrom(args, ctx.io));
    },
  };
}
