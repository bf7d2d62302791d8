/** `layerfold ls IMAGE [PATH...]`: the merged tree like `tar -t` / `tar -tv`, with each entry's layer. */
import { jsonText } from '../escape.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface LsArgs extends ImageArgs {
  image_archive: string;
  paths?: string[];
  long?: boolean;
  json?: boolean;
}

/** Lines are gathered and written in chunks: one write per line is slow on big trees. */
const CHUNK = 1 << 16;

export async function run(args: LsArgs, ctx: CommandContext): Promise<void> {
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
}
