/**
 * A minimal, deterministic USTAR writer for the benchmark generator. It exists so the generator can
 * stream gigabytes to disk without a tar library's per-entry overhead and without ever holding a
 * layer in memory: headers and data go into a 1 MiB chunk that is handed to an async consumer when
 * full. Every field is fixed by the caller (no clock, no user lookup), so equal inputs give equal bytes.
 * Names must fit USTAR (100 bytes, or a 155-byte prefix split at a '/'); the generator keeps them short.
 */

const BLOCK = 512;
export const CHUNK = 1 << 20;

function octal(buf, offset, length, value) {
  const text = value.toString(8).padStart(length - 1, '0');
  if (text.length > length - 1) throw new Error(`tar-writer: ${value} does not fit ${length - 1} octal digits`);
  buf.write(text, offset, length - 1, 'latin1');
  buf[offset + length - 1] = 0;
}

function splitName(name) {
  if (Buffer.byteLength(name, 'latin1') <= 100) return { name, prefix: '' };
  const cut = name.lastIndexOf('/', 155);
  if (cut <= 0 || name.length - cut - 1 > 100) throw new Error(`tar-writer: name too long for USTAR: ${name}`);
  return { name: name.slice(cut + 1), prefix: name.slice(0, cut) };
}

const TYPEFLAGS = { file: '0', link: '1', symlink: '2', dir: '5' };

/**
 * One 512-byte USTAR header.
 * @param {{name: string, type: 'file'|'link'|'symlink'|'dir', size?: number, mode?: number,
 *          uid?: number, gid?: number, mtime: number, linkname?: string}} entry
 */
export function ustarHeader(entry) {
  const buf = Buffer.alloc(BLOCK);
  const name = entry.type === 'dir' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  const split = splitName(name);
  buf.write(split.name, 0, 100, 'latin1');
  octal(buf, 100, 8, entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644));
  octal(buf, 108, 8, entry.uid ?? 0);
  octal(buf, 116, 8, entry.gid ?? 0);
  octal(buf, 124, 12, entry.type === 'file' ? (entry.size ?? 0) : 0);
  octal(buf, 136, 12, entry.mtime);
  buf.fill(0x20, 148, 156);
  buf.write(TYPEFLAGS[entry.type], 156, 1, 'latin1');
  if (entry.linkname) buf.write(entry.linkname, 157, 100, 'latin1');
  buf.write('ustar\u000000', 257, 8, 'latin1');
  buf.write('root', 265, 32, 'latin1');
  buf.write('root', 297, 32, 'latin1');
  if (split.prefix) buf.write(split.prefix, 345, 155, 'latin1');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i];
  buf.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  buf[154] = 0;
  buf[155] = 0x20;
  return buf;
}

export function paddingFor(size) {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Collects bytes into CHUNK-sized buffers and passes each full one to `consume` (awaited, so a slow
 * disk or compressor applies backpressure). Each handed-over buffer is fresh: consumers may keep it.
 */
export class ChunkWriter {
  /** @param {(chunk: Buffer) => Promise<void> | void} consume */
  constructor(consume) {
    this.consume = consume;
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.used = 0;
    this.total = 0;
  }

  async flush() {
    if (this.used === 0) return;
    const chunk = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.used = 0;
    await this.consume(chunk);
  }

  /** Copy bytes in, flushing as chunks fill. */
  async write(bytes) {
    let off = 0;
    while (off < bytes.length) {
      if (this.used === CHUNK) await this.flush();
      const n = bytes.copy(this.buf, this.used, off, Math.min(bytes.length, off + CHUNK - this.used));
      this.used += n;
      off += n;
      this.total += n;
    }
  }

  /**
   * Write `size` bytes produced by `fill(target, start, end, produced)`, which fills target[start, end)
   * with the next bytes of the content (produced = bytes of this content already written).
   */
  async writeGenerated(size, fill) {
    let produced = 0;
    while (produced < size) {
      if (this.used === CHUNK) await this.flush();
      const n = Math.min(size - produced, CHUNK - this.used);
      fill(this.buf, this.used, this.used + n, produced);
      this.used += n;
      produced += n;
      this.total += n;
    }
  }

  async zeros(n) {
    if (n === 0) return;
    if (this.used + n > CHUNK) await this.flush();
    this.buf.fill(0, this.used, this.used + n);
    this.used += n;
    this.total += n;
  }

  async end() {
    await this.zeros(BLOCK * 2);
    await this.flush();
  }
}
