/**
 * V8's optimising compiler (TurboFan), on only once a run has work enough to repay it: the CLI's
 * runs start with `--no-opt`, and `--opt` comes back on as soon as a run reports OPTIMISE_BYTES of
 * layers or more (stored, before they are read; uncompressed, before they are applied), or once
 * OPTIMISE_AFTER entries have been applied (BENCHMARKS.md, "Peak RSS, round 2").
 *
 * Why: on a small image TurboFan compiles ~70 functions whose code arrives when the run is nearly
 * over (1.2 s of compile-thread time on the 9k-entry Debian image); its compile zones and the
 * binary's TurboFan code are ~10 MiB of peak RSS, and the interpreter and Sparkplug run that image in
 * the same CPU time. But unoptimised, the per-entry code (header parse and checksum, apply, walk,
 * header encoding) costs ~26 us more per entry: about what TurboFan's compiles cost by 30k entries,
 * and on a run that gets TurboFan anyway each entry before the switch is pure loss (1 GiB image,
 * switch at 32k entries: +0.85 s CPU). Hence two triggers: the layer bytes, known before the first
 * header is read, turn it on at once for a big image (a 512 MiB image runs for seconds, and has
 * tens of thousands of entries unless its files are huge, when the switch costs nothing either);
 * the entry count catches a small image of many small files, paying at most 16k x 26 us there.
 * File bytes are copied and hashed by native code whatever the tier.
 *
 * The library never touches V8 flags (a program embedding it keeps its own): it only reports its
 * work on the diagnostics channel APPLY_CHANNEL (tree/apply.ts), which costs nothing unheard, and
 * only the CLI listens, here. Node keeps V8's flags writable after start-up
 * (20, 22 and 24 measured), and V8 reads this one each time a function's budget asks for
 * optimisation, so the switch takes effect for every function of both isolates (the flag is
 * process-wide). Maglev (Node 24's mid tier, on by default there) is left as it is.
 */
import { setFlagsFromString } from 'node:v8';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ApplyWork } from '../tree/apply.js';

/** tree/apply.ts's APPLY_CHANNEL, by name: the CLI takes no value from the library but its public API. */
const APPLY_CHANNEL = 'layerfold:apply';

/** Entries applied before TurboFan is turned on (measured: BENCHMARKS.md, "Peak RSS, round 2"). */
export const OPTIMISE_AFTER = 16_384;

/** Layer bytes (uncompressed, all layers) from which a run gets TurboFan before its first entry. */
export const OPTIMISE_BYTES = 512 * 1024 * 1024;

let applied = 0;
let threshold = Infinity;
let byteThreshold = Infinity;
let onBig: (() => void) | undefined;

function fire(): void {
  const run = onBig;
  threshold = byteThreshold = Infinity;
  onBig = undefined;
  unsubscribe(APPLY_CHANNEL, onWork);
  run?.();
}

/** A run's report: entries applied since the last one, or the layer bytes it is about to read or apply. */
function onWork(message: unknown): void {
  const work = message as ApplyWork;
  if (work.bytes !== undefined && work.bytes >= byteThreshold) fire();
  if (work.entries !== undefined && (applied += work.entries) >= threshold) fire();
}

/**
 * Run `fn` once, as soon as `entries` more entries have been applied in this process, or a run is
 * about to apply `bytes` of layers or more.
 */
export function whenWorkIsBig(entries: number, bytes: number, fn: () => void): void {
  threshold = applied + entries;
  byteThreshold = bytes;
  onBig = fn;
  subscribe(APPLY_CHANNEL, onWork);
  if (entries <= 0) fire();
}

/**
 * WebAssembly's own tier-up, off for the whole run: the header codec's loops (tar/wasm-block.ts) run
 * a few thousand calls before V8 would recompile them with TurboFan, and that one compile pages in
 * ~3 MiB of the binary's TurboFan code a lean run otherwise never touches (Debian image: 61 against
 * 57 MiB peak before it was off). Its baseline code (Liftoff) is quick enough: ~0.3 us a header.
 * V8 reads the budget when the module is instantiated, which is after this, at the first header; it
 * is left as it is when TurboFan comes on (the flag's default is not to be read back, and the loops
 * are not where a big run spends its time).
 */
const LIFTOFF_BUDGET = 2_000_000_000;

/** Flags that say the user chose a tier themselves (`node --jitless bin/layerfold.js`): left alone. */
const OWN_CHOICE = /^--(no-)?(opt|turbofan|jitless|lite-mode|max-opt)(=|$)/;
/** And flags that say they chose WebAssembly's tiers. */
const OWN_WASM_CHOICE = /^--(no-)?(liftoff|liftoff-only|wasm-tier-up|wasm-dynamic-tiering|wasm-tiering-budget)(=|$)/;

/** The state of the switch (tests). */
export const tiering = { lean: false, optimised: false };

/**
 * The CLI's start: TurboFan off until the work is big (above). Does nothing when the user set a tier
 * flag on node's command line or in NODE_OPTIONS.
 */
export function startLean(entries = OPTIMISE_AFTER, bytes = OPTIMISE_BYTES): void {
  const own = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (own.some((a) => OWN_CHOICE.test(a))) return;
  setFlagsFromString('--no-opt');
  if (!own.some((a) => OWN_WASM_CHOICE.test(a))) setFlagsFromString(`--wasm-tiering-budget=${LIFTOFF_BUDGET}`);
  tiering.lean = true;
  whenWorkIsBig(entries, bytes, () => {
    setFlagsFromString('--opt');
    tiering.optimised = true;
  });
}
