/**
 * Text for people: the inspect tables, `ls` lines and `why` steps. Machines get the reports as JSON
 * (the CLI's --json); nothing here is parsed back.
 *
 * Rules:
 * - `ls --long` lines read like GNU `tar -tv --numeric-owner --full-time` in UTC (same mode string,
 *   `uid/gid`, `major,minor` for devices, `-> target`, `link to NAME`), prefixed by the layer column,
 *   so the two listings can be compared field by field.
 * - Names are raw bytes: valid UTF-8 is shown as is, other bytes and control characters (C1 too) as
 *   GNU tar shows them (`\377`, `\n`, `\\`, `\302\233`); every other text from the image (tags,
 *   config values, created_by) the same way (src/escape.ts).
 * - Sizes in tables are in binary units (KiB, MiB), with exact bytes in --json.
 */
import { displayName, displayText, jsonText } from '../escape.js';
import { formatBytes } from '../progress.js';
import type { HistoryStep } from './history.js';
import type { InspectReport, LayerReport } from './inspect.js';
import type { ListEntry } from './ls.js';
import type { EntryType } from '../tar/entries.js';
import type { NodeState, WhyReport, WhyStep } from './why.js';

export { displayName };

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/** A raw name for JSON: the UTF-8 text, or null when the bytes are not valid UTF-8 (see rawName). */
export function jsonName(latin1: string): { name: string; rawName?: string } {
  if (ASCII.test(latin1)) return { name: latin1 }; // the same text, not a copy
  const bytes = Buffer.from(latin1, 'latin1');
  const text = bytes.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(bytes)) return { name: text };
  return { name: displayName(latin1), rawName: bytes.toString('base64') };
}

const TYPE_CHAR: Record<EntryType, string> = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' };

/** `-rwsr-xr-t` as ls and tar show modes. */
export function modeString(type: EntryType, mode: number): string {
  const bit = (m: number, c: string) => (mode & m ? c : '-');
  const special = (x: number, s: number, on: string, off: string) => (mode & s ? (mode & x ? on : off) : bit(x, 'x'));
  return (
    TYPE_CHAR[type] +
    bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') + bit(0o020, 'w') + special(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') + bit(0o002, 'w') + special(0o001, 0o1000, 't', 'T')
  );
}

/** `2020-09-13 12:26:40` in UTC. */
export function formatTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  if (Number.isNaN(d.getTime())) return String(epochSeconds);
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

export function layerLabel(layer: number, layerCount: number): string {
  return layer >= layerCount ? 'init' : String(layer);
}

function linkSuffix(e: { type: EntryType; linkname: string }): string {
  if (e.type === 'symlink') return ` -> ${displayName(e.linkname)}`;
  if (e.type === 'hardlink') return ` link to ${displayName(e.linkname)}`;
  return '';
}

/** One `ls` line; `long` adds the tar -tv columns. */
export function formatListLine(e: ListEntry, layerCount: number, long: boolean): string {
  const layer = layerLabel(e.layer, layerCount).padStart(4);
  const name = `${displayName(e.name)}${linkSuffix(e)}`;
  if (!long) return `${layer}  ${name}`;
  const size = e.type === 'char' || e.type === 'block' ? `${e.devmajor},${e.devminor}` : String(e.size);
  return `${layer}  ${modeString(e.type, e.mode)} ${`${e.uid}/${e.gid}`.padEnd(9)} ${size.padStart(10)} ${formatTime(e.mtime)} ${name}`;
}

/** ls --json: one object per entry. */
export function listEntryJson(e: ListEntry, layerCount: number): Record<string, unknown> {
  // keys set in their order one by one, no spreads: a spread object per entry survived young GCs
  // and took `ls --json` of a million entries past 800 MB
  const out: Record<string, unknown> = { name: '' };
  const named = jsonName(e.name);
  out.name = named.name;
  if (named.rawName !== undefined) out.rawName = named.rawName;
  out.type = e.type;
  out.mode = `0${(e.mode & 0o7777).toString(8).padStart(3, '0')}`;
  out.uid = e.uid;
  out.gid = e.gid;
  out.size = e.size;
  out.mtime = e.mtime;
  if (e.linkname !== '') out.linkname = jsonName(e.linkname).name;
  if (e.type === 'char' || e.type === 'block') {
    out.devmajor = e.devmajor;
    out.devminor = e.devminor;
  }
  out.layer = e.layer >= layerCount ? 'init' : e.layer;
  if (e.implied) out.implied = true;
  return out;
}

