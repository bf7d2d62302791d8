/**
 * One updating progress line on stderr for work that may run long (export, extract, diff, inspect).
 *
 * Rules:
 * - Shown only when the stream is a terminal, and never with --quiet or in --json mode: a disabled
 *   line is a no-op object, so callers wire it in unconditionally.
 * - Updates are cheap: `update()` stores numbers; the line is redrawn at most `fps` times a second
 *   (10 by default), and a timer redraws it while the work waits on I/O (elapsed time keeps moving).
 * - It says what is known: bytes and entries done, out of the total where the caller knows it, the
 *   current layer, the rate since the phase began and, with a byte total, the time left.
 * - `done()` erases the line, so the next thing written to stderr (an error, a summary) starts clean.
 *
 * Commands other than export use it the same way:
 *   const progress = progressFor(io.stderr, { quiet: args.quiet, json: args.json });
 *   try { await work({ onEntry: progress.onEntry, ... }) } finally { progress.done(); }
 */
import type { Writable } from 'node:stream';
import type { UnpackProgress } from './read/image-support.js';
import type { TarEntry } from './tar/entries.js';

export interface ProgressStream extends Pick<Writable, 'write'> {
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressState {
  /** What is happening: 'reading layers', 'writing', … */
  phase: string;
  bytes: number;
  entries: number;
  totalBytes?: number;
  totalEntries?: number;
  /** Index of the layer being applied, when that is what is happening. */
  layer?: number;
  layerCount?: number;
}

export interface ProgressOptions {
  /** Redraws per second at most (default 10). */
  fps?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Redraw on a timer while nothing calls update() (default true; tests turn it off). */
  timer?: boolean;
}

export interface Progress {
  readonly enabled: boolean;
  /** Start a phase: counters reset, rate measured from now. */
  phase(name: string, totals?: { bytes?: number; entries?: number; layerCount?: number }): void;
  /** Record how far the phase is; redraws when the last draw is old enough. */
  update(done: { bytes?: number; entries?: number; layer?: number }): void;
  /** An `onEntry` for flattenImage: counts entries and their data bytes, names the layer. */
  readonly onEntry: (layer: number, entry: TarEntry) => void;
  /**
   * An `onUnpack` for flattenImage: while an archive spools or compressed layers decompress, the
   * line shows that phase with its bytes; the phase that was showing comes back with the first entry.
   */
  readonly onUnpack: UnpackProgress;
  /** Erase the line. Safe to call twice. */
  done(): void;
}

const ERASE = '\r\x1b[K';

const UNPACK_PHASE: Record<Parameters<UnpackProgress>[0], string> = { archive: 'reading the archive', layers: 'decompressing layers' };

const disabled: Progress = {
  enabled: false,
  phase() {},
  update() {},
  onEntry() {},
  onUnpack() {},
  done() {},
};

/** Sizes as people read them: 1023 B, 1.5 KiB, 12.0 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const count = (n: number) => n.toLocaleString('en-US');

/** The text of the line for a state, `elapsedMs` after the phase began. */
export function describeProgress(state: ProgressState, elapsedMs: number): string {
  const parts: string[] = [state.phase];
  if (state.layer !== undefined) parts.push(state.layerCount !== undefined ? `layer ${state.layer + 1}/${state.layerCount}` : `layer ${state.layer + 1}`);
  const { totalBytes, totalEntries } = state;
  if (totalBytes !== undefined && totalBytes > 0) {
    const pct = Math.min(100, Math.floor((state.bytes / totalBytes) * 100));
    parts.push(`${pct}%`, `${formatBytes(state.bytes)} / ${formatBytes(totalBytes)}`);
  } else if (state.bytes > 0) parts.push(formatBytes(state.bytes));
  if (totalEntries !== undefined) parts.push(`${count(state.entries)} / ${count(totalEntries)} entries`);
  else if (state.entries > 0) parts.push(`${count(state.entries)} entries`);
  const seconds = elapsedMs / 1000;
  if (seconds >= 0.5 && state.bytes > 0) {
    const rate = state.bytes / seconds;
    parts.push(`${formatBytes(rate)}/s`);
    if (totalBytes !== undefined && totalBytes > state.bytes) parts.push(`${formatDuration((totalBytes - state.bytes) / rate)} left`);
  } else parts.push(formatDuration(seconds));
  return parts.join(' · ');
}

class TerminalProgress implements Progress {
  readonly enabled = true;
  private state: ProgressState = { phase: '', bytes: 0, entries: 0 };
  private started: number;
  private lastDraw = -Infinity;
  private shown = false;
  private interval: NodeJS.Timeout | undefined;
  /** The phase an unpack phase interrupted, shown again when entries start to come. */
  private resume: string | undefined;
  private readonly minGap: number;
  private readonly now: () => number;

