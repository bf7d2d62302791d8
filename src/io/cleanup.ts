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

/** Run every registered cleanup (on a fatal error or a signal). */
export function runAllCleanups(): void {
  for (const fn of [...pending]) {
    pending.delete(fn);
    try {
      fn();
    } catch {
      // best effort: a cleanup that fails must not hide the error that brought us here
    }
  }
}
