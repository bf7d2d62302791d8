/**
 * Buffers whose first byte is page-aligned, for reads from the page cache.
 *
 * Why: the kernel copies file data to user memory with `rep movsb`, and on CPUs with fast-short-rep-mov
 * (AMD Zen here) that copy runs several times slower when the destination sits just above the source
 * modulo 4 KiB (by 1–31 bytes, measured). Node's large Buffers come from malloc, whose chunks start 16
 * bytes into a page; file data lies at 512-byte multiples; so a read into such a Buffer at a 4 KiB-aligned
 * file offset takes the slow path. Reading 1.24 GB into a malloc'd 4 MiB Buffer cost 0.6–0.9 s of
 * kernel time against 0.15 s into the same Buffer 16 bytes further on (BENCHMARKS.md, "What was tried").
 * With a page-aligned base and the 512-byte multiples tar offsets are, source and destination are
 * always 0 or ≥ 512 bytes apart modulo 4 KiB.
 *
 * WebAssembly memory is the one allocation in Node whose base is known to be page-aligned (V8 maps it
 * directly). Where it cannot be had (an address-space limit: V8 reserves guard regions around each
 * one, and a failed reservation costs ~0.1 s of last-resort garbage collection before it throws), a
 * plain Buffer still works, only slower, and no later call tries again.
 */
export function alignedBuffer(size: number): Buffer {
  // self-contained (no outer names but this function's own property): the hash worker runs it from
  // its source text
  const state = alignedBuffer as unknown as { wasmFailed?: boolean };
  if (!state.wasmFailed) {
    try {
      const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(size / (64 * 1024))) });
      return Buffer.from(memory.buffer, 0, size);
    } catch {
      state.wasmFailed = true;
    }
  }
  return Buffer.allocUnsafe(size);
}
