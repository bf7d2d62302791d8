/** `layerfold cp IMAGE:PATH DEST`: a file or a subtree out of the image, as `docker cp` copies it. */
import type { CommandModule } from 'yargs';
import { LayerfoldError } from '../errors.js';
import { imageOptions, type CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';
import { skippedSummary } from './extract-command.js';

interface CpArgs extends ImageArgs {
  source: string;
  dest: string;
  'follow-link'?: boolean;
}

/** `IMAGE:/PATH` split at its last `:/` (an image reference may hold colons of its own). */
export function splitSource(source: string): { image: string; path: string } {
  const at = source.lastIndexOf(':/');
  if (at <= 0) throw new LayerfoldError('USAGE', `${JSON.stringify(source)}: name the source as IMAGE:/PATH (an absolute path in the image)`);
  return { image: source.slice(0, at), path: source.slice(at + 1) };
}

export function cpCommand(ctx: CommandContext): CommandModule<object, CpArgs> {
  return {
    command: 'cp <source> <dest>',
    describe: 'copy a file or directory out of the image, as docker cp does (DEST - writes a tar to stdout)',
    builder: (y) =>
      imageOptions(y)
        .positional('source', { type: 'string', demandOption: true, describe: 'IMAGE:/PATH (IMAGE as for export; -:/PATH reads stdin)' })
        .positional('dest', { type: 'string', demandOption: true, describe: 'a path on this machine, or - for a tar on stdout' })
        .option('follow-link', { alias: 'L', type: 'boolean', default: false, describe: 'follow the source if it is a symlink' })
        .option('docker-init', { type: 'string', describe: 'include what `docker create` adds, for a container created at TIME (default now)' })
        .example('$0 cp image.tar:/etc/nginx ./nginx-conf', '')
        .example('$0 cp image.tar:/usr/share/doc - | tar -t', '') as never,
    handler: async (args) => {
      const { copyOut } = await import('../write/copy-out.js');
      const { image, path } = splitSource(String(args.source));
      const dest = dash(args.dest);
      if (dest === '-' && ctx.io.stdout.isTTY) throw new LayerfoldError('USAGE', 'refusing to write a tar to a terminal: redirect stdout');
      const result = await copyOut(dash(image), path, dest, { ...flattenOptionsFrom(args, ctx.io), followLink: args['follow-link'] ?? false, stdout: ctx.io.stdout });
      if (result.skipped && result.privileged !== undefined) {
        const summary = skippedSummary({ dir: result.target, entries: result.entries, bytes: 0, privileged: result.privileged, skipped: result.skipped, manifest: '(not kept for cp)' });
        if (summary) ctx.io.stderr.write(`${summary}\n`);
      }
    },
  };
}
