/** `layerfold diff A B`: exit 0 equal, 1 different, 2 error. */
import { printable } from '../escape.js';
import { FIELDS, type FieldName } from '../diff/compare.js';
import { LayerfoldError } from '../errors.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs } from './shared.js';

interface DiffArgs extends ImageArgs {
  a: string;
  b: string;
  json?: boolean;
  stat?: boolean;
  'ignore-init'?: boolean;
  ignore?: string[];
  order?: boolean;
  bytes?: boolean;
}

/** `--ignore mtime,uid --ignore gid` → the field names, checked. */
export function parseIgnore(values: string[] | undefined): FieldName[] {
  const aliases: Record<string, FieldName> = { content: 'digest', target: 'link', devices: 'device', xattr: 'xattrs', hardlink: 'hardlinks', links: 'hardlinks' };
  const out: FieldName[] = [];
  for (const word of (values ?? []).flatMap((v) => String(v).split(','))) {
    const name = word.trim();
    if (name === '') continue;
    const field = (FIELDS as readonly string[]).includes(name) ? (name as FieldName) : aliases[name];
    if (field === undefined) throw new LayerfoldError('USAGE', `--ignore ${name}: not a field; fields are ${FIELDS.join(', ')}`);
    out.push(field);
  }
  return out;
}

export async function run(args: DiffArgs, ctx: CommandContext): Promise<void> {
  const { diffRootfs } = await import('../diff/diff.js');
  const { renderDiff } = await import('../diff/report.js');
  const { io } = ctx;
  const outcome = await diffRootfs(dash(args.a), dash(args.b), {
    flatten: flattenOptionsFrom(args, io),
    ignore: parseIgnore(args.ignore),
    ignoreInit: args['ignore-init'] ?? false,
    order: args.order ?? false,
    bytes: args.bytes ?? false,
    stdin: io.stdin,
  });
  const color = io.stdout.isTTY === true && !io.env.NO_COLOR;
  if (outcome.mode === 'entries' && !args.json) for (const note of outcome.result.notes) io.stderr.write(`layerfold: note: ${printable(note)}\n`);
  io.stdout.write(renderDiff(outcome, { json: args.json ?? false, stat: args.stat ?? false, color }));
  ctx.exitCode = outcome.result.equal ? 0 : 1;
}
