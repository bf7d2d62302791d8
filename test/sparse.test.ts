/**
 * PAX sparse files (tar/sparse.ts). The export bytes of each form are pinned by docker's pairs
 * (fixtures/docker/sparse-*, conformance.test.ts, diff.test.ts); here: that the other commands see the
 * real names and sizes, that extract makes holes, that docker's refusals are ours with docker's words,
 * and that a 16 GiB file of a few KiB of data goes through without its holes being read or held.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportRootfs, extractRootfs, inspectImage, isLayerfoldError, listImage, type ListEntry } from '../src/index.js';
import { parsePaxRecords } from '../src/tar/header.js';
import { imageArchive, scratchDir, writeTemp } from './support/build.js';
import { cli } from './support/cli.js';

const FORMS = ['sparse-gnu-0.0', 'sparse-gnu-0.1', 'sparse-gnu-1.0', 'sparse-bsdtar'];
const caseDir = (name: string): string => join('fixtures/docker', name);

/** `name size` of each regular file GNU tar lists in docker's export, init files left out. */
function dockerFiles(name: string): string[] {
  const lines = execFileSync('tar', ['-tvf', join(caseDir(name), 'export.tar')], { encoding: 'latin1' }).trim().split('\n');
  return lines.filter((l) => l.startsWith('-')).map((l) => l.split(/\s+/)).map((f) => `${f[5]} ${f[2]}`)
    .filter((l) => !/^(etc|\.dockerenv|dev)/.test(l)).sort();
}

async function listed(image: string): Promise<ListEntry[]> {
  const out: ListEntry[] = [];
  await listImage(image, {}, (entry) => out.push(entry));
  return out;
}

describe.each(FORMS)('%s', (name) => {
  const image = join(caseDir(name), 'image.tar');

  it('ls shows the files docker exports, by their GNU.sparse.name and real size', async () => {
    const entries = await listed(image);
    // a hard-linked file's second name lists 0 bytes; docker exports it as a hardlink too
    const files = entries.filter((e) => e.type === 'file').map((e) => `${e.name} ${e.size}`).filter((l) => !/^etc/.test(l)).sort();
    expect(files).toEqual(dockerFiles(name));
    expect(entries.map((e) => e.name).join(' ')).not.toMatch(/GNUSparseFile|\.wh\./);
    expect(entries.map((e) => e.name)).not.toContain('dir2/gone'); // the sparse whiteout hid it
    expect(entries.map((e) => e.name)).not.toContain('dir3/a'); // the sparse opaque marker hid it
  });

  it('extract makes real holes holding the bytes docker exported', async () => {
    const out = join(scratchDir(), 'rootfs');
    await extractRootfs(image, out);
    const theirs = join(scratchDir(), 'theirs');
    execFileSync('mkdir', ['-p', theirs]);
    execFileSync('tar', ['-xf', join(caseDir(name), 'export.tar'), '-C', theirs, 'dir']);
    for (const file of ['dir/sparse', 'dir/allhole', 'dir/tail']) {
      expect(readFileSync(join(out, file)).equals(readFileSync(join(theirs, file)))).toBe(true);
    }
    const allHole = statSync(join(out, 'dir/allhole'));
    expect(allHole.size).toBe(64 * 1024);
    expect(allHole.blocks).toBe(0); // written as a size, no data block
    expect(statSync(join(out, 'dir/sparse')).blocks * 512).toBeLessThan(96 * 1024);
  });
});