// ---- inspect ----------------------------------------------------------------------------------

export function shortDigest(digest: string): string {
  const hex = digest.replace(/^(sha256|sha512):/, '');
  return hex.slice(0, 12);
}

function table(rows: string[][], rightAligned: Set<number>): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** Image text (a created_by) on one line, escaped (escape.ts), cut to `width`. */
function clip(text: string, width: number | undefined): string {
  const oneLine = displayText(text.replace(/\s+/g, ' ').trim());
  if (width === undefined || oneLine.length <= width) return oneLine;
  return `${oneLine.slice(0, Math.max(1, width - 1))}…`;
}

function configLines(r: InspectReport): string[] {
  const c = r.config;
  const rows: Array<[string, string[]]> = [
    ['Entrypoint', c.entrypoint ? [jsonText(c.entrypoint)] : []],
    ['Cmd', c.cmd ? [jsonText(c.cmd)] : []],
    ['Env', (c.env ?? []).map(displayText)],
    ['WorkingDir', c.workingDir ? [displayText(c.workingDir)] : []],
    ['User', c.user ? [displayText(c.user)] : []],
    ['ExposedPorts', c.exposedPorts?.length ? [c.exposedPorts.map(displayText).join(' ')] : []],
    ['Volumes', c.volumes?.length ? [c.volumes.map(displayText).join(' ')] : []],
    ['Labels', c.labels ? Object.entries(c.labels).map(([k, v]) => displayText(`${k}=${v}`)) : []],
    ['StopSignal', c.stopSignal ? [displayText(c.stopSignal)] : []],
  ];
  const out: string[] = [];
  for (const [key, values] of rows) {
    if (values.length === 0) continue;
    values.forEach((v, i) => out.push(`  ${(i === 0 ? key : '').padEnd(13)}${v}`));
  }
  return out;
}

function layerRow(l: LayerReport, withBlob: boolean): string[] {
  const row = [String(l.index), shortDigest(l.diffId)];
  if (withBlob) row.push(l.blobDigest ? `${shortDigest(l.blobDigest)} ${l.compression}` : l.compression === 'none' ? '' : l.compression);
  row.push(formatBytes(l.storedSize), formatBytes(l.size), l.entries.toLocaleString('en-US'), formatBytes(l.survivingBytes), formatBytes(l.wastedBytes));
  return row;
}

/** Layer rows in build order, with the empty-layer history steps between them. */
function historyRows(r: InspectReport, withBlob: boolean): Array<{ cells: string[]; origin: string }> {
  const rows: Array<{ cells: string[]; origin: string }> = [];
  const blanks = (withBlob ? 8 : 7) - 1;
  let printed = 0;
  const printLayersUpTo = (i: number) => {
    for (; printed <= i && printed < r.layers.length; printed++) {
      const l = r.layers[printed]!;
      rows.push({ cells: layerRow(l, withBlob), origin: l.createdBy ?? '' });
    }
  };
  for (const step of r.history as HistoryStep[]) {
    if (step.layer !== null) printLayersUpTo(step.layer);
    else rows.push({ cells: ['-', ...new Array<string>(blanks - 1).fill(''), ''], origin: `${step.createdBy ?? step.comment ?? ''}` });
  }
  printLayersUpTo(r.layers.length - 1);
  return rows;
}

