/**
 * How a diff is shown. Text reads like `diff -u`: `---`/`+++` naming the sides, then one line per
 * path — `-` only in A, `+` only in B, `~` in both with the differing fields as `field A → B` — in
 * `docker export` order, and a summary line. Equal sides print nothing, as `diff` does. Colour only
 * when asked for (the CLI asks when stdout is a terminal and NO_COLOR is unset). `--json` prints the
 * whole result; `--stat` only the counts (as text or JSON). Notes (what could not be compared) are
 * in the result for the caller to show; the CLI prints them on stderr.
 */
import { displayText, jsonText, printable } from '../escape.js';
import type { BytesDiffResult, BytesSide, DiffOutcome } from './diff.js';
import type { DiffResult, FieldDifference, FieldValue, SideSummary } from './compare.js';
import { walkCompare } from './entries.js';

export interface RenderOptions {
  json?: boolean;
  stat?: boolean;
  color?: boolean;
}

const COLORS = { red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', bold: '\x1b[1m', reset: '\x1b[0m' } as const;
type Color = Exclude<keyof typeof COLORS, 'reset'>;

function painter(enabled: boolean): (color: Color, text: string) => string {
  return enabled ? (color, text) => `${COLORS[color]}${text}${COLORS.reset}` : (_color, text) => text;
}

function describeSide(side: SideSummary | BytesSide): string {
  const kind = side.kind === 'rootfs-tar' ? 'rootfs tar' : side.kind === 'image' ? 'image, flattened' : 'directory';
  return `${side.input === '-' ? 'stdin' : displayText(side.input)} (${kind}${side.compression !== 'none' ? `, ${side.compression}` : ''})`;
}

function showTime(seconds: number): string {
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return String(seconds);
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function showValue(field: FieldDifference['field'], value: FieldValue): string {
  if (field === 'mtime' && typeof value === 'number') return showTime(value);
  if (field === 'digest' && typeof value === 'string') return value.slice(0, 'sha256:'.length + 12);
  if (field === 'link' && typeof value === 'string') return jsonText(value);
  if (Array.isArray(value)) return `[${value.map(displayText).join(', ')}]`;
  if (typeof value === 'object') {
    const pairs = Object.entries(value).map(([k, v]) => `${displayText(k)}=${v.length > 24 ? `${v.slice(0, 24)}…` : v}`);
    return `{${pairs.join(', ')}}`;
  }
  return displayText(String(value));
}

function statLine(result: DiffResult): string {
  const fields = Object.entries(result.fieldCounts).map(([f, n]) => `${f} ${n}`);
  return (
    `${result.onlyInA.length} only in A, ${result.onlyInB.length} only in B, ${result.differ.length} differ` +
    `${fields.length ? ` (${fields.join(', ')})` : ''}, ${result.same} the same` +
    `${result.ignored ? `, ${result.ignored} ignored (--ignore-init)` : ''}`
  );
}

function statJson(result: DiffResult) {
  return {
    a: result.a,
    b: result.b,
    equal: result.equal,
    onlyInA: result.onlyInA.length,
    onlyInB: result.onlyInB.length,
    differ: result.differ.length,
    same: result.same,
    ignored: result.ignored,
    fields: result.fieldCounts,
    ...(result.order !== undefined ? { orderDiffers: result.order !== null } : {}),
  };
}

function renderEntries(result: DiffResult, options: RenderOptions): string {
  if (options.json) return `${jsonText(options.stat ? statJson(result) : result, 2)}\n`;
  const paint = painter(options.color ?? false);
  if (options.stat) return `${statLine(result)}\n`;
  if (result.equal) return '';
  const lines = [paint('bold', `--- A: ${describeSide(result.a)}`), paint('bold', `+++ B: ${describeSide(result.b)}`)];
  const dirMark = (type: string) => (type === 'dir' ? '/' : '');
  // paths and values are the images': escaped (escape.ts) before any colour is added
  const rows: Array<[string, string]> = [
    ...result.onlyInA.map((e): [string, string] => [e.path, paint('red', `- ${displayText(e.path)}${dirMark(e.type)}`)]),
    ...result.onlyInB.map((e): [string, string] => [e.path, paint('green', `+ ${displayText(e.path)}${dirMark(e.type)}`)]),
    ...result.differ.map((e): [string, string] => {
      const fields = e.fields.map((f) => `${f.field} ${showValue(f.field, f.a)} → ${showValue(f.field, f.b)}`);
      return [e.path, `${paint('yellow', `~ ${displayText(e.path)}${dirMark(e.type)}`)}  ${fields.join(', ')}`];
    }),
  ];
  // compared in place (no strings made per comparison), never spread into a call (a million rows
  // overflowed the stack)
  rows.sort((x, y) => walkCompare(x[0], y[0]));
  for (const r of rows) lines.push(r[1]);
  if (result.order) lines.push(paint('yellow', `order: the paths both hold part at #${result.order.index}: ${jsonText(result.order.a)} in A, ${jsonText(result.order.b)} in B`));
  lines.push(statLine(result));
  return `${lines.join('\n')}\n`;
}

function renderBytes(result: BytesDiffResult, options: RenderOptions): string {
  if (options.json) return `${jsonText(result, 2)}\n`;
  if (result.equal) return options.stat ? `identical: ${result.sizeA} bytes\n` : '';
  const d = result.difference!;
  const paint = painter(options.color ?? false);
  const where = d.entry !== undefined ? `entry ${jsonText(d.entry)}, ` : '';
  const what = d.region === 'header' ? `header field ${d.field}` : d.region === 'pax' ? `extended header record ${displayText(d.field ?? '')}` : d.region === 'data' ? 'content' : (d.field ?? 'end');
  const detail = d.detail ? ` (${d.detail})` : '';
  // d.a and d.b are JSON strings or hex already; printable() catches what JSON.stringify leaves raw
  return (
    `${paint('bold', `${describeSide(result.a)} and ${describeSide(result.b)} differ at byte ${d.offset}`)}: ${where}${what}${detail}\n` +
    `${paint('red', `- A: ${printable(d.a)}`)}\n${paint('green', `+ B: ${printable(d.b)}`)}\n`
  );
}

export function renderDiff(outcome: DiffOutcome, options: RenderOptions = {}): string {
  return outcome.mode === 'entries' ? renderEntries(outcome.result, options) : renderBytes(outcome.result, options);
}
