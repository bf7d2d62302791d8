/**
 * A private temporary directory for spooled layers and archives, removed when the work ends; the
 * files in it that were opened for reading are closed then too (no fd outlives a FlattenedImage).
 */
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';

export class TempSpace {
  private counter = 0;
  private readonly unregister: () => void;
  private readonly fds: number[] = [];
  private disposed = false;
  private constructor(readonly dir: string) {
    this.unregister = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
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
    for (const fd of this.fds.splice(0)) closeSync(fd);
    this.unregister();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
