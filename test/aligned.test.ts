/**
 * alignedBuffer: what callers rely on (the length asked, memory of its own, usable by readSync). The
 * alignment itself is a speed property, measured in BENCHMARKS.md, not something a test can see.
 */
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { alignedBuffer } from '../src/io/aligned.js';
import { scratchDir } from './support/build.js';

describe('alignedBuffer', () => {
  it('has the length asked, its own memory, and takes positional reads', () => {
    const a = alignedBuffer(100_000);
    const b = alignedBuffer(100_000);
    expect(a.length).toBe(100_000);
    a.fill(1);
    b.fill(2);
    expect(a.every((x) => x === 1)).toBe(true);
    const file = join(scratchDir(), 'data');
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    writeFileSync(file, data);
    const fd = openSync(file, 'r');
    try {
      expect(readSync(fd, a, 512, 65_536, 1024)).toBe(65_536);
    } finally {
      closeSync(fd);
    }
    expect(a.subarray(512, 512 + 65_536).equals(data.subarray(1024, 1024 + 65_536))).toBe(true);
  });

  it('the hash worker, which builds its buffer from the same source text, still hashes right', async () => {
    const { HashPool } = await import('../src/io/hash-pool.js');
    const file = join(scratchDir(), 'big');
    const data = Buffer.alloc(9 << 20, 7); // above the inline limit: hashed on a worker
    writeFileSync(file, data);
    const fd = openSync(file, 'r');
    const pool = new HashPool();
    try {
      const { createHash } = await import('node:crypto');
      expect(await pool.hash(fd, 512, data.length - 512)).toEqual([createHash('sha256').update(data.subarray(512)).digest('hex')]);
    } finally {
      pool.close();
      closeSync(fd);
    }
  });

  it('once WebAssembly memory is refused (an address-space limit), gives plain Buffers without asking again', () => {
    // each refused reservation costs V8 a last-resort GC: 60 layers under `ulimit -v` took 23 s
    const memory = vi.spyOn(WebAssembly, 'Memory').mockImplementation(() => {
      throw new RangeError('WebAssembly.Memory(): could not allocate memory');
    });
    try {
      for (let i = 0; i < 5; i++) expect(alignedBuffer(4096).length).toBe(4096);
      expect(memory).toHaveBeenCalledTimes(1);
    } finally {
      memory.mockRestore();
      delete (alignedBuffer as unknown as { wasmFailed?: boolean }).wasmFailed;
    }
  });
});
