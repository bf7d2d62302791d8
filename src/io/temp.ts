/**
 * A private temporary directory for spooled layers and archives, removed when the work ends; the
 * files in it that were opened for reading are closed then too (no fd outlives a FlattenedImage).
 * Whatever writes into it must have closed its file first (file-sink.ts): removal does not wait.
 *
 * dispose() never throws: it runs on the way out of a failure, and a removal that fails (a file
 * made behind it, an immutable file) must not put its own message in place of the error the user
 * needs. It is noted (the CLI says it under --debug) and left registered, so the CLI's
 * runAllCleanups — on an error, and at exit — tries the removal again.
 */
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noteCleanupFailure, onCleanup } from './cleanup.js';

/** Remove `dir`; a few retries on ENOTEMPTY/EBUSY (a belt only: writers are awaited before this). */
function removeTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 2, retryDelay: 50 });
}

export class TempSpace {
  private counter = 0;
  private readonly unregister: () => void;
  private readonly fds: number[] = [];
  private disposed = false;
  private constructor(readonly dir: string) {
    this.unregister = onCleanup(() => removeTree(dir));
  }

  static create(base?: string): TempSpace {
    return new TempSpace(mkdtempSync(join(base ?? tmpdir(), 'layerfold-')));
  }

  /** A fresh path inside the space. */
  path(hint: string): string {
    return join(this.dir, `${this.counter++}-${hint.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}`);
  }

  /** Close fd when the space is disposed (at once if it already is): spooled files opened for reading. */
  adoptFd(fd: number): void {
    if (this.disposed) closeSync(fd);
    else this.fds.push(fd);
  }

  dispose(): void {
    this.disposed = true;
    for (const fd of this.fds.splice(0)) {
      try {
        closeSync(fd);
      } catch (e) {
        noteCleanupFailure(`closing a spooled file in ${this.dir}: ${(e as Error).message}`);
      }
    }
    try {
      removeTree(this.dir);
      this.unregister();
    } catch (e) {
      noteCleanupFailure(`removing ${this.dir}: ${(e as Error).message}`);
    }
  }
}