describe('a rootfs tar of sparse files (diff reads the other side of the map)', () => {
  it.each(['0.0', '0.1', '1.0'])('GNU tar --sparse-version=%s of our extract equals docker’s export, holes hashed as zeros', async (version) => {
    const out = join(scratchDir(), 'rootfs');
    await extractRootfs(join(caseDir('sparse-gnu-1.0'), 'image.tar'), out);
    const rootfs = join(scratchDir(), 'rootfs.tar');
    execFileSync('tar', ['--sparse', `--sparse-version=${version}`, '--format=posix', '--numeric-owner', '-C', out, '-cf', rootfs, '.']);
    expect(readFileSync(rootfs).includes('GNU.sparse')).toBe(true);
    const r = await cli(['diff', rootfs, join(caseDir('sparse-gnu-1.0'), 'export.tar'), '--ignore-init']);
    expect(r.stdout.toString() + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('sparse maps docker refuses', () => {
  const refused = ['sparse-gnu-old', 'sparse-map-overlap', 'sparse-map-unsorted', 'sparse-map-past-end', 'sparse-map-extra-data',
    'sparse-map-missing-data', 'sparse-map-numblocks', 'sparse-1.0-map-truncated', 'sparse-1.0-map-number'];
  it.each(refused)('%s: one line naming the entry, with what docker said', async (name) => {
    const dockerSaid = readFileSync(join(caseDir(name), 'load-error.txt'), 'utf8').trim();
    const err = await exportRootfs(join(caseDir(name), 'image.tar'), { output: join(scratchDir(), 'out.tar') }).catch((e: unknown) => e);
    expect(isLayerfoldError(err)).toBe(true);
    const e = err as Error & { code: string };
    expect(e.code).toBe(name === 'sparse-gnu-old' ? 'UNSUPPORTED' : 'BAD_ENTRY');
    expect(e.message).toContain(`("${dockerSaid}")`);
    expect(e.message).toMatch(/entry "(bad|dir\/allhole)"/);
    expect(e.message).not.toContain('\n');
  });
});

/** One PAX record: its length counts its own digits. */
function rec(kv: string): string {
  const base = Buffer.byteLength(kv) + 2;
  let n = base + String(base).length;
  if (String(n).length + base !== n) n = base + String(n).length;
  return `${n} ${kv}\n`;
}

describe('GNU.sparse 0.0 records', () => {

  it('fold into one GNU.sparse.map, in order, as Go folds them', () => {
    const data = Buffer.from(['GNU.sparse.offset=0', 'GNU.sparse.numbytes=5', 'GNU.sparse.offset=100', 'GNU.sparse.numbytes=3'].map(rec).join(''));
    expect(parsePaxRecords(data).get('GNU.sparse.map')).toBe('0,5,100,3');
  });

  it('are refused out of turn or holding a comma', () => {
    expect(() => parsePaxRecords(Buffer.from(['GNU.sparse.numbytes=5'].map(rec).join('')))).toThrow(/GNU.sparse.numbytes where GNU.sparse.offset belongs/);
    expect(() => parsePaxRecords(Buffer.from(['GNU.sparse.offset=1,2'].map(rec).join('')))).toThrow(/holds a comma/);
  });
});

/** A layer holding one GNU.sparse 1.0 file of `size` bytes with `segments` [offset, text] of data. */
function sparseLayer(name: string, size: number, segments: Array<[number, string]>): Buffer {
  const block = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  const map = block(Buffer.from(`${segments.length}\n${segments.map(([o, t]) => `${o}\n${t.length}\n`).join('')}`));
  const data = Buffer.concat([map, Buffer.from(segments.map(([, t]) => t).join(''))]);
  const records = ['GNU.sparse.major=1', 'GNU.sparse.minor=0', `GNU.sparse.name=${name}`, `GNU.sparse.realsize=${size}`].map(rec).join('');
  const header = (hname: string, type: string, length: number): Buffer => {
    const h = Buffer.alloc(512);
    h.write(hname, 0, 'latin1');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('13624173200\0', 136);
    h.fill(0x20, 148, 156);
    h.write(type, 156);
    h.write('ustar\u000000', 257, 'latin1');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    return h;
  };
  return Buffer.concat([
    header(`PaxHeaders/${name}`, 'x', records.length), block(Buffer.from(records)),
    header(`GNUSparseFile.0/${name}`, '0', data.length), block(data),
    Buffer.alloc(1024),
  ]);
}

describe('a 16 GiB sparse file with 16 KB of data', () => {
  const GiB = 2 ** 30;
  const SIZE = 16 * GiB;
  const segments: Array<[number, string]> = Array.from({ length: 16 }, (_, i) => [i * GiB, `${'x'.repeat(999)}${i.toString(16)}`]);
  const image = async (): Promise<string> => writeTemp(await imageArchive([sparseLayer('lastlog', SIZE, segments)]));

  it('ls and inspect give its size from the headers alone', async () => {
    const path = await image();
    expect((await listed(path)).find((e) => e.name === 'lastlog')?.size).toBe(SIZE);
    const report = await inspectImage(path);
    expect(report.totals.survivingBytes).toBe(SIZE);
  });

  it('extract writes it as a hole-filled file of its size, data where the map puts it', async () => {
    const out = join(scratchDir(), 'rootfs');
    await extractRootfs(await image(), out);
    const st = statSync(join(out, 'lastlog'));
    expect(st.size).toBe(SIZE);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
    const fd = openSync(join(out, 'lastlog'), 'r');
    try {
      for (const i of [0, 3, 15]) {
        const buf = Buffer.alloc(1001);
        readSync(fd, buf, 0, buf.length, i * GiB);
        expect(buf.toString('latin1')).toBe(`${segments[i]![1]}\0`);
      }
    } finally {
      closeSync(fd);
    }
  });

  it('export writes all of it, holes as zeros', async () => {
    const result = await exportRootfs(await image(), { output: '/dev/null' });
    // a PAX size record (16 GiB does not fit the octal field) and the header, the file, the end
    expect(result.bytes).toBe(1024 + 512 + SIZE + 1024);
  });

  it('is refused under a --max-size smaller than the file', async () => {
    const err = await exportRootfs(await image(), { output: join(scratchDir(), 'out.tar'), maxSize: 8 * GiB }).catch((e: unknown) => e);
    expect(isLayerfoldError(err) && err.code).toBe('LIMIT');
    expect((err as Error).message).toMatch(/entry "lastlog": its sparse file's 17179869184 bytes/);
  });
});
