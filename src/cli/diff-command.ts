/** `layerfold diff A B`: exit 0 equal, 1 different, 2 error. */
import { printable } from '../escape.js';
import type { CommandModule } from 'yargs';
import { FIELDS, type FieldName } from '../diff/compare.js';
import { LayerfoldError } from '../errors.js';
import type { CommandContext } from './main.js';
import { dash, flattenOptionsFrom, type ImageArgs, imageOptions } from './shared.js';

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

export function diffCommand(ctx: CommandContext): CommandModule<object, DiffArgs> {
  return {
    command: 'diff <a> <b>',
    describe: 'compare two root filesystems: rootfs tars (plain, gzip, zstd), directories, or images (flattened as export would)',
    builder: (y) =>
      imageOptions(y)
        .positional('a', { type: 'string', demandOption: true, describe: 'rootfs tar, directory, image archive or OCI layout; - for stdin' })
        .positional('b', { type: 'string', demandOption: true, describe: 'the same kinds as A' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .option('stat', { type: 'boolean', default: false, describe: 'print only the counts' })
        .option('ignore-init', { type: 'boolean', default: false, describe: 'ignore what `docker create` adds (init paths, WorkingDir, etc/ and dev/ mtimes)' })
        .option('ignore', { type: 'string', array: true, describe: `fields not to compare, comma-separated: ${FIELDS.join(',')}` })
        .option('order', { type: 'boolean', default: false, describe: 'also compare the order of entries' })
        .option('bytes', { type: 'boolean', default: false, describe: 'compare the archives byte for byte; report the first differing header field' })
        .option('docker-init', { type: 'string', describe: 'flatten image sides with what `docker create` adds at TIME (as export --docker-init)' })
        .example('$0 diff rootfs.tar docker-export.tar --ignore-init', '')
        .example('$0 diff image.tar docker-export.tar.gz --ignore-init --json', '') as never,
    handler: async (args) => {
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
    },
  };
}
