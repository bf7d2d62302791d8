/** `layerfold ls IMAGE [PATH...]`: the merged tree like `tar -t` / `tar -tv`, with each entry's layer. */
import { jsonText } from '../escape.js';
import type { CommandContext } from './main.js';
import { dash, drained, flattenOptionsFrom, type ImageArgs } from './shared.js';

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
  // a write the stream cannot take now (a pipe whose reader is slower) is waited for, so that the
  // listing is not queued in memory: `ls --json` of wide-1m is 106 MB of text
  const flush = (): Promise<void> | undefined => {
    const ok = buf === '' || io.stdout.write(Buffer.from(buf, 'utf8'));
    buf = '';
    return ok ? undefined : drained(io.stdout);
  };
  if (args.json) buf += '[';
  await listImage(dash(args.image_archive), { ...flattenOptionsFrom(args, io), paths: args.paths ?? [] }, (entry, layerCount) => {
    if (args.json) {
      buf += `${first ? '\n' : ',\n'}${jsonText(listEntryJson(entry, layerCount))}`;
      first = false;
    } else {
      // names are raw bytes (latin1 strings); displayName escapes what is not UTF-8, so the line
      // is text, written as UTF-8 (no Buffer and latin1 copy of each line)
      buf += `${formatListLine(entry, layerCount, args.long ?? false)}\n`;
    }
    return buf.length >= CHUNK ? flush() : undefined;
  });
  if (args.json) buf += first ? ']\n' : '\n]\n';
  await flush();
}
