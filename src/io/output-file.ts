/**
 * An output file, made the same way by every writer (export's FileSink, mkfs's ImageFile, squash's
 * archive): under a temporary name beside its target, `.NAME.layerfold-PID[-N].tmp`, opened with
 * O_EXCL (never through something already standing there), registered for cleanup, and renamed into
 * place only when complete — so an error or a signal never leaves a partial output under the real
 * name. A target that exists and is not a regular file (a device, a fifo, /dev/null) may be written
 * in place instead.
 */
import { closeSync, openSync, renameSync, rmSync, statSync, constants as fsc } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LayerfoldError } from '../errors.js';
import { onCleanup } from './cleanup.js';

/** One line for a failed write: the target, and the reason in words. */
export function writeError(target: string, e: unknown): LayerfoldError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on device' : err.code === 'EACCES' ? 'permission denied' : err.message;
  return new LayerfoldError('IO', `${target}: cannot write: ${why}`, { cause: e });
}

/** pid plus a counter: two outputs in one process to the same name never share a temporary. */
let made = 0;

export function tempNameBeside(target: string): string {
  const n = made++;
  return join(dirname(target), `.${basename(target)}.layerfold-${process.pid}${n ? `-${n}` : ''}.tmp`);
}

export class OutputFile {
  readonly fd: number;
  /** The temporary name; undefined when the target is written in place. */
  readonly temp: string | undefined;
  private readonly unregister: () => void;
  private done = false;

  constructor(
    readonly target: string,
    options: { inPlaceIfSpecial?: boolean } = {},
  ) {
    let special = false;
    if (options.inPlaceIfSpecial) {
      try {
        special = !statSync(target).isFile();
      } catch {
        // absent: made through a temporary file
      }
    }
    this.temp = special ? undefined : tempNameBeside(target);
    try {
      this.fd = special ? openSync(target, fsc.O_WRONLY) : openSync(this.temp!, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
    } catch (e) {
      throw writeError(target, e);
    }
    this.unregister = onCleanup(() => this.abort());
  }

  /** Close and rename into place; `last` runs first, on the open file (a final truncate). */
  finish(last?: () => void): void {
    try {
      last?.();
      closeSync(this.fd);
      if (this.temp !== undefined) renameSync(this.temp, this.target);
    } catch (e) {
      this.abort();
      throw e instanceof LayerfoldError ? e : writeError(this.target, e);
    }
    this.done = true;
    this.unregister();
  }

  /** Close and remove the temporary (a target written in place is left as it is). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    if (this.temp !== undefined) rmSync(this.temp, { force: true });
    this.unregister();
  }
}
