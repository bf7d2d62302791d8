/** `layerfold ls IMAGE [PATH...]`: the merged tree like `tar -t` / `tar -tv`, with each entry's layer. */
import { jsonText } from '../escape.js';
import type { CommandModule } from 'yargs';
import type { CommandContext } from './main.js';
import { dash, filterOptions, flattenOptionsFrom, type ImageArgs, imageOptions } from './shared.js';

interface LsArgs extends ImageArgs {
  image_archive: string;
  paths?: string[];
  long?: boolean;
  json?: boolean;
}

/** Lines are gathered and written in chunks: one write per line is slow on big trees. */
const CHUNK = 1 << 16;

export function lsCommand(ctx: CommandContext): CommandModule<object, LsArgs> {
  return {
    command: 'ls <image_archive> [paths..]',
    describe: 'list the merged tree in export order, with the layer each entry comes from',
    builder: (y) =>
      filterOptions(imageOptions(y))
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .positional('paths', { type: 'string', array: true, describe: 'list only these subtrees' })
        .option('long', { alias: 'l', type: 'boolean', default: false, describe: 'mode, owner, size and mtime, like tar -tv (times in UTC)' })
        .option('json', { type: 'boolean', default: false, describe: 'a JSON array of entries' })
        .option('docker-init', { type: 'string', describe: 'include what `docker create` adds, for a container created at TIME (layer "init")' })
        .example('$0 ls image.tar etc -l', '') as never,
    handler: async (args) => {
      const { listImage } = await import('../inspect/ls.js');
      const { formatListLine, listEntryJson } = await import('../inspect/render.js');
      const { io } = ctx;
      let buf = '';
      let first = true;
      const flush = () => {
        if (buf) io.stdout.write(Buffer.from(buf, args.json ? 'utf8' : 'latin1'));
        buf = '';
      };
      if (args.json) buf += '[';
      await listImage(dash(args.image_archive), { ...flattenOptionsFrom(args, io), paths: args.paths ?? [] }, (entry, layerCount) => {
        if (args.json) {
          buf += `${first ? '\n' : ',\n'}${jsonText(listEntryJson(entry, layerCount))}`;
          first = false;
        } else {
          // Names are raw bytes (latin1 string); displayName escapes what is not UTF-8, so
          // re-encode the line's UTF-8 text as bytes.
          buf += Buffer.from(`${formatListLine(entry, layerCount, args.long ?? false)}\n`, 'utf8').toString('latin1');
        }
        if (buf.length >= CHUNK) flush();
      });
      if (args.json) buf += first ? ']\n' : '\n]\n';
      flush();
    },
  };
}
