/** `layerfold inspect IMAGE`: layers, config and where the bytes go; a table, or --json. */
import type { Writable } from 'node:stream';
import type { CommandContext } from './main.js';
import type { InspectReport } from '../inspect/inspect.js';
import { dash, drained, flattenOptionsFrom, type ImageArgs, parseByteSize, parseFraction } from './shared.js';

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

/** Pieces gathered into chunks: a report listing a million paths is never one string. */
const CHUNK = 1 << 16;

/** Pieces gathered into chunks, each chunk the stream cannot take now waited for (see drained). */
async function writeJson(out: Writable, pieces: Iterable<string>): Promise<void> {
  let buf = '';
  for (const piece of pieces) {
    buf += piece;
    if (buf.length >= CHUNK) {
      if (!out.write(buf)) await drained(out);
      buf = '';
    }
  }
  if (!out.write(`${buf}\n`)) await drained(out);
}

export async function run(args: InspectArgs, ctx: CommandContext): Promise<void> {
  const { inspectImage } = await import('../inspect/inspect.js');
  const { jsonPieces, renderInspect, renderWasted } = await import('../inspect/render.js');
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
  if (args.json) await writeJson(io.stdout, jsonPieces(report, 2));
  else io.stdout.write(args.wasted ? renderWasted(report) : renderInspect(report, columns));
  const crossed = crossedGates(report, gates);
  if (crossed.length > 0) {
    io.stderr.write(`layerfold: ${crossed.join('; ')}\n`);
    ctx.exitCode = 1;
  }
}
