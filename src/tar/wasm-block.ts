/**
 * The byte loops of a tar header, in WebAssembly: the sums its checksum is made of (every header
 * read, many written) and its octal numbers (eight a header read). tar/header.ts decides what they mean.
 *
 * Why WebAssembly: the CLI runs small images before TurboFan (cli/tiering.ts), where each arithmetic
 * step of a JS loop is a call into a builtin: summing a block four bytes a step cost ~9 us, and the
 * eight numbers of a header ~7 us (Debian image: 9k headers read, ~0.15 s of a 0.7 s run). These
 * loops, compiled at once by V8's baseline WebAssembly compiler whatever the JS tier, cost ~0.3 us
 * with the copy of the block into their memory. Where WebAssembly is not to be had (`node --jitless`),
 * the JS loops do the same.
 */
export const BLOCK = 512;

/** Where the checksum field lies in a header block (tar/header.ts's LAYOUT: offset 148, 8 bytes). */
const CHKSUM_AT = 148;
const CHKSUM_END = 156;

/**
 * The figures of one block, packed into one number (a pair would be taken apart by the iterator
 * protocol, slow before TurboFan): `highs * HIGH_UNIT + sum`, where sum is the sum of the block's
 * bytes with the checksum field counted as eight spaces (at most 512 * 255, under 2^17) and highs
 * the count of bytes above 127 outside that field.
 */
export const HIGH_UNIT = 1 << 17;

// Instructions of the function below, by the names of the WebAssembly spec.
const LOOP = [0x03, 0x40];
const END = 0x0b;
const GET = 0x20;
const SET = 0x21;
const TEE = 0x22;
const CONST = 0x41;
const LOAD8_U = [0x2d, 0x00, 0x00];
const ADD = 0x6a;
const SUB = 0x6b;
const SHL = 0x74;
const SHR_U = 0x76;
const OR = 0x72;
const LT_U = 0x49;
const BR_IF = 0x0d;
/** Locals of the function: the position, the byte, the sum, the count of high bytes. */
const I = 0;
const C = 1;
const SUM = 2;
const HIGH = 3;

/** A signed LEB128 number (i32.const's operand). */
function leb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

/** `for (; i < end; i++) { c = mem[i]; sum op= c; high op= c >> 7 }`, op being ADD or SUB. */
function sumLoop(end: number, op: number): number[] {
  return [
    ...LOOP,
    GET, SUM, GET, I, ...LOAD8_U, TEE, C, op, SET, SUM,
    GET, HIGH, GET, C, CONST, 7, SHR_U, op, SET, HIGH,
    GET, I, CONST, 1, ADD, TEE, I, CONST, ...leb(end), LT_U, BR_IF, 0,
    END,
  ];
}

/** sums: () -> i32 over the block at 0 of the module's memory: the packed figures (HIGH_UNIT). */
const SUMS = [
  1, 4, 0x7f, // four i32 locals, all 0
  ...sumLoop(BLOCK, ADD),
  CONST, ...leb(CHKSUM_AT), SET, I,
  ...sumLoop(CHKSUM_END, SUB), // the checksum field out again…
  GET, HIGH, CONST, ...leb(17), SHL,
  GET, SUM, CONST, ...leb(8 * 0x20), ADD, // …and counted as eight spaces
  OR,
  END,
];

const IF = [0x04, 0x40];
const BR = 0x0c;
const RETURN = 0x0f;
const EQZ = 0x45;
const EQ = 0x46;
const GE_U = 0x4f;
const F64_CONST = 0x44;
const F64_MUL = 0xa2;
const F64_ADD = 0xa0;
const F64_FROM_U32 = 0xb8;
/** octal's parameters and locals: where the field starts (then the position), its length, its end, a byte, the value. */
const AT = 0;
const LEN = 1;
const FIELD_END = 2;
const BYTE = 3;
const VALUE = 4;
const f64 = (n: number): number[] => [F64_CONST, ...new Uint8Array(new Float64Array([n]).buffer)];
/** `if (at >= end) return <value>` */
const RETURN_AT_END = (value: number[]): number[] => [GET, AT, GET, FIELD_END, GE_U, ...IF, ...value, RETURN, END];

/**
 * octal: (at, len) -> f64 over the block at 0: the field's octal number when it is spaces or NULs, then
 * digits up to a NUL or the field's end; -1 for anything else (a space after the digits, base-256, not
 * a number), which header.ts reads again itself and judges.
 */
const OCTAL = [
  2, 2, 0x7f, 1, 0x7c, // locals: two i32, one f64 (0)
  GET, AT, GET, LEN, ADD, SET, FIELD_END,
  ...LOOP, // leading spaces and NULs
  ...RETURN_AT_END(f64(0)),
  GET, AT, ...LOAD8_U, TEE, BYTE, EQZ, GET, BYTE, CONST, ...leb(0x20), EQ, OR,
  ...IF, GET, AT, CONST, 1, ADD, SET, AT, BR, 1, END,
  END,
  ...LOOP, // digits
  ...RETURN_AT_END([GET, VALUE]),
  GET, AT, ...LOAD8_U, TEE, BYTE, EQZ, ...IF, GET, VALUE, RETURN, END,
  GET, BYTE, CONST, ...leb(0x30), SUB, TEE, BYTE, CONST, 8, LT_U,
  ...IF, GET, VALUE, ...f64(8), F64_MUL, GET, BYTE, F64_FROM_U32, F64_ADD, SET, VALUE, GET, AT, CONST, 1, ADD, SET, AT, BR, 1, END,
  END,
  ...f64(-1),
  END,
];

