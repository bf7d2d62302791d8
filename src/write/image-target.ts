/**
 * Where a written image goes: a tar archive (`docker save` style or OCI) or an OCI layout directory.
 * Both are made under a temporary name beside the target and renamed into place by `finish`, so an
 * error or a signal leaves nothing under the real name (and the temporary is removed).
 *
 * A blob whose digest is known only at its end (the squashed layer) is streamed: into an archive
 * after a placeholder header that is rewritten in place once the digest and size are known (no
 * second copy of the layer), into a directory as a temporary file renamed to its digest.
 */
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, write, writeSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { OutputFile, tempNameBeside, writeError } from '../io/output-file.js';
import { LayerfoldError } from '../errors.js';
import { onCleanup } from '../io/cleanup.js';
import { BLOCK, encodeExportHeader, END_OF_ARCHIVE, paddingFor, type ExportHeader } from '../tar/header.js';
import type { ByteSink } from './sink.js';

export interface StreamedBlob extends ByteSink {
  /** Name the blob by its digest once its bytes are all written (after finish). */
  commit(digest: string, size: number): void;
}

export interface ImageTarget {
  /** Where messages name the output. */
  readonly label: string;
  streamBlob(): StreamedBlob;
  putBlob(digest: string, bytes: Buffer): Promise<void>;
  /** A file at the top of the layout: index.json, manifest.json, oci-layout, repositories. */
  putFile(name: string, bytes: Buffer): Promise<void>;
  finish(): Promise<void>;
  abort(): void;
}

const ioError = writeError;

function pwrite(fd: number, bytes: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) =>
      write(fd, bytes, off, bytes.length - off, position + off, (err, n) => {
        if (err) reject(err);
        else if (off + n < bytes.length) step(off + n);
        else resolve();
      });
    step(0);
  });
}

/** Blobs are named as `docker save` and OCI layouts name them. */
export function blobName(digest: string): string {
  const [alg, hex] = digest.split(':');
  return `blobs/${alg}/${hex}`;
}

function memberHeader(name: string, size: number, dir = false): ExportHeader {
  return { name, typeflag: dir ? '5' : '0', mode: dir ? 0o755 : 0o644, uid: 0, gid: 0, size, mtime: 0, linkname: '', devmajor: 0, devminor: 0 };
}


/** A tar archive: members in the order written, mtimes 0, owner 0:0, two zero blocks at the end. */
export class TarImageTarget implements ImageTarget {
  private readonly out: OutputFile;
  private position = 0;
  private readonly written = new Set<string>();

  constructor(readonly label: string) {
    this.out = new OutputFile(label);
  }

  private get fd(): number {
    return this.out.fd;
  }

  private async append(bytes: Buffer): Promise<void> {
    try {
      await pwrite(this.fd, bytes, this.position);
    } catch (e) {
      throw ioError(this.label, e);
    }
    this.position += bytes.length;
  }

  private async member(name: string, bytes: Buffer): Promise<void> {
    await this.append(encodeExportHeader(memberHeader(name, bytes.length)));
    await this.append(bytes);
    await this.append(Buffer.alloc(paddingFor(bytes.length)));
  }

  async start(): Promise<void> {
    await this.append(encodeExportHeader(memberHeader('blobs/', 0, true)));
    await this.append(encodeExportHeader(memberHeader('blobs/sha256/', 0, true)));
  }

  streamBlob(): StreamedBlob {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const headerAt = this.position;
    this.position += BLOCK;
    const dataAt = this.position;
    return {
      async write(bytes: Buffer) {
        await self.append(bytes);
      },
      async finish() {},
      abort() {},
      commit(digest: string, size: number) {
        if (self.position - dataAt !== size) throw new LayerfoldError('IO', `${self.label}: blob ${digest}: ${self.position - dataAt} bytes written, expected ${size}`);
        const header = encodeExportHeader(memberHeader(blobName(digest), size));
        try {
          writeSync(self.fd, header, 0, BLOCK, headerAt);
          const pad = Buffer.alloc(paddingFor(size));
          writeSync(self.fd, pad, 0, pad.length, self.position);
        } catch (e) {
          throw ioError(self.label, e);
        }
        self.position += paddingFor(size);
        if (self.written.has(digest)) {
          // the same bytes twice (a squashed layer equal to a kept one): drop the second copy
          self.position = headerAt;
        }
        self.written.add(digest);
      },
    };
  }

