/**
 * Property: whatever is done to a valid image — bits flipped, bytes cut off, header fields
 * overwritten (checksum fixed up or not), entries reordered, hostile records spliced in — every
 * command in COMMANDS ends within a time bound with either a valid result (readable by node-tar,
 * every name inside the root) or a LayerfoldError of one line, and writes nothing outside its OUT
 * directory, leaving TMP empty.
 *
 * Layers are mutated and then wrapped in an image whose digests match the damaged bytes, so the
 * damage reaches the tar parser and the layer rules rather than stopping at the digest check; the
 * outer archive is also mutated directly, with --no-verify. Every crafted archive of fixtures/hostile
 * is a seed too: its outer archive mutated the same way, FUZZ_HOSTILE_RUNS times (default 1) per case.
 * `npm test` runs FUZZ_RUNS (default 100) inputs, each through every command; `npm run fuzz` runs
 * many more (scripts/fuzz.js). A failure
 * prints fast-check's seed and path: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz.test.ts.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isLayerfoldError } from '../src/index.js';
import { e, imageArchive, layerTar, scratchDir, type EntrySpec, type ImageSpec } from './support/build.js';
import { COMMANDS, isContainedName, listTree, PARTIAL, type HostileCommand } from './support/hostile.js';
// @ts-expect-error plain-JS helper without type declarations
import { repeatedManifestImage } from '../scripts/bench/shapes.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const TIME_BOUND_MS = Number(process.env.FUZZ_TIME_BOUND_MS ?? 10_000);
const BLOCK = 512;

// ---------------------------------------------------------------------------------------------
// Valid seeds

const SEED_LAYERS: EntrySpec[][] = [
  [e('etc/'), e('etc/passwd'), e('bin/'), e('bin/sh', { mode: 0o755 }), e('lib -> usr/lib'), e('usr/'), e('usr/lib/'), e('usr/lib/libc.so', { content: 'x'.repeat(3000) })],
  [e('etc/.wh.passwd'), e('usr/lib/.wh..wh..opq'), e('usr/lib/new'), e('bin/sh'), { path: 'bin/ash', type: 'link', linkname: 'bin/sh' }],
  [
    e(`deep/${'d'.repeat(120)}/`),
    e(`deep/${'d'.repeat(120)}/${'f'.repeat(150)}`),
    e('x', { pax: { 'SCHILY.xattr.user.k': 'v', mtime: '1600000000.5' } }),
    e('dev/', {}),
    { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
    { path: 'fifo', type: 'fifo' },
  ],
];

let seedLayers: Buffer[] = [];

beforeAll(async () => {
  seedLayers = await Promise.all(SEED_LAYERS.map((l) => layerTar(l)));
});

// ---------------------------------------------------------------------------------------------
// Mutations

/** Records of a tar as [header offset, end of data) (stops at the first block that is not a header). */
function records(tar: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let pos = 0; pos + BLOCK <= tar.length; ) {
    if (tar[pos] === 0) break;
    const size = parseInt(tar.toString('latin1', pos + 124, pos + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) break;
    const end = Math.min(tar.length, pos + BLOCK + size + ((BLOCK - (size % BLOCK)) % BLOCK));
    out.push([pos, end]);
    pos = end;
  }
  return out;
}

const headerOffsets = (tar: Buffer): number[] => records(tar).map(([at]) => at);

function fixChecksum(tar: Buffer, at: number): void {
  tar.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += tar[i]!;
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
}

const FIELDS = { name: [0, 100], mode: [100, 8], uid: [108, 8], size: [124, 12], mtime: [136, 12], typeflag: [156, 1], linkname: [157, 100], magic: [257, 8], prefix: [345, 155] } as const;

