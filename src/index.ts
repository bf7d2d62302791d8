/**
 * layerfold's public API: one call per command, a read-only image view, plain data in and out. Every
 * name here is documented in README.md (Library) and kept stable; anything not exported here is
 * internal. The command line's own helpers (the CLI itself, renderers, the progress line) are behind
 * the second entry point, `layerfold/cli` (src/cli/api.ts). test/api.test.ts holds both to this: the
 * names, and that the CLI calls nothing else.
 */
// errors
export { LayerfoldError, isLayerfoldError, type ErrorCode } from './errors.js';
// an image, read-only
export { openImage, entries, type Image, type ImageOptions } from './image.js';
export type { ImageConfig } from './read/config.js';
export type { ListEntry } from './inspect/ls.js';
// one call per command
export { exportRootfs, type ExportOptions, type ExportResult } from './export.js';
export { extractRootfs, type ExtractOptions, type ExtractResult } from './write/extract-dir.js';
export { makeBundle, type BundleOptions, type BundleResult } from './write/bundle.js';
export { catFile, copyOut, type CopyOptions } from './write/copy-out.js';
export { readImageConfig, shellCommandLine } from './config-view.js';
export { dockerImportChanges } from './import-changes.js';
export { listImage, type ListOptions } from './inspect/ls.js';
export { inspectImage, type InspectOptions, type InspectReport } from './inspect/inspect.js';
export { explainPath, type WhyOptions, type WhyReport } from './inspect/why.js';
export { squashImage, type SquashOptions, type SquashResult } from './squash.js';
export { makeFilesystem, type MkfsOptions, type FsSummary } from './mkfs.js';
export { diffRootfs, type DiffOptions, type DiffOutcome } from './diff/diff.js';
