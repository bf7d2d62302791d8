/** `layerfold extract IMAGE DIR`: argument parsing, one library call, one line about what was skipped. */
import type { ExtractDirResult } from '../write/extract-dir.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface ExtractArgs extends ImageArgs {
  image_archive: string;
  dir: string;
  force?: boolean;
}

/** The one line a command prints when it could not apply everything (not running as root). */
export function skippedSummary(result: ExtractDirResult): string | undefined {
  const parts: string[] = [];
  const { owner, mode, node, capability } = result.skipped;
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  if (owner) parts.push(`the owners of ${plural(owner, 'entry', 'entries')}`);
  if (mode) parts.push(`the exact modes of ${plural(mode, 'entry', 'entries')}`);
  if (node) parts.push(plural(node, 'device node', 'device nodes'));
  if (capability) parts.push(plural(capability, 'file capability', 'file capabilities'));
  if (parts.length === 0) return undefined;
  const who = result.missingTools ? `${result.missingTools.join(', ')} not installed` : result.privileged ? 'lacking privilege' : 'not running as root';
  return `layerfold: ${who}: skipped ${parts.join(', ')}; recorded in ${result.manifest}`;
}

/** What extract and bundle say once on stderr: a fallback note, then what was skipped. */
export function afterExtract(result: ExtractDirResult): string[] {
  const summary = skippedSummary(result);
  return [...(result.note ? [`layerfold: note: ${result.note}`] : []), ...(summary ? [summary] : [])];
}

export async function run(args: ExtractArgs, ctx: CommandContext): Promise<void> {
  const { extractRootfs } = await import('../write/extract-dir.js');
  const result = await extractRootfs(dash(args.image_archive), args.dir, { ...flattenOptionsFrom(args, ctx.io), force: args.force ?? false });
  for (const line of afterExtract(result)) ctx.io.stderr.write(`${line}\n`);
}
