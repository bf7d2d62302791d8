/**
 * The progress line: drawn only on a terminal, never with --quiet or --json, throttled, erased at
 * the end; and export through the CLI draws it on a fake TTY without changing the output.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { describeProgress, formatBytes, progressFor } from '../src/progress.js';
import type { TarEntry } from '../src/tar/entries.js';
import { scratchDir } from './support/build.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { isTTY, columns: 80, write: (s: string | Uint8Array) => (writes.push(String(s)), true), writes };
}

const fileEntry = (size: number) => ({ type: 'file', size }) as TarEntry;

describe('progress line', () => {
  it('is silent when stderr is not a terminal, with --quiet, and with --json', () => {
    for (const [tty, when] of [[false, {}], [true, { quiet: true }], [true, { json: true }]] as const) {
      const s = fakeStream(tty);
      const p = progressFor(s, when, { timer: false });
      p.phase('reading layers');
      p.onEntry(0, fileEntry(10));
      p.update({ bytes: 5, entries: 1 });
      p.done();
      expect(p.enabled).toBe(false);
      expect(s.writes).toEqual([]);
    }
  });

  it('redraws at most fps times a second and erases itself at the end', () => {
    let now = 0;
    const s = fakeStream(true);
    const p = progressFor(s, {}, { timer: false, fps: 10, now: () => now });
    p.phase('writing', { bytes: 1000, entries: 10 });
    for (let i = 1; i <= 100; i++) {
      now = i; // 100 updates within 100 ms
      p.update({ bytes: i * 10, entries: i });
    }
    expect(s.writes.length).toBe(2); // the phase start, and one redraw once 100 ms had passed
    now = 2000;
    p.update({ bytes: 500, entries: 5 });
    expect(s.writes.at(-1)).toBe('\r\x1b[K' + 'writing · 50% · 500 B / 1000 B · 5 / 10 entries · 250 B/s · 2s left');
    p.done();
    expect(s.writes.at(-1)).toBe('\r\x1b[K');
    const before = s.writes.length;
    p.update({ bytes: 600 });
    p.done();
    expect(s.writes.length).toBe(before); // nothing drawn after done
  });

  it('counts entries and file bytes through onEntry, naming the layer', () => {
    let now = 0;
    const s = fakeStream(true);
    const p = progressFor(s, {}, { timer: false, now: () => now });
    p.phase('reading layers');
    for (let i = 0; i < 512; i++) {
      now = i * 10;
      p.onEntry(i < 256 ? 0 : 1, fileEntry(1024));
    }
    expect(s.writes.at(-1)).toMatch(/^\r\x1b\[Kreading layers · layer 2 · 512\.0 KiB · 512 entries · /);
    p.done();
  });

  it('says what it knows', () => {
    expect(describeProgress({ phase: 'writing', bytes: 0, entries: 0 }, 100)).toBe('writing · 0s');
    expect(describeProgress({ phase: 'writing', bytes: 3 * 1024 * 1024, entries: 7 }, 3000)).toBe('writing · 3.0 MiB · 7 entries · 1.0 MiB/s');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });

  it('export on a terminal draws the line on stderr and writes the same tar', async () => {
    const image = 'fixtures/conformance/natural-docker26/image.tar';
    const dir = scratchDir();
    const outputs: Buffer[] = [];
    for (const [tty, name] of [[true, 'a.tar'], [false, 'b.tar']] as const) {
      const stderr = new PassThrough();
      const err: string[] = [];
      stderr.on('data', (c: Buffer) => err.push(c.toString()));
      Object.assign(stderr, { isTTY: tty, columns: 100 });
      const code = await run(['export', image, '-o', join(dir, name)], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} });
      expect(code).toBe(0);
      const text = err.join('');
      if (tty) {
        expect(text).toContain('reading layers');
        expect(text.endsWith('\r\x1b[K')).toBe(true);
      } else expect(text).toBe('');
      outputs.push(readFileSync(join(dir, name)));
    }
    expect(outputs[0]!.equals(outputs[1]!)).toBe(true);
  });
});
