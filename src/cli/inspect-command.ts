/** `layerfold inspect IMAGE`: layers, config and where the bytes go; a table, or --json. */
import { jsonText } from '../escape.js';
import type { CommandModule } from 'yargs';
import type { CommandContext } from './main.js';
import type { InspectReport } from '../inspect/inspect.js';
import { dash, flattenOptionsFrom, type ImageArgs, imageOptions, parseByteSize, parseFraction } from './shared.js';

interface InspectArgs extends ImageArgs {
  image_archive: string;
  json?: boolean;
  quiet?: boolean;
  wasted?: boolean;
  'min-efficiency'?: number;
  'max-wasted'?: string;
  'max-wasted-percent'?: number;
}

interface Gates {
  minEfficiency?: number | undefined;
  maxWasted?: number | undefined;
  maxPercent?: number | undefined;
}

/** dive's three CI rules, from the flags (checked before any work is done). */
function gatesOf(args: InspectArgs): Gates {
  return {
    minEfficiency: parseFraction(args['min-efficiency'], '--min-efficiency'),
    maxWasted: args['max-wasted'] === undefined ? undefined : parseByteSize(args['max-wasted'], '--max-wasted'),
    maxPercent: parseFraction(args['max-wasted-percent'], '--max-wasted-percent'),
  };
}

/** The rules the image crosses, each one clause of the line printed. */
function crossedGates(report: InspectReport, { minEfficiency, maxWasted, maxPercent }: Gates): string[] {
  const out: string[] = [];
  const { dive } = report;
  if (minEfficiency !== undefined && dive.efficiency < minEfficiency) out.push(`efficiency ${dive.efficiency.toFixed(4)} is below --min-efficiency ${minEfficiency}`);
  if (maxWasted !== undefined && dive.wastedBytes > maxWasted) out.push(`${dive.wastedBytes} wasted bytes are over --max-wasted ${maxWasted}`);
  if (maxPercent !== undefined && dive.userWastedPercent > maxPercent) out.push(`user wasted ${dive.userWastedPercent.toFixed(4)} is over --max-wasted-percent ${maxPercent}`);
  return out;
}

export function inspectCommand(ctx: CommandContext): CommandModule<object, InspectArgs> {
  return {
    command: 'inspect <image_archive>',
    describe: 'show the image: layout, config, layers with their sizes, history and wasted bytes',
    builder: (y) =>
      imageOptions(y)
        .positional('image_archive', { type: 'string', demandOption: true, describe: 'image archive, OCI layout directory, or - for stdin' })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (with each layer\'s added, modified and deleted paths)' })
        .option('wasted', { type: 'boolean', default: false, describe: 'list the paths found in more than one layer, largest first (dive\'s inefficiencies)' })
        .option('min-efficiency', { type: 'number', describe: 'exit 1 when dive\'s efficiency is below this fraction (dive: lowestEfficiency)' })
        .option('max-wasted', { type: 'string', describe: 'exit 1 when dive\'s wasted bytes are over this size: 20MB, 1GiB, or bytes (dive: highestWastedBytes)' })
        .option('max-wasted-percent', { type: 'number', describe: 'exit 1 when wasted bytes over the bytes added above the first layer exceed this fraction (dive: highestUserWastedPercent)' })
        .example('$0 inspect image.tar', '')
        .example('$0 inspect image.tar --json | jq .totals.efficiency', '')
        .example('$0 inspect image.tar --min-efficiency 0.95 --max-wasted 20MB --max-wasted-percent 0.1', '') as never,
    handler: async (args) => {
      const { inspectImage } = await import('../inspect/inspect.js');
      const { renderInspect, renderWasted } = await import('../inspect/render.js');
      const gates = gatesOf(args);
      const { progressFor } = await import('../progress.js');
      const { io } = ctx;
      const progress = progressFor(io.stderr, { quiet: args.quiet, json: args.json });
      let report;
      try {
        progress.phase('reading layers');
        report = await inspectImage(dash(args.image_archive), { ...flattenOptionsFrom(args, io), changes: args.json ?? false, onEntry: progress.onEntry, onUnpack: progress.onUnpack });
      } finally {
        progress.done();
      }
      const columns = io.stdout.isTTY ? ((io.stdout as { columns?: number }).columns ?? 100) : undefined;
      io.stdout.write(args.json ? `${jsonText(report, 2)}\n` : args.wasted ? renderWasted(report) : renderInspect(report, columns));
      const crossed = crossedGates(report, gates);
      if (crossed.length > 0) {
        io.stderr.write(`layerfold: ${crossed.join('; ')}\n`);
        ctx.exitCode = 1;
      }
    },
  };
}