/** The inspect report as text; `width` clips the created_by column (a terminal's columns). */
export function renderInspect(r: InspectReport, width?: number): string {
  const out: string[] = [];
  const head: Array<[string, string | undefined]> = [
    ['image', r.name ?? '(untagged)'],
    ['platform', r.platform],
    ['layout', r.layout],
    ['created', r.created],
    ['config', r.configDigest],
  ];
  for (const [k, v] of head) if (v !== undefined) out.push(`${k.padEnd(10)}${displayText(v)}`);
  if (r.images.length > 1 || (r.name !== undefined && r.images[0] !== r.name)) {
    out.push(`archive   ${r.images.length} image${r.images.length === 1 ? '' : 's'}:`);
    for (const name of r.images) out.push(`  ${displayText(name)}`);
  }
  const config = configLines(r);
  // no push(...x): an image's config lists and history can be longer than a call's arguments may be
  if (config.length) out.push('', 'config');
  for (const line of config) out.push(line);
  const withBlob = r.layers.some((l) => l.blobDigest !== undefined || l.compression !== 'none');
  const header = ['#', 'diff_id', ...(withBlob ? ['blob'] : []), 'stored', 'size', 'entries', 'surviving', 'wasted'];
  const rows = historyRows(r, withBlob);
  const lines = table([header, ...rows.map((x) => x.cells)], new Set(withBlob ? [0, 3, 4, 5, 6, 7] : [0, 2, 3, 4, 5, 6]));
  const tableWidth = lines.reduce((w, l) => Math.max(w, l.length), 0);
  out.push('', `${lines[0]}  created_by`);
  rows.forEach((row, i) => {
    const cells = lines[i + 1]!.padEnd(tableWidth);
    const room = width === undefined ? undefined : Math.max(10, width - tableWidth - 3);
    out.push(`${cells}  ${clip(row.origin, room)}`.trimEnd());
  });
  const t = r.totals;
  out.push(
    '',
    `total     ${r.layers.length} layers, ${t.entries.toLocaleString('en-US')} entries; stored ${formatBytes(t.storedSize)}, uncompressed ${formatBytes(t.size)}`,
    `files     ${formatBytes(t.fileBytes)} in all layers: ${formatBytes(t.survivingBytes)} survive, ${formatBytes(t.wastedBytes)} shadowed or deleted`,
    `efficiency ${(t.efficiency * 100).toFixed(2)} %`,
    `dive      efficiency ${(r.dive.efficiency * 100).toFixed(2)} %, wasted ${formatBytes(r.dive.wastedBytes)} in ${r.dive.inefficiencies.length} paths, user wasted ${(r.dive.userWastedPercent * 100).toFixed(2)} %`,
  );
  return `${out.join('\n')}\n`;
}

/** `inspect --wasted`: dive's inefficiencies, largest first: cumulative bytes, layers, path. */
export function renderWasted(r: InspectReport): string {
  const rows = r.dive.inefficiencies.map((x) => [formatBytes(x.bytes), String(x.layers.length), x.layers.join(','), displayName(x.path)]);
  const lines = table([['bytes', 'count', 'layers', 'path'], ...rows], new Set([0, 1]));
  lines.push('', `total     ${formatBytes(r.dive.wastedBytes)} in ${rows.length} paths (dive's wastedBytes: every copy of each, the surviving one included)`);
  return `${lines.join('\n')}\n`;
}

// ---- why --------------------------------------------------------------------------------------

const TYPE_WORD: Record<NodeState['type'], string> = { dir: 'directory', file: 'file', symlink: 'symlink', char: 'char device', block: 'block device', fifo: 'fifo' };

export function describeState(s: NodeState): string {
  const parts = [s.implied ? 'implied directory' : TYPE_WORD[s.type]];
  if (s.type === 'file') parts.push(formatBytes(s.size));
  if (s.type === 'symlink') parts.push(`-> ${displayName(s.linkname)}`);
  if (s.type === 'char' || s.type === 'block') parts.push(`${s.devmajor},${s.devminor}`);
  parts.push(`mode ${(s.mode & 0o7777).toString(8).padStart(4, '0')}`, `owner ${s.uid}:${s.gid}`, `mtime ${formatTime(s.mtime)}`);
  if (s.linked) parts.push('hard-linked');
  return parts.join(', ');
}

function fieldChange(field: string, before: NodeState, after: NodeState): string {
  const show = (s: NodeState): string => {
    switch (field) {
      case 'mode':
        return (s.mode & 0o7777).toString(8).padStart(4, '0');
      case 'mtime':
        return formatTime(s.mtime);
      case 'size':
        return `${s.size} B`;
      case 'linkname':
        return displayName(s.linkname);
      case 'type':
        return TYPE_WORD[s.type];
      default:
        return String(s[field as keyof NodeState]);
    }
  };
  return `${field} ${show(before)} → ${show(after)}`;
}

