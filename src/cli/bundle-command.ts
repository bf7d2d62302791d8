/** `layerfold bundle IMAGE DIR`: an OCI runtime bundle (DIR/rootfs + DIR/config.json) for runc. */
import { afterExtract } from './extract-command.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface BundleArgs extends ImageArgs {
  image_archive: string;
  dir: string;
  force?: boolean;
  hostname?: string;
}

export async function run(args: BundleArgs, ctx: CommandContext): Promise<void> {
  const { makeBundle } = await import('../write/bundle.js');
  const result = await makeBundle(dash(args.image_archive), args.dir, { ...flattenOptionsFrom(args, ctx.io), force: args.force ?? false, hostname: args.hostname ?? 'layerfold' });
  for (const line of afterExtract(result.rootfs)) ctx.io.stderr.write(`${line}\n`);
}
