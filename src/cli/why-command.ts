/** `layerfold why IMAGE PATH`: one path's history through the layers, and its final state. */
import { jsonText } from '../escape.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface WhyArgs extends ImageArgs {
  image_archive: string;
  path: string;
  json?: boolean;
}

export async function run(args: WhyArgs, ctx: CommandContext): Promise<void> {
  const { jsonName, renderWhy } = await import('../inspect/render.js');
  const { explainPath } = await import('../inspect/why.js');
  const { io } = ctx;
  const report = await explainPath(dash(args.image_archive), args.path, flattenOptionsFrom(args, io));
  if (args.json) {
    const json = {
      ...report,
      path: jsonName(report.path).name,
      steps: report.steps.map((s) => ({ ...s, entry: jsonName(s.entry).name, ...(s.other !== undefined ? { other: jsonName(s.other).name } : {}) })),
    };
    io.stdout.write(`${jsonText(json, 2)}\n`);
    return;
  }
  const columns = io.stdout.isTTY ? ((io.stdout as { columns?: number }).columns ?? 100) : undefined;
  io.stdout.write(Buffer.from(renderWhy(report, columns), 'utf8'));
}