const HOSTILE_TEXT = ['../../evil', '/abs', '.wh.', '.wh..', '.wh...', 'a/../../b', '.wh..wh..opq', 'etc/passwd', '', 'x/'.repeat(60), '\xff\xfe'];
const NUMERIC_TEXT = ['77777777777\0', '0000000012x4', '-1', '\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff', '\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff', '        ', '00000001000\0'];
const TYPEFLAGS = ['0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'Z', '\0'];

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'field'; header: number; field: keyof typeof FIELDS; value: string; fix: boolean }
  | { kind: 'reorder'; order: number[] }
  | { kind: 'splice'; header: number; name: string; type: string; linkname: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('field' as const),
    header: fc.nat(),
    field: fc.constantFrom(...(Object.keys(FIELDS) as Array<keyof typeof FIELDS>)),
    value: fc.oneof(fc.constantFrom(...HOSTILE_TEXT, ...NUMERIC_TEXT, ...TYPEFLAGS), fc.string({ maxLength: 12 })),
    fix: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('reorder' as const), order: fc.array(fc.nat(), { minLength: 2, maxLength: 12 }) }),
  fc.record({
    kind: fc.constant('splice' as const),
    header: fc.nat(),
    name: fc.constantFrom(...HOSTILE_TEXT, 'bin/sh', 'lib/x', 'etc'),
    type: fc.constantFrom('0', '1', '2', '5', 'L', 'x'),
    linkname: fc.constantFrom(...HOSTILE_TEXT, 'bin/sh', 'lib', '/'),
  }),
);