  constructor(
    private readonly stream: ProgressStream,
    options: ProgressOptions,
  ) {
    this.minGap = 1000 / (options.fps ?? 10);
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    if (options.timer ?? true) {
      this.interval = setInterval(() => this.draw(), Math.max(this.minGap, 100));
      this.interval.unref();
    }
  }

  phase(name: string, totals: { bytes?: number; entries?: number; layerCount?: number } = {}): void {
    this.startPhase(name, totals);
    this.draw();
  }

  private startPhase(name: string, totals: { bytes?: number; entries?: number; layerCount?: number }): void {
    this.resume = undefined;
    this.state = { phase: name, bytes: 0, entries: 0 };
    if (totals.bytes !== undefined) this.state.totalBytes = totals.bytes;
    if (totals.entries !== undefined) this.state.totalEntries = totals.entries;
    if (totals.layerCount !== undefined) this.state.layerCount = totals.layerCount;
    this.started = this.now();
  }

  update(done: { bytes?: number; entries?: number; layer?: number }): void {
    if (done.bytes !== undefined) this.state.bytes = done.bytes;
    if (done.entries !== undefined) this.state.entries = done.entries;
    if (done.layer !== undefined) this.state.layer = done.layer;
    if (this.now() - this.lastDraw >= this.minGap) this.draw();
  }

  readonly onEntry = (layer: number, entry: TarEntry): void => {
    if (this.resume !== undefined) this.resumePhase();
    this.state.entries++;
    if (entry.type === 'file') this.state.bytes += entry.size;
    this.state.layer = layer;
    // Checking the clock on every entry costs more than counting: look every 256 entries.
    if ((this.state.entries & 255) === 0 && this.now() - this.lastDraw >= this.minGap) this.draw();
  };

  readonly onUnpack: UnpackProgress = (what, read, total) => {
    const name = UNPACK_PHASE[what];
    if (this.state.phase === name) {
      this.update({ bytes: read });
      return;
    }
    const interrupted = this.resume ?? this.state.phase;
    this.startPhase(name, total !== undefined ? { bytes: total } : {});
    this.resume = interrupted;
    this.state.bytes = read;
    this.draw();
  };

  private resumePhase(): void {
    const name = this.resume!;
    this.resume = undefined;
    this.phase(name);
  }

  private draw(): void {
    if (this.state.phase === '') return;
    const at = this.now();
    this.lastDraw = at;
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    let text = describeProgress(this.state, at - this.started);
    if (text.length > width) text = `${text.slice(0, width - 1)}…`;
    this.stream.write(`${ERASE}${text}`);
    this.shown = true;
  }

  done(): void {
    if (this.interval) clearInterval(this.interval);
    this.interval = undefined;
    if (this.shown) this.stream.write(ERASE);
    this.shown = false;
    this.state.phase = '';
  }
}

/**
 * The progress line for a command: live on a terminal, a no-op when the stream is not a terminal,
 * with `quiet`, or when the command writes JSON.
 */
export function progressFor(stream: ProgressStream, when: { quiet?: boolean | undefined; json?: boolean | undefined } = {}, options: ProgressOptions = {}): Progress {
  if (!stream.isTTY || when.quiet || when.json) return disabled;
  return new TerminalProgress(stream, options);
}
