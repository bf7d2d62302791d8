/**
 * layerfold's public API. The CLI (src/cli) uses nothing else.
 */
export { LayerfoldError, isLayerfoldError, type ErrorCode } from './errors.js';
export { flattenImage, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_SIZE, type FlattenOptions, type FlattenedImage } from './flatten.js';
export { exportRootfs, exportTotals, type ExportOptions, type ExportResult } from './export.js';
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
export { extractRootfs, extractTree, type ExtractOptions, type ExtractDirOptions, type ExtractResult, type ExtractDirResult, type SkipKind, type SkipRecord } from './write/extract-dir.js';
export { makeBundle, runtimeSpec, imageCommand, imageEnv, type BundleOptions, type BundleResult, type RuntimeSpec } from './write/bundle.js';
export { resolveUserSpec, resolveImageUser, resolveInTree, readTreeFile, type ImageUser } from './write/image-user.js';
export { configView, readImageConfig, renderConfigView, shellCommandLine, shellQuote, type ConfigView } from './config-view.js';
export { diffRootfs, type DiffOptions, type DiffOutcome, type BytesDiffResult, type BytesSide } from './diff/diff.js';
export { compareSides, FIELDS, INIT_PATHS, type CompareOptions, type DiffResult, type EntryDifference, type EntryInfo, type FieldDifference, type FieldName, type FieldValue, type OrderDifference, type SideSummary } from './diff/compare.js';
export type { BytesDifference, BytesResult } from './diff/bytes.js';
export type { DiffEntry, EntryType, InitFootprint, SideEntries, SideKind } from './diff/entries.js';
export { renderDiff, type RenderOptions } from './diff/report.js';
export { parseImageReference, describeReference, type ImageReference } from './read/transports.js';
export { parseDockerReference, type DockerReference } from './read/registry/reference.js';
export { pullToLayout, type PullOptions } from './read/registry/pull.js';
export { inspectImage, type InspectOptions, type InspectReport, type LayerReport, type ConfigSummary } from './inspect/inspect.js';
export { pairHistory, type HistoryStep, type PairedHistory } from './inspect/history.js';
export { LayerCounter, survivingBytes, type LayerCounts, type SurvivingBytes } from './inspect/layers.js';
export { listImage, listEntryOf, type ListEntry, type ListEntryType, type ListOptions, type ListSummary } from './inspect/ls.js';
export { explainPath, type WhyOptions, type WhyReport, type WhyStep, type WhyStepKind, type NodeState } from './inspect/why.js';
export { renderInspect, renderWhy, formatListLine, listEntryJson, displayName } from './inspect/render.js';
export { progressFor, describeProgress, formatBytes, type Progress, type ProgressOptions, type ProgressState, type ProgressStream } from './progress.js';
export { makeFilesystem, type MkfsOptions, type FsType, type FsSummary, type FreeSpec } from './mkfs.js';
