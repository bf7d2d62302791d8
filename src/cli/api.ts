/**
 * `layerfold/cli`: what the command line is made of, for tools that wrap it or print what it prints —
 * the CLI itself (`run`, with its streams as parameters), the renderers for people, the progress line
 * and the escaping every text output goes through. Less stable than the main entry point: output
 * formats for people may change between minor versions.
 */
export { run, main, type CliIO } from './main.js';
export { renderInspect, renderWasted, renderWhy, formatListLine, listEntryJson, jsonPieces, displayName, jsonName } from '../inspect/render.js';
export { renderDiff, type RenderOptions } from '../diff/report.js';
export { FIELDS, type FieldName } from '../diff/compare.js';
export { configView, renderConfigView, shellQuote, type ConfigView } from '../config-view.js';
export { progressFor, type Progress, type ProgressOptions } from '../progress.js';
export { printable, jsonText } from '../escape.js';
export { runAllCleanups, takeCleanupFailures } from '../io/cleanup.js';
export { parseTime } from '../time.js';
export { parseSize, parseFree, formatSize } from '../write/fs/sizing.js';
