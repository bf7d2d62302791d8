/**
 * Everything layerfold creates on disk before it is complete (temporary outputs, spooled layers) is
 * registered here, so that an error, SIGINT or SIGTERM removes it. Cleanups are synchronous because
 * a signal handler cannot wait.
 */
import { rmSync } from 'node:fs';

const pending = new Set<() => void>();

export function onCleanup(fn: () => void): () => void {
  pending.add(fn);
  return () => pending.delete(fn);
}

export function removeOnCleanup(path: string): () => void {
  return onCleanup(() => rmSync(path, { recursive: true, force: true }));
}

/** Cleanups that failed, said only under --debug: never in place of the error that brought us there. */
const failures: string[] = [];

/** A cleanup failed where it was first tried (its owner leaves it registered, so runAllCleanups tries again). */
export function noteCleanupFailure(message: string): void {
  failures.push(message);
}

/** The cleanup failures noted since the last call, for the CLI's --debug warnings. */
export function takeCleanupFailures(): string[] {
  return failures.splice(0);
}

/** Run every registered cleanup (on a fatal error or a signal). */
export function runAllCleanups(): void {
  for (const fn of [...pending]) {
    pending.delete(fn);
    try {
      fn();
    } catch (e) {
      // best effort: a cleanup that fails must not hide the error that brought us here
      noteCleanupFailure((e as Error).message);
    }
  }
}
