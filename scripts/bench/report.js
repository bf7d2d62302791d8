/**
 * Formatting of benchmark results for the terminal and for BENCHMARKS.md. The file mixes generated
 * and hand-written text: each generated part sits between `<!-- bench:KEY -->` and
 * `<!-- /bench:KEY -->` and is replaced in place, so a partial run (`--only`, `--quick`) updates only
 * its own sections and the analysis around them stays.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export const MB = 1e6;
export const fmtS = (s) => (s === undefined ? '–' : s < 10 ? s.toFixed(2) : s.toFixed(1));
export const fmtMiB = (b) => (b === undefined ? '–' : (b / 2 ** 20).toFixed(0));
export const fmtRatio = (r) => (r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`);
export const fmtInt = (n) => (n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));

/**
 * @param {Array<{label: string, cmd: string, wall: number, cpu?: number, rss?: number, note?: string}>} rows
 * @param {{bytes: number, entries?: number, floor?: number, self?: number}} basis: output size and
 *   entry count (for MB/s, entries/s), the floor's wall time and layerfold's (for the ratio columns)
 */
export function resultTable(rows, basis) {
  const lines = [
    '| what | wall s (median) | wall s (min) | CPU s | peak RSS MiB | MB/s | entries/s | × floor | × layerfold |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const mbs = r.wall ? basis.bytes / MB / r.wall : undefined;
    const eps = r.wall && basis.entries ? basis.entries / r.wall : undefined;
    lines.push(
      `| ${r.label}${r.note ? ` (${r.note})` : ''} | ${fmtS(r.wall)} | ${fmtS(r.samples ? Math.min(...r.samples.map((x) => x.wall)) : undefined)} | ${fmtS(r.cpu)} | ${r.rss === undefined ? '–' : fmtMiB(r.rss)} | ${mbs ? mbs.toFixed(0) : '–'} | ${fmtInt(eps)} | ${fmtRatio(basis.floor ? r.wall / basis.floor : undefined)} | ${fmtRatio(basis.self ? r.wall / basis.self : undefined)} |`,
    );
  }
  return lines.join('\n');
}

export function commandList(rows) {
  return rows.map((r) => `- ${r.label}: \`${r.cmd}\``).join('\n');
}

export function replaceSection(text, key, body) {
  const open = `<!-- bench:${key} -->`;
  const close = `<!-- /bench:${key} -->`;
  const block = `${open}\n${body.trim()}\n${close}`;
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start >= 0 && end > start) return text.slice(0, start) + block + text.slice(end + close.length);
  return `${text.trimEnd()}\n\n${block}\n`;
}

/** Replace (or append) generated sections of a markdown file, written via a temp file + rename. */
export function updateMarkdown(path, sections) {
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  for (const [key, body] of Object.entries(sections)) text = replaceSection(text, key, body);
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}
