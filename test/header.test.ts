/**
 * The tar codec against the facts of Go's archive/tar (reader and writer) as the notes and the docker
 * pairs record them; everything else in the project is built on it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksums, decodeHeader, HEADER_FIELDS, encodeExportHeader, encodeUstarInto, formatPaxRecord, paxHeaderName, parseNumeric, parsePaxRecords, splitUstarPath, type ExportHeader } from '../src/tar/header.js';
import { blockSumsJs, loadBlock, wasmCodec } from '../src/tar/wasm-block.js';
import { layerTar } from './support/build.js';
import { readWithNodeTar } from './support/read.js';

const file = (over: Partial<ExportHeader> = {}): ExportHeader => ({ name: 'etc/passwd', typeflag: '0', mode: 0o644, uid: 0, gid: 0, size: 30, mtime: 1_600_000_000, linkname: '', devmajor: 0, devminor: 0, ...over });
const field = (b: Buffer, off: number, len: number) => b.toString('latin1', off, off + len);

describe('the field table (what diff --bytes names fields by)', () => {
  it('is the POSIX ustar header layout: each field at its offset and length, the 512 bytes covered once', () => {
    // POSIX.1-2001 pax "ustar Header Block" table (offsets and lengths), GNU tar's tar.h struct posix_header
    const posix: Array<[string, number, number]> = [
      ['name', 0, 100], ['mode', 100, 8], ['uid', 108, 8], ['gid', 116, 8], ['size', 124, 12], ['mtime', 136, 12],
      ['chksum', 148, 8], ['typeflag', 156, 1], ['linkname', 157, 100], ['magic', 257, 6], ['version', 263, 2],
      ['uname', 265, 32], ['gname', 297, 32], ['devmajor', 329, 8], ['devminor', 337, 8], ['prefix', 345, 155], ['padding', 500, 12],
    ];
    expect(HEADER_FIELDS.map((f) => [f.name, f.offset, f.length])).toEqual(posix);
    let next = 0;
    for (const f of HEADER_FIELDS) {
      expect(f.offset).toBe(next);
      next = f.offset + f.length;
    }
    expect(next).toBe(512);
  });

  it('the fields it calls numeric are where the codec writes numbers', () => {
    const block = encodeExportHeader(file({ mode: 0o755, uid: 1000, gid: 1001, size: 7, mtime: 1234567 }));
    const at = (name: string) => HEADER_FIELDS.find((f) => f.name === name)!;
    expect(HEADER_FIELDS.filter((f) => f.numeric).map((f) => f.name)).toEqual(['mode', 'uid', 'gid', 'size', 'mtime', 'chksum', 'devmajor', 'devminor']);
    expect(field(block, at('uid').offset, at('uid').length)).toBe('0001750\0');
    expect(field(block, at('mtime').offset, at('mtime').length)).toBe('00004553207\0');
  });
});

describe('numbers', () => {
  it('reads octal padded with spaces and NULs, and base-256 both signs', () => {
    expect(parseNumeric(Buffer.from(' 0644 \0\0'), 0, 8, 'mode')).toBe(0o644);
    expect(parseNumeric(Buffer.from('\0\0\0\0\0\0\0\0'), 0, 8, 'mode')).toBe(0);
    const big = Buffer.alloc(12);
    big[0] = 0x80;
    big.writeUInt32BE(3_000_000_000, 8);
    expect(parseNumeric(big, 0, 12, 'size')).toBe(3_000_000_000);
    expect(parseNumeric(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9c]), 0, 8, 'mtime')).toBe(-100);
  });

  it('refuses a field that is not a number', () => {
    expect(() => parseNumeric(Buffer.from('0x12345\0'), 0, 8, 'size')).toThrow(/size field is not a number/);
  });
});

describe('decoding', () => {
  it('reads what tar-stream wrote, including a USTAR prefix for a long name', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(40)}`;
    const tar = await layerTar([{ path: long, content: 'x', uid: 1234, gid: 99, mode: 0o4755 }]);
    const h = decodeHeader(tar);
    expect(h.name).toBe(long);
    expect([h.uid, h.gid, h.mode, h.size, h.typeflag, h.format]).toEqual([1234, 99, 0o4755, 1, '0', 'ustar']);
  });

  it('refuses a bad checksum and accepts a signed-sum checksum as Go does', async () => {
    const tar = await layerTar([{ path: 'f\u00ff', content: 'x' }]);
    const block = Buffer.from(tar.subarray(0, 512));
    block[0] ^= 1;
    expect(() => decodeHeader(block)).toThrow(/checksum/);
    const signed = Buffer.from(tar.subarray(0, 512));
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : signed[i]! > 127 ? signed[i]! - 256 : signed[i]!;
    signed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expect(() => decodeHeader(signed)).not.toThrow();
  });
});

describe('PAX records', () => {
  it('keep binary values as bytes', () => {
    const value = '\x01\x00\x00\x02\xff\xfe';
    const rec = formatPaxRecord('SCHILY.xattr.security.capability', value);
    expect(parsePaxRecords(Buffer.from(rec, 'latin1')).get('SCHILY.xattr.security.capability')).toBe(value);
  });

  it('get their length right across a digit boundary ("%d key=value\\n" counts itself)', () => {
    for (let n = 80; n < 120; n++) {
      const rec = formatPaxRecord('path', 'x'.repeat(n));
      expect(Number(rec.split(' ')[0])).toBe(Buffer.byteLength(rec, 'latin1'));
    }
  });

  it('refuse a record whose length lies', () => {
    expect(() => parsePaxRecords(Buffer.from('99 path=short\n'))).toThrow(/claims 99 bytes/);
    expect(() => parsePaxRecords(Buffer.from('5 path=short\n'))).toThrow();
    expect(() => parsePaxRecords(Buffer.from('xx path=a\n'))).toThrow(/no valid length/);
  });
});

describe("Go's splitUSTARPath", () => {
  const sr = (s: string, n: number) => s.repeat(n);
  it.each([
    ['', null],
    ['abc', null],
    [sr('a', 100), null],
    [`${sr('a', 100)}/`, null],
    [`${sr('a', 100)}/a`, [sr('a', 100), 'a']],
    [`${sr('a', 155)}/`, null],
    [`${sr('a', 155)}/a`, [sr('a', 155), 'a']],
    [sr('a', 101), null],
    [sr('/', 101), [sr('/', 99), '/']],
    [`${sr('é', 60)}/x`, null],
  ])('%#', (name, want) => {
    expect(splitUstarPath(name)).toEqual(want);
  });
});

describe('encoding as docker export does', () => {
  it('USTAR with zero-padded octal + NUL, devmajor/devminor 0000000, checksum "NNNNNN\\0 ", empty uname/gname', () => {
    const b = encodeExportHeader(file());
    expect(b.length).toBe(512);
    expect(field(b, 100, 8)).toBe('0000644\0');
    expect(field(b, 124, 12)).toBe('00000000036\0');
    expect(field(b, 136, 12)).toBe('13727410000\0');
    expect(field(b, 257, 8)).toBe('ustar\x0000');
    expect(field(b, 265, 64)).toBe('\0'.repeat(64));
    expect(field(b, 329, 16)).toBe('0000000\x000000000\0');
    expect(field(b, 148, 8)).toMatch(/^[0-7]{6}\0 $/);
  });

  it('a long ASCII name that can be split stays USTAR with the prefix field', () => {
    const name = `${'a'.repeat(120)}/${'b'.repeat(50)}`;
    const b = encodeExportHeader(file({ name }));
    expect(b.length).toBe(512);
    expect(field(b, 345, 120)).toBe('a'.repeat(120));
  });

  it('PAX when forced: x header named dir/PaxHeaders.0/base, records sorted, main fields that do not fit are 0', async () => {
    const name = `dir/${'n'.repeat(160)}`; // cannot be split: suffix over 100
    const b = encodeExportHeader(file({ name, uid: 3_000_000 }));
    expect(b[156]).toBe(0x78);
    expect(field(b, 0, 100).replace(/\0+$/, '')).toBe(`dir/PaxHeaders.0/${'n'.repeat(100 - 'dir/PaxHeaders.0/'.length)}`);
    const size = parseInt(field(b, 124, 11), 8);
    const records = b.toString('latin1', 512, 512 + size);
    expect(records).toBe(`${formatPaxRecord('path', name)}${formatPaxRecord('uid', '3000000')}`);
    expect(field(b, 1024 + 108, 8)).toBe('0000000\0'); // uid did not fit
    const back = await readWithNodeTar(Buffer.concat([b, Buffer.alloc(30 + 482), Buffer.alloc(1024)]));
    expect(back[0]!.path).toBe(name);
    expect(back[0]!.uid).toBe(3_000_000);
  });

  it('names the PAX header of a directory dir/PaxHeaders.0, non-ASCII dropped, cut to 100, trailing / trimmed', () => {
    expect(paxHeaderName('a/b/')).toBe('a/b/PaxHeaders.0');
    expect(paxHeaderName('c')).toBe('PaxHeaders.0/c');
    expect(paxHeaderName('\xc3\xa9/')).toBe('/PaxHeaders.0');
    expect(paxHeaderName(`${'L'.repeat(99)}/x`)).toBe('L'.repeat(99));
  });

  it('an xattr forces PAX even for a short name', () => {
    const cap = Buffer.alloc(20);
    cap[3] = 2;
    const b = encodeExportHeader(file({ capability: cap }));
    expect(b.toString('latin1', 512, 1024)).toContain('SCHILY.xattr.security.capability=');
  });
});

describe('the in-place USTAR encoder', () => {
  const headers = fc.record({
    name: fc.oneof(fc.string({ minLength: 1, maxLength: 100, unit: fc.constantFrom('a', 'b', '/', '.', '-', 'Z') }), fc.string({ minLength: 95, maxLength: 130 }), fc.constant('d\u00e9j\u00e0/vu')),
    typeflag: fc.constantFrom('0', '1', '2', '3', '4', '5', '6'),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.oneof(fc.integer({ min: 0, max: 0o7777777 }), fc.integer({ min: 0o10000000, max: 0xfffffffe })),
    gid: fc.integer({ min: 0, max: 0o17777777 }),
    size: fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.constant(0o77777777777), fc.constant(0o77777777777 + 1)),
    mtime: fc.oneof(fc.integer({ min: 0, max: 2 ** 33 }), fc.constant(2 ** 36)),
    linkname: fc.oneof(fc.constant(''), fc.string({ maxLength: 110 })),
    devmajor: fc.integer({ min: 0, max: 4095 }),
    devminor: fc.integer({ min: 0, max: 1 << 21 }),
  }) as fc.Arbitrary<ExportHeader>;

  it('writes the bytes encodeExportHeader gives, or nothing when the entry needs more than one plain block', () => {
    fc.assert(
      fc.property(headers, fc.integer({ min: 0, max: 3 }), fc.boolean(), (h, slot, wasm) => {
        expect(wasmCodec(wasm)).toBe(wasm); // tar/wasm-block.ts's loops, or their JS stand-ins
        const target = Buffer.alloc(4 * 512, 0xaa); // stale bytes must not leak into the header
        const n = encodeUstarInto(h, target, slot * 512);
        const plain = encodeExportHeader(h);
        const ascii = /^[\x00-\x7f]*$/.test(h.name) && /^[\x00-\x7f]*$/.test(h.linkname);
        const fits = ascii && h.name.length <= 100 && h.linkname.length <= 100 && h.uid <= 0o7777777 && h.gid <= 0o7777777 && h.size <= 0o77777777777 && h.mtime <= 0o77777777777;
        expect(n).toBe(fits ? 512 : 0);
        if (n > 0) expect(target.subarray(slot * 512, slot * 512 + 512)).toEqual(plain);
        else expect(target.every((b) => b === 0xaa)).toBe(true);
      }),
      { numRuns: 2000, seed: 20261128 },
    );
  });

  it('leaves a capability to the PAX path', () => {
    const cap = Buffer.alloc(20);
    cap[3] = 2;
    expect(encodeUstarInto(file({ capability: cap }), Buffer.alloc(512), 0)).toBe(0);
  });
});

describe('header checksums', () => {
  const naive = (b: Buffer, off: number) => {
    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < 512; i++) {
      const c = i >= 148 && i < 156 ? 0x20 : b[off + i]!;
      unsigned += c;
      signed += c > 127 ? c - 256 : c;
    }
    return { unsigned, signed };
  };

  it('agree with a byte-by-byte sum, four bytes a step or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 512, maxLength: 512 }), fc.integer({ min: 0, max: 7 }), (bytes, shift) => {
        const b = Buffer.alloc(520);
        b.set(bytes, shift);
        expect(checksums(b, shift)).toEqual(naive(b, shift));
      }),
      { numRuns: 3000, seed: 20261128 },
    );
    const worst = Buffer.alloc(512, 0xff);
    expect(checksums(worst, 0)).toEqual(naive(worst, 0));
  });
});

describe('the WebAssembly byte loops (tar/wasm-block.ts) and their JS stand-ins', () => {
  // Go's facts are held by parseNumeric and the naive sum above; here both paths must give the same
  // header, or the same error, for any bytes in the numeric fields and anywhere in the block.
  const numeric = HEADER_FIELDS.filter((f) => f.numeric && f.name !== 'chksum');
  const fieldBytes = fc.array(fc.constantFrom(0x30, 0x31, 0x37, 0x38, 0x20, 0x00, 0x78, 0x80, 0xff), { minLength: 12, maxLength: 12 });
  const decodeBoth = (b: Buffer): [unknown, unknown] => {
    const decode = () => {
      try {
        return decodeHeader(b);
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(wasmCodec(false)).toBe(false);
    const js = decode();
    expect(wasmCodec(true)).toBe(true);
    return [js, decode()];
  };

  it('read the same numbers, and refuse the same ones, as parseNumeric', () => {
    fc.assert(
      fc.property(fc.array(fieldBytes, { minLength: numeric.length, maxLength: numeric.length }), fc.boolean(), (values, ustar) => {
        const b = Buffer.from(encodeExportHeader(file()).subarray(0, 512));
        if (!ustar) b.fill(0, 257, 265); // v7: devmajor and devminor are not read
        numeric.forEach((f, i) => b.set(values[i]!.slice(0, f.length), f.offset));
        b.write(checksums(b, 0).unsigned.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
        const [js, wasm] = decodeBoth(b);
        expect(wasm).toEqual(js);
      }),
      { numRuns: 2000, seed: 20261204 },
    );
  });

  it('sum a block as the JS loop does, the checksum field counted as spaces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 512, maxLength: 512 }), fc.integer({ min: 0, max: 7 }), (bytes, shift) => {
        const b = Buffer.alloc(520);
        b.set(bytes, shift);
        expect(wasmCodec(true)).toBe(true);
        expect(loadBlock(b, shift)).toBe(blockSumsJs(b, shift));
      }),
      { numRuns: 1000, seed: 20261204 },
    );
    const worst = Buffer.alloc(512, 0xff);
    expect(loadBlock(worst, 0)).toBe(blockSumsJs(worst, 0));
  });

  it('read a stored checksum with a space after its digits (old tars) through the JS path', () => {
    const b = Buffer.from(encodeExportHeader(file()).subarray(0, 512));
    b.write(checksums(b, 0).unsigned.toString(8).padStart(6, '0') + ' \0', 148, 'latin1');
    const [js, wasm] = decodeBoth(b);
    expect(js).toMatchObject({ name: 'etc/passwd', mode: 0o644 });
    expect(wasm).toEqual(js);
  });
});
