/** `layerfold config IMAGE [--json] [--shell DIR]` */
import { jsonText } from '../escape.js';
import type { CommandModule } from 'yargs';
import { LayerfoldError } from '../errors.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs, imageOptions } from './shared.js';

interface ConfigArgs extends ImageArgs {
  image_archive: string;
  json?: boolean;
  shell?: string;
  'docker-import'?: boolean;
}

export function configCommand(ctx: CommandContext): CommandModule<object, ConfigArgs> {
  return {
    command: 'config <image_archive>',
    describe: 'show what the image runs (Entrypoint, Cmd, Env, WorkingDir, User, ports, volumes, labels)',
    builder: (y) =>
      imageOptions(y)
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .option('json', { type: 'boolean', describe: 'print the fields as JSON' })
        .option('shell', { type: 'string', describe: 'print a command line that runs the image\'s command in DIR (an extracted rootfs)' })
        .option('docker-import', { type: 'boolean', describe: 'print the --change flags that give `docker import` the image\'s config (with --json: the instructions as a JSON list)' })
        .example('$0 config image.tar', '')
        .example('eval "docker import $($0 config image.tar --docker-import) rootfs.tar app:flat"', '')
        .example('sh -c "$($0 config image.tar --shell rootfs/)"', '') as never,
    handler: async (args) => {
      const { configView, readImageConfig, renderConfigView, shellCommandLine, shellQuote } = await import('../config-view.js');
      if (args.json && args.shell !== undefined) throw new LayerfoldError('USAGE', '--json and --shell cannot be used together');
      if (args['docker-import'] && args.shell !== undefined) throw new LayerfoldError('USAGE', '--docker-import and --shell cannot be used together');
      const options = flattenOptionsFrom(args, ctx.io);
      if (args['docker-import']) {
        const { dockerImportChanges } = await import('../import-changes.js');
        const changes = dockerImportChanges((await readImageConfig(dash(args.image_archive), options)).config);
        ctx.io.stdout.write(args.json ? `${jsonText(changes, 2)}\n` : `${changes.map((c) => `--change ${shellQuote(c)}`).join(' ')}\n`);
        return;
      }
      if (args.shell !== undefined) {
        ctx.io.stdout.write(await shellCommandLine(dash(args.image_archive), args.shell, options));
        return;
      }
      const view = configView(await readImageConfig(dash(args.image_archive), options));
      ctx.io.stdout.write(args.json ? `${jsonText(view, 2)}\n` : renderConfigView(view));
    },
  };
}
