/** Turning parsed arguments into library options, shared by every command that reads an image. */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
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
  'connect-timeout'?: number | undefined;
  'response-timeout'?: number | undefined;
  'idle-timeout'?: number | undefined;
  'min-speed'?: number | undefined;
  'stall-timeout'?: number | undefined;
  retries?: number | undefined;
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

function nonNegative(value: number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0) throw new LayerfoldError('USAGE', `${flag} takes a number, 0 or more`);
  return value;
}

/** --connect-timeout, --response-timeout, --idle-timeout, --stall-timeout (seconds) and --min-speed (bytes/s); only those given. */
function timeoutsFrom(args: ImageArgs): NonNullable<FlattenOptions['timeouts']> | undefined {
  const t: NonNullable<FlattenOptions['timeouts']> = {};
  const ms = (flag: 'connect-timeout' | 'response-timeout' | 'idle-timeout' | 'stall-timeout') => {
    const s = positive(args[flag], `--${flag}`);
    return s === undefined ? undefined : Math.max(1, Math.round(s * 1000));
  };
  const connect = ms('connect-timeout');
  const response = ms('response-timeout');
  const idle = ms('idle-timeout');
  const stall = ms('stall-timeout');
  const speed = nonNegative(args['min-speed'], '--min-speed');
  if (connect !== undefined) t.connectMs = connect;
  if (response !== undefined) t.responseMs = response;
  if (idle !== undefined) t.idleMs = idle;
  if (stall !== undefined) t.stallMs = stall;
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
  if (args.include?.length) options.include = args.include.map(String);
  if (args.exclude?.length) options.exclude = args.exclude.map(String);
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

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4,
};

/** `20MB`, `1.5 GiB`, `4096`: bytes, read as dive reads its sizes (go-humanize: MB = 10^6, MiB = 2^20). */
export function parseByteSize(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new LayerfoldError('USAGE', `${flag} takes a size such as 20MB, 1.5GiB or 4096 (bytes), not ${JSON.stringify(text)}`);
  return Math.round(Number(m[1]) * unit);
}

/** A fraction from 0 to 1, as dive's CI rules take them. */
export function parseFraction(value: number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new LayerfoldError('USAGE', `${flag} takes a fraction from 0 to 1 (0.95 for 95 %)`);
  return value;
}

/** Options every command that reads an image takes. */
export function imageOptions<T>(y: Argv<T>) {
  return y
    .option('image', { type: 'string', describe: 'NAME:TAG of the image to use when the archive holds several' })
    .option('platform', { type: 'string', describe: 'os/arch[/variant] to pick from a multi-platform index (default: the host\'s)' })
    .option('verify', { type: 'boolean', default: true, describe: 'check layers against diff_ids and blobs against descriptors (--no-verify skips)' })
    .option('tmpdir', { type: 'string', describe: 'directory for spooled (decompressed) layers' })
    .option('max-size', { type: 'number', describe: 'refuse layers that unpack to more bytes than this (default 256 GiB)' })
    .option('max-entries', { type: 'number', describe: 'refuse layers holding more entries than this (default 8,000,000)' })
    .option('creds', { type: 'string', describe: 'USER:PASS for a docker:// registry (default: ~/.docker/config.json, else anonymous)' })
    .option('insecure', { type: 'boolean', describe: 'docker://: do not verify TLS certificates; allow plain HTTP' })
    .option('connect-timeout', { type: 'number', describe: 'docker://, docker-daemon:: seconds to connect, TLS included (default 10)' })
    .option('response-timeout', { type: 'number', describe: 'docker://, docker-daemon:: seconds from sending a request to its response headers, connecting and redirects included (default 12)' })
    .option('idle-timeout', { type: 'number', describe: 'docker://, docker-daemon:: seconds a transfer may go without a byte (default 12)' })
    .option('min-speed', { type: 'number', describe: 'docker://, docker-daemon:: bytes/s a transfer must average over each --idle-timeout window (default 1024; 0: off)' })
    .option('stall-timeout', { type: 'number', describe: 'docker://: seconds a pull may go without progress across all its requests, short stalls adding up unless bytes flow between them at --min-speed (default 30)' })
    .option('retries', { type: 'number', describe: 'docker://: retries after a reset, time-out or 5xx, with backoff, started only within response + idle time-out of the first attempt (default 4)' })
    .option('implied-mtime', { type: 'string', describe: 'mtime (RFC 3339 or epoch seconds) for directories docker would make while unpacking (default: the image\'s created time)' });
}

/**
 * Resolves once `stream` takes writes again ('drain'): a command writing a big report waits for a
 * pipe whose reader is slower instead of queueing the report in memory. Rejects on 'error'.
 */
export function drained(stream: Writable): Promise<void> {
  return once(stream, 'drain').then(() => undefined);
}
