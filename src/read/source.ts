/**
 * Where an image's files live: the members of a tar archive (read in place with positional reads),
 * or the files of an OCI layout directory. Readers of layouts see only this interface.
 */
import { closeSync, fstatSync, openSync, readSync, realpathSync, statSync, constants as fsc } from 'node:fs';
import { join, sep } from 'node:path';
import { LayerfoldError, showName } from '../errors.js';
import { PositionalReader } from '../io/positional-reader.js';
import { tarEntries } from '../tar/entries.js';
import { cleanPath } from '../tree/paths.js';

/** A byte range of an open file: a member of an archive, or a whole file. */
export interface Blob {
  fd: number;
  offset: number;
  size: number;
  /** How to name it in a message: the member path. */
  label: string;
  /** Set when the stored bytes were compressed and unpacked as they arrived: these bytes are the layer. */
  unpacked?: UnpackedBlob;
}

/**
 * A layer blob that a registry pull unpacked while it arrived (pull.ts), so that its compressed bytes
 * never touch the disk: what was measured on the way, for layers.ts to check against the descriptor
 * and the config's diff_id as it checks any other layer.
 */
export interface UnpackedBlob {
  compression: 'gzip' | 'zstd';
  /** Compressed bytes received, and their digest in the descriptor's algorithm. */
  storedSize: number;
  storedDigest: string;
  /** Digest of the uncompressed bytes (sha256: a diff_id in another algorithm is hashed again). */
  layerDigest: string;
}

/** Where an unpacked blob's bytes are: the file, and what was measured (keyed by its layout path). */
export interface UnpackedFile {
  file: string;
  info: UnpackedBlob;
}

export interface ImageSource {
  readonly kind: 'archive' | 'directory';
  /** Every regular member name (normalised, no leading ./). */
  names(): string[];
  has(path: string): boolean;
  open(path: string): Blob;
  close(): void;
}

const MAX_JSON = 32 * 1024 * 1024;

export function readBlob(blob: Blob, maxBytes = MAX_JSON): Buffer {
  if (blob.size > maxBytes) {
    throw new LayerfoldError('BAD_LAYOUT', `${blob.label}: ${blob.size} bytes is too large for an image metadata file (limit ${maxBytes})`);
  }
  const buf = Buffer.alloc(blob.size);
  let got = 0;
  while (got < blob.size) {
    const n = readSync(blob.fd, buf, got, blob.size - got, blob.offset + got);
    if (n === 0) throw new LayerfoldError('BAD_ARCHIVE', `${blob.label}: truncated`);
    got += n;
  }
  return buf;
}

export function readJson(source: ImageSource, path: string): unknown {
  const blob = source.open(path);
  const text = readBlob(blob).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LayerfoldError('BAD_LAYOUT', `${path}: not valid JSON (${(e as Error).message})`);
  }
}

interface Member {
  type: 'file' | 'symlink' | 'hardlink' | 'dir' | 'other';
  offset: number;
  size: number;
  linkname: string;
}

/** An image archive (docker save, podman save, skopeo docker-archive / oci-archive). */
export class TarArchiveSource implements ImageSource {
  readonly kind = 'archive';
  private readonly members = new Map<string, Member>();

  constructor(
    readonly fd: number,
    readonly label: string,
  ) {
    const size = fstatSync(fd).size;
    const reader = new PositionalReader(fd, size);
    try {
      for (const e of tarEntries(reader, 0)) {
        const name = cleanPath(e.name);
        if (name === null || name === '') continue; // the archive's own root, or a name outside it: never looked up
        if (e.sparse) throw new LayerfoldError('UNSUPPORTED', `member ${showName(e.name)} is stored as a sparse file (GNU.sparse); members are read in place, so layerfold cannot read it`);
        const type = e.type === 'file' || e.type === 'symlink' || e.type === 'hardlink' || e.type === 'dir' ? e.type : 'other';
        this.members.set(name, { type, offset: e.dataOffset, size: e.size, linkname: e.linkname });
      }
    } catch (e) {
      if (e instanceof LayerfoldError) throw new LayerfoldError('BAD_ARCHIVE', `${label}: not a readable image archive: ${e.message}`);
      throw e;
    }
    if (this.members.size === 0) throw new LayerfoldError('BAD_ARCHIVE', `${label}: empty archive (no members)`);
  }

  names(): string[] {
    return [...this.members].filter(([, m]) => m.type === 'file').map(([n]) => n);
  }

  has(path: string): boolean {
    return this.resolve(path, 0) !== undefined;
  }

  /** Follow symlinked and hard-linked members (legacy saves link repeated layers) to a regular file. */
  private resolve(path: string, depth: number): Member | undefined {
    const m = this.members.get(path);
    if (!m || depth > 16) return undefined;
    if (m.type === 'file') return m;
    if (m.type === 'hardlink') {
      const target = cleanPath(m.linkname);
      return target === null ? undefined : this.resolve(target, depth + 1);
    }
    if (m.type === 'symlink') {
      const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
      const target = cleanPath(m.linkname.startsWith('/') ? m.linkname : dir + m.linkname);
      return target === null ? undefined : this.resolve(target, depth + 1);
    }
    return undefined;
  }

  open(path: string): Blob {
    const m = this.resolve(path, 0);
    if (!m) {
      const raw = this.members.get(path);
      const article = raw && /^[aeiou]/.test(raw.type) ? 'an' : 'a';
      const why = raw ? `is ${article} ${raw.type} member that does not lead to a file in the archive` : 'is missing from the archive';
      throw new LayerfoldError('NOT_FOUND', `${showName(path)}: ${why}`);
    }
    return { fd: this.fd, offset: m.offset, size: m.size, label: path };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** An OCI image layout directory. Paths are refused if they leave it, even through symlinks. */
export class DirectorySource implements ImageSource {
  readonly kind = 'directory';
  private readonly root: string;
  private readonly fds = new Map<string, number>();

  /** `unpacked`: blobs of a registry pull held unpacked elsewhere, by their layout path (blobs/ALG/HEX). */
  constructor(
    dir: string,
    private readonly unpacked: ReadonlyMap<string, UnpackedFile> = new Map(),
  ) {
    this.root = realpathSync(dir);
  }

  names(): string[] {
    return [];
  }

  private locate(path: string): string | undefined {
    const clean = cleanPath(path);
    if (clean === null || clean === '') return undefined;
    const full = join(this.root, clean);
    let real: string;
    try {
      real = realpathSync.native(full);
    } catch {
      return undefined;
    }
    if (real !== this.root && !real.startsWith(this.root + sep)) {
      throw new LayerfoldError('PATH_ESCAPE', `${path}: resolves outside the layout directory`);
    }
    return statSync(real).isFile() ? real : undefined;
  }

  has(path: string): boolean {
    return this.unpacked.has(path) || this.locate(path) !== undefined;
  }

  open(path: string): Blob {
    const unpacked = this.unpacked.get(path);
    const real = unpacked?.file ?? this.locate(path);
    if (real === undefined) throw new LayerfoldError('NOT_FOUND', `${path}: missing from the layout directory`);
    // one fd per file, however often it is opened (a layout listing one blob many times)
    let fd = this.fds.get(real);
    if (fd === undefined) {
      fd = openSync(real, fsc.O_RDONLY);
      this.fds.set(real, fd);
    }
    return { fd, offset: 0, size: fstatSync(fd).size, label: path, ...(unpacked ? { unpacked: unpacked.info } : {}) };
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
