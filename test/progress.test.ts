/**
 * The progress line: drawn only on a terminal, never with --quiet or --json, throttled, erased at
 * the end; and export through the CLI draws it on a fake TTY without changing the output.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { describeProgress, formatBytes, progressFor } from '../src/progress.js';
import type { TarEntry } from '../src/tar/entries.js';
import { flattenImage } from '../src/flatten.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';

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

  it('shows decompression as a phase of its own, then the phase it interrupted with the first entry', () => {
    let now = 0;
    const s = fakeStream(true);
    const p = progressFor(s, {}, { timer: false, now: () => now });
    p.phase('reading layers');
    p.onUnpack('archive', 100, undefined);
    expect(s.writes.at(-1)).toBe('\r\x1b[Kreading the archive · 100 B · 0s');
    now = 1000;
    p.onUnpack('layers', 250, 1000);
    expect(s.writes.at(-1)).toBe('\r\x1b[Kdecompressing layers · 25% · 250 B / 1000 B · 0s');
    now = 2000;
    p.onUnpack('layers', 500, 1000);
    expect(s.writes.at(-1)).toBe('\r\x1b[Kdecompressing layers · 50% · 500 B / 1000 B · 500 B/s · 1s left');
    now = 2500;
    p.onEntry(0, fileEntry(10));
    expect(s.writes.at(-1)).toBe('\r\x1b[Kreading layers · 0s'); // the phase before the archive spooled
    now = 3000;
    p.onEntry(0, fileEntry(10));
    p.update({});
    expect(s.writes.at(-1)).toMatch(/^\r\x1b\[Kreading layers · layer 1 · 20 B · 2 entries · /);
    p.done();
  });

  it('flattenImage reports the compressed bytes of compressed layers and archives as they are read', async () => {
    // incompressible content: several 1 MiB reads per layer, so the report is seen to grow
    const layers = await Promise.all([0, 1].map((i) => layerTar([e(`f${i}`, { content: randomBytes(3 << 20) })])));
    const oci = await imageArchive(layers, { layout: 'oci', compression: 'gzip' });
    const seen = async (path: string) => {
      const calls: Array<[string, number, number | undefined]> = [];
      const flat = await flattenImage(path, { onUnpack: (what, read, total) => calls.push([what, read, total]) });
      flat.close();
      return calls;
    };
    const blobTotal = storedLayerBytes(oci);
    const calls = await seen(writeTemp(oci));
    expect(calls.length).toBeGreaterThan(2);
    expect(calls.every(([what, , total]) => what === 'layers' && total === blobTotal)).toBe(true);
    expect(calls.map(([, read]) => read)).toEqual([...calls.map(([, read]) => read)].sort((a, b) => a - b));
    expect(calls.at(-1)![1]).toBe(blobTotal);

    const gz = writeTemp(gzipSync(await imageArchive(layers)), 'image.tar.gz');
    const archiveCalls = await seen(gz);
    expect(archiveCalls.length).toBeGreaterThan(0);
    expect(archiveCalls.every(([what, , total]) => what === 'archive' && total === statSync(gz).size)).toBe(true);
    expect(archiveCalls.at(-1)![1]).toBe(statSync(gz).size);

    expect(await seen(writeTemp(await imageArchive(layers)))).toEqual([]); // nothing to unpack
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

/** The stored (compressed) size of an OCI archive's layer blobs, read from its manifest. */
function storedLayerBytes(archive: Buffer): number {
  const text = archive.toString('latin1');
  const manifest = /\{"schemaVersion":2,"mediaType":"application\/vnd\.oci\.image\.manifest\.v1\+json"[^\0]*?\]\}/.exec(text);
  const parsed = JSON.parse(manifest![0]) as { layers: Array<{ size: number }> };
  return parsed.layers.reduce((sum, l) => sum + l.size, 0);
}
