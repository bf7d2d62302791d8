/** Turning parsed arguments into library options, shared by every command that reads an image. */
import { LayerfoldError } from '../errors.js';
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
  'connect-timeout'?: number | undefined;
  'response-timeout'?: number | undefined;
  'idle-timeout'?: number | undefined;
  'min-speed'?: number | undefined;
  retries?: number | undefined;
}

function positive(value: number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) throw new LayerfoldError('USAGE', `${flag} takes a positive number`);
  return value;
}

function nonNegative(value: number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0) throw new LayerfoldError('USAGE', `${flag} takes a number, 0 or more`);
  return value;
}

/** --connect-timeout, --response-timeout, --idle-timeout (seconds) and --min-speed (bytes/s); only those given. */
function timeoutsFrom(args: ImageArgs): NonNullable<FlattenOptions['timeouts']> | undefined {
  const t: NonNullable<FlattenOptions['timeouts']> = {};
  const ms = (flag: 'connect-timeout' | 'response-timeout' | 'idle-timeout') => {
    const s = positive(args[flag], `--${flag}`);
    return s === undefined ? undefined : Math.max(1, Math.round(s * 1000));
  };
  const connect = ms('connect-timeout');
  const response = ms('response-timeout');
  const idle = ms('idle-timeout');
  const speed = nonNegative(args['min-speed'], '--min-speed');
  if (connect !== undefined) t.connectMs = connect;
  if (response !== undefined) t.responseMs = response;
  if (idle !== undefined) t.idleMs = idle;
  if (speed !== undefined) t.minBytesPerSecond = speed;
  return Object.keys(t).length ? t : undefined;
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
  const timeouts = timeoutsFrom(args);
  if (timeouts) options.timeouts = timeouts;
  const retries = nonNegative(args.retries, '--retries');
  if (retries !== undefined) options.attempts = Math.floor(retries) + 1;
  const maxSize = positive(args['max-size'], '--max-size');
  if (maxSize !== undefined) options.maxSize = maxSize;
  const maxEntries = positive(args['max-entries'], '--max-entries');
  if (maxEntries !== undefined) options.maxEntries = maxEntries;
  if (args['implied-mtime'] !== undefined) options.impliedMtime = parseTime(args['implied-mtime'], '--implied-mtime');
  const init = dockerInitTime(args['docker-init']);
  if (init !== undefined) options.dockerInit = init;
  return options;
}
