/**
 * zstd: one code path over node:zlib (Node 22.15+) and the zstd-napi addon (Node 20, or wherever it
 * is installed): the same bytes out of both; a frame whose window is past docker's 512 MiB refused with
 * one line; windows bounded in total across streams decoded at once; a stream cut inside a frame refused.
 * Frames are made by the zstd CLI where it is installed, else by libzstd through the backend in use.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { decompressor, useZstdBackend, zstdBackend, zstdNapiAvailable, zstdSync, ZstdFrames, type ZstdBackend } from '../src/io/compression.js';
import { hasCommand } from './support/read.js';

const backends: ZstdBackend[] = [];
if (zstdBackend() === 'node:zlib') backends.push('node:zlib');
if (zstdNapiAvailable()) backends.push('zstd-napi');

afterEach(() => useZstdBackend(undefined));

/** Decode `input` fed in `pieces` chunks of the given size. */
async function decode(input: Buffer, chunk = 1 << 16): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const b of Readable.from(parts).pipe(decompressor('zstd'))) out.push(b as Buffer);
  return Buffer.concat(out);
}

/** A frame with the given Window_Descriptor byte and one raw last block holding `body`. */
function frameWithWindow(wd: number, body: Buffer): Buffer {
  const block = (1 | (0 << 1) | (body.length << 3)) >>> 0;
  return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, wd, block & 0xff, (block >> 8) & 0xff, (block >> 16) & 0xff]), body]);
}

const sample = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, 7), Buffer.from('end\n')]);
const frames = () => {
  if (!hasCommand('zstd')) return zstdSync.compress(sample);
  const r = spawnSync('zstd', ['-q', '-c', '--check'], { input: sample, maxBuffer: 1 << 26 });
  return r.stdout;
};

describe.each(backends)('zstd through %s', (backend) => {
  it('decodes every frame of a stream (node:zlib alone stops after the first), fed whole, in 64 KiB chunks, and byte by byte across headers', async () => {
    useZstdBackend(backend);
    const one = frames();
    // two frames and a skippable frame between them: one stream, as moby reads it
    const skippable = Buffer.concat([Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]);
    const stream = Buffer.concat([one, skippable, one]);
    expect((await decode(stream, stream.length)).equals(Buffer.concat([sample, sample]))).toBe(true);
    expect((await decode(stream)).equals(Buffer.concat([sample, sample]))).toBe(true);
    const head = Buffer.concat([one.subarray(0, 2000)]);
    const frames2 = new ZstdFrames();
    const windows: number[] = [];
    for (const byte of head) for (const piece of frames2.pieces(Buffer.from([byte]))) if (piece.window !== undefined) windows.push(piece.window);
    expect(windows).toHaveLength(1);
  });

  it('refuses a frame whose window is past 512 MiB, as docker does, naming the window', async () => {
    useZstdBackend(backend);
    const huge = frameWithWindow((20 << 3) | 0, Buffer.from('hello')); // 2^30: 1 GiB
    await expect(decode(huge)).rejects.toThrow(/^the zstd frame at byte 0 needs a 1024 MiB window; docker's decoder refuses windows past 512 MiB$/);
    // 512 MiB exactly (2^29) is what docker allows: decoded (the raw block needs no window memory)
    expect((await decode(frameWithWindow(19 << 3, Buffer.from('hello')))).toString()).toBe('hello');
  });

  it('refuses a stream that ends inside a frame', async () => {
    useZstdBackend(backend);
    const one = frames();
    await expect(decode(one.subarray(0, one.length - 3))).rejects.toThrow(/the stream ends in the middle of a zstd frame/);
  });

  it('bounds windows in total: a second stream whose window does not fit waits until the first one closes', async () => {
    useZstdBackend(backend);
    // 100 MiB windows (2^26 + 4 x 2^23): two do not fit in the 128 MiB budget
    const wd = (16 << 3) | 4;
    const first = decompressor('zstd');
    let firstClosed = false;
    first.once('close', () => (firstClosed = true)); // synchronously with the release of its window
    const firstOut = new Promise<string>((resolve) => first.once('data', (b: Buffer) => resolve(b.toString())));
    first.write(frameWithWindow(wd, Buffer.from('one'))); // a whole frame; the stream stays open, holding its window
    expect(await firstOut).toBe('one');
    const second = decode(frameWithWindow(wd, Buffer.from('two'))).then((b) => ({ text: b.toString(), firstClosed }));
    await new Promise((r) => setTimeout(r, 200));
    first.end();
    first.resume();
    expect(await second).toEqual({ text: 'two', firstClosed: true });
  });
});
