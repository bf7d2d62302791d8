/**
 * One error type for everything the user can get wrong or be handed wrong.
 * `code` is a stable string tests and callers can match; `exitCode` is what the CLI exits with.
 * Messages name the archive member or layer entry first, then what is wrong, then (when useful)
 * what to do — one line, no stack trace unless --debug.
 */
import { jsonText } from './escape.js';

export type ErrorCode =
  | 'BAD_ARCHIVE' // the outer image archive is not a readable tar / layout
  | 'BAD_LAYOUT' // manifest / index / config missing or malformed
  | 'BAD_LAYER' // a layer tar is malformed
  | 'BAD_ENTRY' // a layer entry breaks a rule docker enforces
  | 'PATH_ESCAPE' // a name or link would leave the root
  | 'DIGEST_MISMATCH'
  | 'NOT_FOUND' // image, platform, member or blob not present
  | 'UNSUPPORTED'
  | 'LIMIT' // --max-size / --max-entries exceeded
  | 'USAGE'
  | 'IO'
  | 'AUTH' // a registry refused or asked for credentials
  | 'INTERRUPTED';

export class LayerfoldError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LayerfoldError';
    this.code = code;
    this.exitCode = options?.exitCode ?? 2;
  }
}

export function isLayerfoldError(e: unknown): e is LayerfoldError {
  return e instanceof LayerfoldError;
}

/** Prefix context onto a LayerfoldError as it rises ("layer 3 (sha256:ab…): "), keeping its code. */
export function addContext(context: string, e: unknown): unknown {
  if (e instanceof LayerfoldError) {
    const wrapped = new LayerfoldError(e.code, `${context}: ${e.message}`, { cause: e.cause, exitCode: e.exitCode });
    wrapped.stack = e.stack;
    return wrapped;
  }
  return e;
}

export { printable } from './escape.js';

/** Names longer than this are cut in messages: a hostile name can be megabytes, and the line must stay a line. */
const SHOWN_NAME_MAX = 200;

/** Render a name made of raw bytes (held as a latin1 string) for an error message. */
export function showName(latin1: string): string {
  const text = Buffer.from(latin1, 'latin1').toString('utf8');
  const shown = showText(text.length > SHOWN_NAME_MAX ? text.slice(0, SHOWN_NAME_MAX) : text);
  return text.length > SHOWN_NAME_MAX ? `${shown}… (${latin1.length} bytes)` : shown;
}

/** Render text from an image (a config value, a tag) for an error message: quoted, every control character escaped, cut when long. */
export function showText(text: string): string {
  const cut = text.length > SHOWN_NAME_MAX ? text.slice(0, SHOWN_NAME_MAX) : text;
  const shown = jsonText(cut);
  return text.length > SHOWN_NAME_MAX ? `${shown}… (${text.length} characters)` : shown;
}