export function describeStep(s: WhyStep): string {
  const other = s.other !== undefined ? displayName(s.other) : '';
  const changes = s.before && s.after && s.changed ? s.changed.map((f) => fieldChange(f, s.before!, s.after!)).join(', ') : '';
  switch (s.kind) {
    case 'added':
      return `added: ${describeState(s.after!)}`;
    case 'changed':
      return changes ? `changed: ${changes}` : `entry again, nothing changed`;
    case 'replaced':
      return `replaced: ${TYPE_WORD[s.before!.type]} → ${describeState(s.after!)}`;
    case 'implied':
      return `made again by docker as an implied directory (a layer entry below it needed it)${changes ? `: ${changes}` : ', no visible change'}`;
    case 'whiteout':
      return other === '' || s.before === undefined ? 'deleted by a whiteout' : `deleted by a whiteout of ${other}`;
    case 'opaque':
      return `hidden: ${other === '' ? 'the root' : other} became an opaque directory`;
    case 'removed-with-ancestor':
      return `removed: its ancestor ${other} was replaced by a non-directory`;
    case 'hardlinked':
      return `now a hard link to ${other}: ${describeState(s.after!)}`;
    case 'link-added':
      return `${other} was hard-linked to it${changes ? `; the link entry set ${changes}` : ''}`;
  }
}

export function renderWhy(r: WhyReport, width?: number): string {
  const out = [displayName(r.path)];
  if (r.steps.length === 0) out.push('  no layer touches this path');
  for (const s of r.steps) {
    out.push(`  layer ${s.layer} ${shortDigest(s.diffId)}  ${describeStep(s)}`);
    out.push(`      entry ${displayName(s.entry)}${s.createdBy ? `  ·  ${clip(s.createdBy, width === undefined ? undefined : Math.max(20, width - 20 - displayName(s.entry).length))}` : ''}`);
  }
  out.push(r.final ? `final: ${describeState(r.final)}, from layer ${r.final.layer}` : 'final: not in the rootfs');
  return `${out.join('\n')}\n`;
}

// ---- JSON, piece by piece -----------------------------------------------------------------------

/** Arrays and objects at least this long are written item by item; smaller ones in one jsonText. */
const PIECEWISE = 256;

/** Items of a leaf list taken through jsonText at once. */
const SLICE = 4096;

const isLeaf = (value: unknown): boolean => value === null || typeof value !== 'object';

function isBig(value: unknown): boolean {
  if (Array.isArray(value)) return value.length >= PIECEWISE || value.some(isBig);
  if (value !== null && typeof value === 'object') {
    const values = Object.values(value);
    return values.length >= PIECEWISE || values.some(isBig);
  }
  return false;
}

/**
 * jsonText(value, space) in pieces, the same text: a report whose changes list a million paths is
 * never one string (nor the copy that writing it makes). Small parts go through jsonText whole; a
 * big array or object is laid out here as JSON.stringify lays it out (its members on their own
 * lines, `space` deeper; `undefined` members left out of objects and `null` in arrays). DEL and C1
 * only ever stand inside strings, so escaping each piece is escaping the whole.
 */
export function* jsonPieces(value: unknown, space: number, indent = ''): Generator<string> {
  if (!isBig(value)) {
    const text = jsonText(value, space);
    yield indent === '' ? text : text.replace(/\n/g, `\n${indent}`);
    return;
  }
  const inner = indent + ' '.repeat(space);
  if (Array.isArray(value) && value.every(isLeaf)) {
    // a list of paths: a slice at a time through jsonText, its brackets taken off, lines indented
    for (let at = 0; at < value.length; at += SLICE) {
      const text = jsonText(value.slice(at, at + SLICE), space);
      yield `${at === 0 ? '[' : ','}\n${indent}${text.slice(2, -2).replace(/\n/g, `\n${indent}`)}`;
    }
    yield `\n${indent}]`;
    return;
  }
  if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      yield `${i === 0 ? '' : ','}\n${inner}`;
      const item: unknown = value[i];
      yield* jsonPieces(item === undefined || typeof item === 'function' ? null : item, space, inner);
    }
    yield `\n${indent}]`;
    return;
  }
  const members = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined && typeof v !== 'function');
  if (members.length === 0) {
    yield '{}';
    return;
  }
  yield '{';
  for (const [i, [key, member]] of members.entries()) {
    yield `${i === 0 ? '' : ','}\n${inner}${jsonText(key)}: `;
    yield* jsonPieces(member, space, inner);
  }
  yield `\n${indent}}`;
}
