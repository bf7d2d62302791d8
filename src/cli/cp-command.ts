/** `layerfold cp IMAGE:PATH DEST`: a file or a subtree out of the image, as `docker cp` copies it. */
import { LayerfoldError } from '../errors.js';
import type { CommandContext } from './main.js';
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

export async function run(args: CpArgs, ctx: CommandContext): Promise<void> {
  const { copyOut } = await import('../write/copy-out.js');
  const { image, path } = splitSource(String(args.source));
  const dest = dash(args.dest);
  if (dest === '-' && ctx.io.stdout.isTTY) throw new LayerfoldError('USAGE', 'refusing to write a tar to a terminal: redirect stdout');
  const result = await copyOut(dash(image), path, dest, { ...flattenOptionsFrom(args, ctx.io), followLink: args['follow-link'] ?? false, stdout: ctx.io.stdout });
  if (result.skipped && result.privileged !== undefined) {
    const summary = skippedSummary({ dir: result.target, entries: result.entries, bytes: 0, privileged: result.privileged, skipped: result.skipped, manifest: '(not kept for cp)' });
    if (summary) ctx.io.stderr.write(`${summary}\n`);
  }
}
