/** A private temporary directory for spooled layers and archives, removed when the work ends. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';

export class TempSpace {
  private counter = 0;
  private readonly unregister: () => void;
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

  dispose(): void {
    this.unregister();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
