/** `layerfold bundle IMAGE DIR`: an OCI runtime bundle (DIR/rootfs + DIR/config.json) for runc. */
import type { CommandModule } from 'yargs';
import { afterExtract } from './extract-command.js';
import type { CommandContext } from './main.js';
import { dash, filterOptions, flattenOptionsFrom, type ImageArgs, imageOptions } from './shared.js';

interface BundleArgs extends ImageArgs {
  image_archive: string;
  dir: string;
  force?: boolean;
  hostname?: string;
}

export function bundleCommand(ctx: CommandContext): CommandModule<object, BundleArgs> {
  return {
    command: 'bundle <image_archive> <dir>',
    describe: 'write an OCI runtime bundle (DIR/rootfs, DIR/config.json) that `runc run -b DIR ID` runs',
    builder: (y) =>
      filterOptions(imageOptions(y))
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .positional('dir', { type: 'string', demandOption: true, describe: 'bundle directory: empty or absent unless --force' })
        .option('force', { type: 'boolean', default: false, describe: 'write into a non-empty DIR, replacing what stands in the way' })
        .option('hostname', { type: 'string', default: 'layerfold', describe: 'the container\'s hostname' })
        .example('$0 bundle image.tar app/ && runc run -b app/ app1', '') as never,
    handler: async (args) => {
      const { makeBundle } = await import('../write/bundle.js');
      const result = await makeBundle(dash(args.image_archive), args.dir, { ...flattenOptionsFrom(args, ctx.io), force: args.force ?? false, hostname: args.hostname ?? 'layerfold' });
      for (const line of afterExtract(result.rootfs)) ctx.io.stderr.write(`${line}\n`);
    },
  };
}
