/** `layerfold cat IMAGE PATH`: one file's bytes to stdout. */
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface CatArgs extends ImageArgs {
  image_archive: string;
  path: string;
}

export async function run(args: CatArgs, ctx: CommandContext): Promise<void> {
  const { catFile } = await import('../write/copy-out.js');
  await catFile(dash(args.image_archive), String(args.path), ctx.io.stdout, flattenOptionsFrom(args, ctx.io));
}
