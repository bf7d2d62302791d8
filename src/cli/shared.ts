/** Turning parsed arguments into library options, shared by every command that reads an image. */
import { LayerfoldError } from '../errors.js';
import type { Argv } from 'yargs';
import type { FlattenOptions } from '../flatten.js';
import { parseTime } from '../time.js';
import type { CliIO } from './main.js';

export interface ImageArgs {
  image?: string | undefined;
  platform?: string | undefined;
  verify?: boolean | undefined;
  tmpdir?: string | undefined;
  'max-size'?: number | undefined;
  'max-entries'?: number | undefined;
  'implied-mtime'?: string | undefined;
  'docker-init'?: string | undefined;
  creds?: string | undefined;
  insecure?: boolean | undefined;
  include?: string[] | undefined;
  exclude?: string[] | undefined;
}

/** `--include` / `--exclude`, for the commands that write or list the tree. */
export function filterOptions<T>(y: Argv<T>) {
  return y
    .option('include', { type: 'string', array: true, describe: 'keep only PATTERN (a path means its subtree; globs: * ? [..] **; repeatable)' })
    .option('exclude', { type: 'string', array: true, describe: 'leave out PATTERN and its subtree (wins over --include; repeatable)' });
}

function positive(value: number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) throw new LayerfoldError('USAGE', `${flag} takes a positive number`);
  return value;
}

/**
 * yargs turns a lone `-` argument into '' or `true`; run() swaps it for this marker before parsing,
 * and commands turn it back with `dash()`.
 */
export const DASH_MARKER = '\u0000-';

export function dash<T>(value: T): T | '-' {
  return value === DASH_MARKER ? '-' : value;
}

/** `--docker-init` alone means now; `--docker-init=TIME` a given time. */
export function dockerInitTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === '' || value === 'now') return Math.floor(Date.now() / 1000);
  return parseTime(value, '--docker-init');
}

export function flattenOptionsFrom(args: ImageArgs, io: CliIO): FlattenOptions {
  const options: FlattenOptions = { verify: args.verify ?? true, stdin: io.stdin };
  if (args.image !== undefined) options.image = args.image;
  if (args.platform !== undefined) options.platform = args.platform;
  if (args.tmpdir !== undefined) options.tmpDir = args.tmpdir;
  if (args.creds !== undefined) options.creds = args.creds;
  if (args.insecure) options.insecure = true;
  if (args.include?.length) options.include = args.include.map(String);
  if (args.exclude?.length) options.exclude = args.exclude.map(String);
  const maxSize = positive(args['max-size'], '--max-size');
  if (maxSize !== undefined) options.maxSize = maxSize;
  const maxEntries = positive(args['max-entries'], '--max-entries');
  if (maxEntries !== undefined) options.maxEntries = maxEntries;
  if (args['implied-mtime'] !== undefined) options.impliedMtime = parseTime(args['implied-mtime'], '--implied-mtime');
  const init = dockerInitTime(args['docker-init']);
  if (init !== undefined) options.dockerInit = init;
  return options;
}
