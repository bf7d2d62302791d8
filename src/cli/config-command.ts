/** `layerfold config IMAGE [--json] [--shell DIR]` */
import { jsonText } from '../escape.js';
import { LayerfoldError } from '../errors.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface ConfigArgs extends ImageArgs {
  image_archive: string;
  json?: boolean;
  shell?: string;
  'docker-import'?: boolean;
}

export async function run(args: ConfigArgs, ctx: CommandContext): Promise<void> {
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
}