function spliceRecord(name: string, type: string, linkname: string): Buffer {
  const block = Buffer.alloc(BLOCK);
  const data = type === '0' || type === 'L' ? Buffer.from(type === 'L' ? `${name}\0` : 'spliced') : type === 'x' ? Buffer.from(`${String(name.length + 9).padStart(2, '0')} path=${name}\n`) : Buffer.alloc(0);
  block.write(name, 0, 100, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write('13727710400\0', 136, 'latin1');
  block.write(type, 156, 'latin1');
  block.write(linkname, 157, 100, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  fixChecksum(block, 0);
  return Buffer.concat([block, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)]);
}

export function mutate(tar: Buffer, m: Mutation): Buffer {
  const out = Buffer.from(tar);
  if (out.length === 0) return out;
  switch (m.kind) {
    case 'flip':
      out[m.at % out.length]! ^= 1 << m.bit;
      return out;
    case 'truncate':
      return out.subarray(0, m.at % out.length);
    case 'field': {
      const offs = headerOffsets(out);
      if (offs.length === 0) return out;
      const at = offs[m.header % offs.length]!;
      const [off, len] = FIELDS[m.field];
      out.fill(0, at + off, at + off + len);
      out.write(m.value, at + off, len, 'latin1');
      if (m.fix) fixChecksum(out, at);
      return out;
    }
    case 'reorder': {
      const recs = records(out);
      if (recs.length < 2) return out;
      const order = m.order.map((i) => recs[i % recs.length]!);
      const tail = out.subarray(recs[recs.length - 1]![1]);
      return Buffer.concat([...order.map(([a, b]) => out.subarray(a, b)), tail]);
    }
    case 'splice': {
      const offs = headerOffsets(out);
      const at = offs.length === 0 ? 0 : offs[m.header % offs.length]!;
      return Buffer.concat([out.subarray(0, at), spliceRecord(m.name, m.type, m.linkname), out.subarray(at)]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The property

interface Input {
  layout: NonNullable<ImageSpec['layout']>;
  compression: NonNullable<ImageSpec['compression']>;
  /** The digest algorithm of descriptors, blob names and diff_ids (both the OCI spec registers). */
  digest: NonNullable<ImageSpec['digest']>;
  /** Which seed layers, bottom first. */
  layers: number[];
  /** Mutations of one layer, or of the whole archive (then run with verify off). */
  target: { layer: number } | 'archive';
  mutations: Mutation[];
}

const inputArb: fc.Arbitrary<Input> = fc.record({
  layout: fc.constantFrom('legacy' as const, 'docker-oci' as const, 'oci' as const),
  compression: fc.constantFrom('none' as const, 'gzip' as const, 'zstd' as const),
  digest: fc.constantFrom('sha256' as const, 'sha512' as const),
  layers: fc.array(fc.integer({ min: 0, max: SEED_LAYERS.length - 1 }), { minLength: 1, maxLength: 3 }),
  target: fc.oneof({ weight: 4, arbitrary: fc.record({ layer: fc.nat() }) }, { weight: 1, arbitrary: fc.constant('archive' as const) }),
  mutations: fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
});

async function buildInput(input: Input): Promise<{ bytes: Buffer; verify: boolean }> {
  const layers = input.layers.map((i) => seedLayers[i]!);
  const compression = input.layout === 'legacy' ? 'none' : input.compression;
  if (input.target === 'archive') {
    const archive = await imageArchive(layers, { layout: input.layout, compression, digest: input.digest });
    return { bytes: input.mutations.reduce(mutate, archive), verify: false };
  }
  const which = input.target.layer % layers.length;
  layers[which] = input.mutations.reduce(mutate, layers[which]!);
  return { bytes: await imageArchive(layers, { layout: input.layout, compression, digest: input.digest }), verify: true };
}

async function withinBound<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not end within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One command on `bytes` in a fresh root (in/, out/, tmp/): a result, or a clean one-line
 * LayerfoldError (`what` names the case), within the time bound; either way nothing left in tmp,
 * nothing beside the three, no partial output, and OUT empty after a refusal.
 */
async function runContained(command: HostileCommand, bytes: Buffer, verify: boolean, what: string): Promise<{ ok: boolean; out: string; image: string }> {
  const root = scratchDir();
  const [inDir, out, tmp] = ['in', 'out', 'tmp'].map((d) => join(root, d)) as [string, string, string];
  for (const d of [inDir, out, tmp]) mkdirSync(d);
  const image = join(inDir, 'image.tar');
  writeFileSync(image, bytes);
  let ok = false;
  try {
    await withinBound(command.library(image, out, tmp, { verify }), TIME_BOUND_MS);
    ok = true;
  } catch (e) {
    if (!isLayerfoldError(e)) throw new Error(`${what}: not a LayerfoldError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.message).not.toContain('\n');
  }
  expect(readdirSync(tmp)).toEqual([]);
  expect(readdirSync(root).sort()).toEqual(['in', 'out', 'tmp']);
  expect(readdirSync(inDir)).toEqual(['image.tar']);
  const written = listTree(out);
  expect(written.filter((n) => PARTIAL.test(n))).toEqual([]);
  if (!ok) expect(written).toEqual([]);
  return { ok, out, image };
}

async function runOne(input: Input): Promise<void> {
  const { bytes, verify } = await buildInput(input);
  for (const command of COMMANDS) {
    const { ok, out, image } = await runContained(command, bytes, verify, command.name);
    if (!ok) continue;
    const names = await command.resultNames(out, '', image);
    if (names === null) continue;
    expect(names.filter((n) => !isContainedName(n))).toEqual([]);
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile shapes (issue 20): counts and trees that amplify — a layer listed past docker's 125, an
// index listing one manifest many times under many names, one wide directory, one deep chain, config
// lists longer than a call's arguments may be (a spread into push() overflowed the stack past ~120,000)
// — with sha256 or sha512 descriptors, each possibly damaged further by the mutations above (then
// read with verify off).

const SHAPE_RUNS = Number(process.env.FUZZ_SHAPE_RUNS ?? 12);

type Shape =
  | { kind: 'listings'; count: number; layout: 'legacy' | 'oci' }
  | { kind: 'wide'; files: number }
  | { kind: 'deep'; depth: number }
  | { kind: 'index'; copies: number; names: boolean }
  | { kind: 'config-lists'; items: number };

type Digest = NonNullable<ImageSpec['digest']>;

const shapeArb: fc.Arbitrary<{ shape: Shape; digest: Digest; mutations: Mutation[] }> = fc.record({
  shape: fc.oneof(
    fc.record({ kind: fc.constant('listings' as const), count: fc.integer({ min: 1, max: 140 }), layout: fc.constantFrom('legacy' as const, 'oci' as const) }),
    fc.record({ kind: fc.constant('wide' as const), files: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ kind: fc.constant('deep' as const), depth: fc.integer({ min: 1, max: 400 }) }),
    fc.record({ kind: fc.constant('index' as const), copies: fc.integer({ min: 1, max: 3000 }), names: fc.boolean() }),
    fc.record({ kind: fc.constant('config-lists' as const), items: fc.integer({ min: 100_000, max: 250_000 }) }),
  ),
  digest: fc.constantFrom('sha256' as const, 'sha512' as const),
  mutations: fc.array(mutationArb, { maxLength: 2 }),
});

async function buildShape(shape: Shape, digest: Digest): Promise<Buffer> {
  switch (shape.kind) {
    case 'listings':
      return imageArchive(Array(shape.count).fill(seedLayers[0]!), { layout: shape.layout, digest });
    case 'wide':
      return imageArchive([await layerTar([e('wide/'), ...Array.from({ length: shape.files }, (_, i) => e(`wide/f${i}`, { content: '' }))])], { layout: 'oci', digest });
    case 'deep': {
      const dirs = Array.from({ length: shape.depth }, (_, i) => e(`${'d/'.repeat(i + 1)}`));
      return imageArchive([await layerTar([...dirs, e(`${'d/'.repeat(shape.depth)}file`)])], { layout: 'oci', digest });
    }
    case 'config-lists': {
      const many = (item: string) => Array<string>(shape.items).fill(item);
      return imageArchive([seedLayers[0]!], { layout: 'oci', digest, config: { Entrypoint: many('/bin/sh'), Cmd: many('-c'), Env: many('A=1') } });
    }
    case 'index':
      return gunzipSync(repeatedManifestImage({ copies: shape.copies, names: shape.names }) as Buffer);
  }
}

async function runShape({ shape, digest, mutations }: { shape: Shape; digest: Digest; mutations: Mutation[] }): Promise<void> {
  const bytes = mutations.reduce(mutate, await buildShape(shape, digest));
  const verify = mutations.length === 0;
  for (const command of COMMANDS) {
    const { ok } = await runContained(command, bytes, verify, `${command.name} on ${JSON.stringify({ ...shape, digest })}`);
    if (shape.kind === 'listings' && verify) expect(ok, `${command.name}: ${shape.count} listings`).toBe(shape.count <= 125);
    if (shape.kind === 'config-lists' && verify) expect(ok, `${command.name}: ${shape.items} items a list (${digest})`).toBe(true);
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile seeds: every case of fixtures/hostile (scripts/make-hostile.js), its outer archive mutated
// and read with verify off, so the damage reaches the manifest, config and layer readers of a shape
// already crafted to hurt (sha512 descriptors, links through lower layers, huge counts, odd JSON…).

// npm test: 3 mutated copies of each case, each through a third of the commands (every command sees
// each case once, in about the time of one copy through all); `npm run fuzz`: many, each through all.
const HOSTILE_RUNS = Number(process.env.FUZZ_HOSTILE_RUNS ?? 3);
const HOSTILE_STRIDE = Number(process.env.FUZZ_HOSTILE_STRIDE ?? 3);
const HOSTILE_DIR = 'fixtures/hostile';
const hostileCases = (JSON.parse(readFileSync(join(HOSTILE_DIR, 'cases.json'), 'utf8')) as { cases: Array<{ name: string; file: string }> }).cases;

/** A case's bytes, a gzip one unpacked first (the mutations work on tar records), a corrupt one as it is. */
function hostileSeed(file: string): Buffer {
  const bytes = readFileSync(join(HOSTILE_DIR, file));
  if (!file.endsWith('.gz')) return bytes;
  try {
    return gunzipSync(bytes);
  } catch {
    return bytes;
  }
}

/** A per-case seed for fast-check (and FUZZ_SEED): `npm test` checks the same mutations every time, and cases do not share them. */
const seedOf = (name: string) => [...name].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 20261204);

/** Run `run` (0, 1, …) of a case: the commands whose index is `run` modulo the stride. */
async function runHostileSeed(name: string, seed: Buffer, mutations: Mutation[], run: number): Promise<void> {
  const bytes = mutations.reduce(mutate, seed);
  for (const command of COMMANDS.filter((_, i) => i % HOSTILE_STRIDE === run % HOSTILE_STRIDE)) {
    const { ok, out, image } = await runContained(command, bytes, false, `${command.name} on ${name} mutated`);
    if (!ok) continue;
    const names = await command.resultNames(out, '', image);
    if (names !== null) expect(names.filter((n) => !isContainedName(n))).toEqual([]);
  }
}

/**
 * One property run: a fixed seed in `npm test`, so CI checks the same cases every time (`npm run fuzz`
 * draws new ones through FUZZ_SEED), FUZZ_PATH to replay a failure, stopping at the first.
 */
function checkProperty<T>(arb: fc.Arbitrary<T>, run: (value: T) => Promise<void>, numRuns: number, seed: number, fromEnv = true): Promise<void> {
  return fc.assert(fc.asyncProperty(arb, run), {
    numRuns,
    seed: fromEnv ? Number(process.env.FUZZ_SEED ?? seed) : seed,
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    endOnFailure: true,
  });
}

describe('fuzz', () => {
  it(`${SHAPE_RUNS} hostile shapes (layers listed past 125, repeated index entries, wide and deep trees, config lists of 100,000+; sha256 or sha512): a result or one clean error`, async () => {
    await checkProperty(shapeArb, runShape, SHAPE_RUNS, 20261203);
  }, Math.max(60_000, SHAPE_RUNS * 5_000));

  it('the mutations are not no-ops: most damaged layers are refused, some still pass', async () => {
    const outcomes = { ok: 0, refused: 0 };
    const samples = fc.sample(inputArb, { numRuns: 40, seed: 1 });
    for (const input of samples) {
      const { bytes, verify } = await buildInput({ ...input, target: { layer: 0 } });
      const root = scratchDir();
      const image = join(root, 'image.tar');
      writeFileSync(image, bytes);
      try {
        await COMMANDS[0]!.library(image, root, root, { verify });
        outcomes.ok++;
      } catch {
        outcomes.refused++;
      }
    }
    expect(outcomes.refused).toBeGreaterThan(5);
    expect(outcomes.ok).toBeGreaterThan(0);
  });

  it('every case of fixtures/hostile is a seed', () => {
    expect(hostileCases.length).toBe(readdirSync(HOSTILE_DIR).filter((f) => f !== 'cases.json').length);
    expect(hostileCases.length).toBeGreaterThanOrEqual(189);
  });

  it.each(hostileCases.map((c) => [c.name, c.file] as const))(`hostile seed %s, mutated ${HOSTILE_RUNS}×: a contained result or one clean error`, async (name, file) => {
    const seed = hostileSeed(file);
    let run = 0;
    await checkProperty(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (mutations) => runHostileSeed(name, seed, mutations, run++), HOSTILE_RUNS, seedOf(`${name}:${process.env.FUZZ_SEED ?? ''}`), false);
  }, Math.max(60_000, (HOSTILE_RUNS / HOSTILE_STRIDE) * 20_000));

  it(`${RUNS} mutated images: a contained result or one clean error, in time, nothing outside OUT`, async () => {
    await checkProperty(inputArb, runOne, RUNS, 20261128);
  }, Math.max(60_000, RUNS * 2_000));
});