const STORE8 = [0x3a, 0x00, 0x00];
const I64_FROM_F64 = 0xb1;
const I64_CONST = 0x42;
const I64_AND = 0x83;
const I64_SHR_U = 0x88;
const I32_FROM_I64 = 0xa7;
const GT_U = 0x4b;
/** put's parameters and locals: where the field starts, its length, the value; the position, the value left. */
const P_AT = 0;
const P_LEN = 1;
const P_VALUE = 2;
const P_I = 3;
const P_LEFT = 4;

/**
 * put: (at, len, value) over the block at 0: Go's formatOctal for a value that fits (the caller
 * checks), len-1 zero-padded digits then a NUL.
 */
const PUT = [
  2, 1, 0x7f, 1, 0x7e, // locals: one i32, one i64
  GET, P_VALUE, I64_FROM_F64, SET, P_LEFT,
  GET, P_AT, GET, P_LEN, ADD, CONST, 1, SUB, TEE, P_I, CONST, 0, ...STORE8, // the NUL
  ...LOOP, // digits, last first
  GET, P_I, CONST, 1, SUB, TEE, P_I,
  GET, P_LEFT, I64_CONST, 7, I64_AND, I32_FROM_I64, CONST, ...leb(0x30), ADD, ...STORE8,
  GET, P_LEFT, I64_CONST, 3, I64_SHR_U, SET, P_LEFT,
  GET, P_I, GET, P_AT, GT_U, BR_IF, 0,
  END,
  END,
];

const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];
const name = (s: string): number[] => [s.length, ...Buffer.from(s, 'latin1')];

const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  ...section(1, [3, 0x60, 0, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 1, 0x7c, 0x60, 3, 0x7f, 0x7f, 0x7c, 0]), // types: () -> i32, (i32, i32) -> f64, (i32, i32, f64) -> ()
  ...section(3, [3, 0, 1, 2]), // functions: sums, octal, put
  ...section(5, [1, 0, 1]), // memory: one, of one page
  ...section(7, [4, ...name('m'), 2, 0, ...name('s'), 0, 0, ...name('o'), 0, 1, ...name('p'), 0, 2]), // exports
  ...section(10, [3, ...leb(SUMS.length), ...SUMS, ...leb(OCTAL.length), ...OCTAL, ...leb(PUT.length), ...PUT]),
]);

interface Codec {
  /** The module's block, as a Buffer (latin1Write). */
  bytes: Buffer;
  sums: () => number;
  octal: (at: number, len: number) => number;
  put: (at: number, len: number, value: number) => void;
}

/** undefined: not tried yet; false: WebAssembly is not available here (not tried again). */
let codec: Codec | false | undefined;

function instantiate(): Codec | false {
  try {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
    const bytes = Buffer.from((exports.m as WebAssembly.Memory).buffer, 0, BLOCK);
    return { bytes, sums: exports.s as Codec['sums'], octal: exports.o as Codec['octal'], put: exports.p as Codec['put'] };
  } catch {
    return false;
  }
}

/**
 * Load the block at `off` of buf (which holds all 512 bytes) for octalField, and return its checksum
 * figures, packed (HIGH_UNIT).
 */
export function loadBlock(buf: Uint8Array, off: number): number {
  codec ??= instantiate();
  if (codec === false) return blockSumsJs(buf, off);
  codec.bytes.set(off === 0 && buf.length === BLOCK ? buf : buf.subarray(off, off + BLOCK));
  return codec.sums();
}

/**
 * The octal number in [at, at+len) of the block last loaded, when it is a plain one (spaces or NULs,
 * digits, then a NUL or the field's end); -1 when the caller must read the field itself (and always
 * without WebAssembly).
 */
export function octalField(at: number, len: number): number {
  return codec ? codec.octal(at, len) : -1;
}

/** The block headers are written in before they are copied out (encoders), zeroed. */
let jsBlock: Buffer | undefined;
export function blankBlock(): Buffer {
  codec ??= instantiate();
  const block = codec === false ? (jsBlock ??= Buffer.alloc(BLOCK)) : codec.bytes;
  return block.fill(0);
}

/** The checksum figures (HIGH_UNIT) of blankBlock()'s block as it is now. */
export function blankBlockSums(): number {
  return codec ? codec.sums() : blockSumsJs(jsBlock!, 0);
}

/** Go's formatOctal into blankBlock()'s block: len-1 zero-padded digits and a NUL, for a value that fits. */
export function putOctalField(at: number, len: number, value: number): void {
  if (codec) {
    codec.put(at, len, value);
    return;
  }
  const block = jsBlock!;
  block[at + len - 1] = 0;
  for (let i = at + len - 2; i >= at; i--) {
    block[i] = 0x30 + (value % 8);
    value = Math.floor(value / 8);
  }
}

/** Whether the WebAssembly module runs here (tests: both paths are held to the same results). */
export function wasmCodec(use?: boolean): boolean {
  if (use === false) codec = false;
  else if (use === true) codec = instantiate();
  return (codec ??= instantiate()) !== false;
}

/** The same figures in JS (no WebAssembly; and the tests' check of the module). */
export function blockSumsJs(buf: Uint8Array, off: number): number {
  let sum = 8 * 0x20;
  let high = 0;
  for (let i = off; i < off + BLOCK; i++) {
    if (i === off + CHKSUM_AT) i += CHKSUM_END - CHKSUM_AT;
    const c = buf[i]!;
    sum += c;
    high += c >> 7;
  }
  return high * HIGH_UNIT + sum;
}