  async putBlob(digest: string, bytes: Buffer): Promise<void> {
    if (this.written.has(digest)) return;
    this.written.add(digest);
    await this.member(blobName(digest), bytes);
  }

  async putFile(name: string, bytes: Buffer): Promise<void> {
    await this.member(name, bytes);
  }

  async finish(): Promise<void> {
    await this.append(END_OF_ARCHIVE);
    // a blob dropped as a duplicate may have left bytes past the end
    this.out.finish(() => {
      if (fstatSync(this.fd).size > this.position) ftruncateSync(this.fd, this.position);
    });
  }

  abort(): void {
    this.out.abort();
  }
}

/**
 * An OCI layout directory. The target must be absent or an empty directory; it is built as a
 * temporary directory beside it and renamed into place.
 */
export class DirImageTarget implements ImageTarget {
  private readonly temp: string;
  private readonly unregister: () => void;
  private done = false;
  private blobs = 0;

  constructor(
    readonly label: string,
    /** Build in place (a private temporary directory, e.g. for a push): no rename at the end. */
    inPlace = false,
  ) {
    if (!inPlace) {
      let st;
      try {
        st = statSync(label);
      } catch {
        // absent: fine
      }
      if (st && !st.isDirectory()) throw new LayerfoldError('USAGE', `${label}: exists and is not a directory`);
      if (st && readdirSync(label).length > 0) throw new LayerfoldError('USAGE', `${label}: the directory is not empty; name a new one`);
    }
    this.temp = inPlace ? label : tempNameBeside(label);
    try {
      mkdirSync(join(this.temp, 'blobs', 'sha256'), { recursive: true });
    } catch (e) {
      throw ioError(label, e);
    }
    this.unregister = inPlace ? () => undefined : onCleanup(() => this.abort());
    this.inPlace = inPlace;
  }

  private readonly inPlace: boolean;

  private path(name: string): string {
    return join(this.temp, ...name.split('/'));
  }

  private async writeFile(path: string, bytes: Buffer): Promise<void> {
    let fd: number | undefined;
    try {
      fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o644);
      await pwrite(fd, bytes, 0);
    } catch (e) {
      throw ioError(this.label, e);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  streamBlob(): StreamedBlob {
    const path = this.path(`blobs/sha256/.partial-${this.blobs++}`);
    let fd: number;
    try {
      fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o644);
    } catch (e) {
      throw ioError(this.label, e);
    }
    let position = 0;
    let open = true;
    const close = () => {
      if (open) closeSync(fd);
      open = false;
    };
    return {
      write: async (bytes: Buffer) => {
        try {
          await pwrite(fd, bytes, position);
        } catch (e) {
          throw ioError(this.label, e);
        }
        position += bytes.length;
      },
      finish: async () => close(),
      abort: () => {
        close();
        rmSync(path, { force: true });
      },
      commit: (digest: string, size: number) => {
        close();
        if (position !== size) throw new LayerfoldError('IO', `${this.label}: blob ${digest}: ${position} bytes written, expected ${size}`);
        renameSync(path, this.path(blobName(digest)));
      },
    };
  }

  async putBlob(digest: string, bytes: Buffer): Promise<void> {
    await this.writeFile(this.path(blobName(digest)), bytes);
  }

  async putFile(name: string, bytes: Buffer): Promise<void> {
    await this.writeFile(this.path(name), bytes);
  }

  /** The directory the layout is being built in. */
  get dir(): string {
    return this.temp;
  }

  async finish(): Promise<void> {
    if (this.inPlace) {
      this.done = true;
      return;
    }
    try {
      try {
        rmdirSync(this.label); // an empty directory gives way; a non-empty one refuses (ENOTEMPTY)
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new LayerfoldError('USAGE', `${this.label}: the directory is not empty; name a new one`);
        if (code !== 'ENOENT') throw e;
      }
      renameSync(this.temp, this.label);
    } catch (e) {
      this.abort();
      if (e instanceof LayerfoldError) throw e;
      throw ioError(this.label, e);
    }
    this.done = true;
    this.unregister();
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    if (!this.inPlace) rmSync(this.temp, { recursive: true, force: true });
    this.unregister();
  }
}
