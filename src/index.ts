/**
 * layerfold's public API. The CLI (src/cli) uses nothing else.
 */
export { LayerfoldError, isLayerfoldError, type ErrorCode } from './errors.js';
export { flattenImage, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_SIZE, type FlattenOptions, type FlattenedImage } from './flatten.js';
export { exportRootfs, type ExportOptions, type ExportResult } from './export.js';
export { walkTree, type WalkEntry } from './tree/walk.js';
export { Dir, Inode, lookup, type MergedTree, type Node, type InodeType } from './tree/node.js';
export { exportHeaderOf } from './write/export-tar.js';
export { encodeExportHeader, type ExportHeader } from './tar/header.js';
export type { OpenedImage, LayerRef, Layout } from './read/image-support.js';
export type { ImageConfig, RuntimeConfig, HistoryEntry } from './read/config.js';
export type { LayerData } from './read/layers.js';
export { parsePlatform, formatPlatform, hostPlatform, type Platform } from './read/platform.js';
export { parseTime } from './time.js';
export { runAllCleanups } from './io/cleanup.js';
