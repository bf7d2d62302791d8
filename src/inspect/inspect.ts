/**
 * `layerfold inspect`: what an image holds and where its bytes go, without writing anything and
 * without reading file data (headers only). One flatten with a counting `onEntry`, one pass over the
 * merged tree for the surviving bytes, the config's history paired with the layers.
 * The report is plain data (JSON-ready); src/inspect/render.ts draws it as tables.
 */
import { flattenImage, type FlattenedImage, type FlattenOptions } from '../flatten.js';
import type { Compression } from '../io/compression.js';
import type { RuntimeConfig } from '../read/config.js';
import type { Layout } from '../read/image-support.js';
import { originOf, pairHistory, type HistoryStep } from './history.js';
import { LayerCounter, survivingBytes } from './layers.js';
import { DiveCounter, type LayerChanges } from './dive.js';
import { jsonName } from './render.js';

/** A tree path (latin1 bytes) as report text: UTF-8, a name that is not UTF-8 escaped as `ls` shows it. */
const shown = (latin1: string): string => jsonName(latin1).name;

export interface LayerReport {
  index: number;
  diffId: string;
  /** The stored blob's digest, where it differs from the diff_id (a compressed layer). */
  blobDigest?: string;
  compression: Compression;
  mediaType?: string;
  /** Bytes as stored in the archive. */
  storedSize: number;
  /** Bytes of the uncompressed layer tar. */
  size: number;
  entries: number;
  files: number;
  whiteouts: number;
  opaqueMarkers: number;
  /** Sum of the layer's regular-file sizes. */
  fileBytes: number;
  /** Of those, the bytes still in the final rootfs. */
  survivingBytes: number;
  survivingFiles: number;
  /** fileBytes - survivingBytes: shadowed by later layers or deleted by whiteouts. */
  wastedBytes: number;
  created?: string;
  createdBy?: string;
  /** With `changes`: the paths this layer added, modified and deleted (UTF-8, undecodable bytes escaped). */
  changes?: LayerChanges;
}

export interface ConfigSummary {
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  env?: string[];
  workingDir?: string;
  user?: string;
  exposedPorts?: string[];
  volumes?: string[];
  labels?: Record<string, string>;
  stopSignal?: string;
}

export interface InspectReport {
  layout: Layout;
  /** The image shown (name it was saved under), when it has one. */
  name?: string;
  platform?: string;
  configDigest?: string;
  /** Every image in the archive, with its platform where the layout states one. */
  images: string[];
  created?: string;
  config: ConfigSummary;
  history: HistoryStep[];
  layers: LayerReport[];
  totals: {
    storedSize: number;
    size: number;
    entries: number;
    fileBytes: number;
    survivingBytes: number;
    wastedBytes: number;
    /** survivingBytes / fileBytes (1 for an image without file bytes). */
    efficiency: number;
  };
  /** The same image as dive scores it (inspect/dive.ts), for CI gates that used dive's rules. */
  dive: {
    efficiency: number;
    wastedBytes: number;
    /** A fraction; null in JSON where nothing was added above the first layer but something was wasted. */
    userWastedPercent: number;
    userSizeBytes: number;
    /** Paths found in two layers or more, largest first (dive's "inefficiencies"). */
    inefficiencies: Array<{ path: string; bytes: number; layers: number[] }>;
  };
}

export interface InspectOptions extends Omit<FlattenOptions, 'dockerInit' | 'include' | 'exclude'> {
  /** Record each layer's added, modified and deleted paths (`layers[].changes`). */
  changes?: boolean;
}

function summariseConfig(c: RuntimeConfig): ConfigSummary {
  const out: ConfigSummary = {};
  if (c.Entrypoint !== undefined) out.entrypoint = c.Entrypoint;
  if (c.Cmd !== undefined) out.cmd = c.Cmd;
  if (c.Env?.length) out.env = c.Env;
  if (c.WorkingDir) out.workingDir = c.WorkingDir;
  if (c.User) out.user = c.User;
  if (c.ExposedPorts && Object.keys(c.ExposedPorts).length) out.exposedPorts = Object.keys(c.ExposedPorts);
  if (c.Volumes && Object.keys(c.Volumes).length) out.volumes = Object.keys(c.Volumes);
  if (c.Labels && Object.keys(c.Labels).length) out.labels = c.Labels;
  if (c.StopSignal) out.stopSignal = c.StopSignal;
  return out;
}

export async function inspectImage(input: string, options: InspectOptions = {}): Promise<InspectReport> {
  const counter = new LayerCounter();
  const dive = new DiveCounter(options.changes ?? false);
  return reportOf(await readImage(input, options, counter, dive), counter, dive, options);
}

interface ReadImage {
  image: FlattenedImage['image'];
  layers: FlattenedImage['layers'];
  surviving: ReturnType<typeof survivingBytes>;
}

/**
 * Flatten with the counters listening, and take what the tree tells (the surviving bytes). The tree
 * lives in this call only: it is let go before the report's strings are made (a million added paths
 * as text would sit on top of a million-entry tree).
 */
async function readImage(input: string, options: InspectOptions, counter: LayerCounter, dive: DiveCounter): Promise<ReadImage> {
  const outer = options.onEntry;
  const flat = await flattenImage(input, {
    ...options,
    beforeEntry: dive.beforeEntry,
    onEntry: (layer, entry, path) => {
      counter.onEntry(layer, entry, path);
      outer?.(layer, entry, path);
    },
  });
  try {
    return { image: flat.image, layers: flat.layers, surviving: survivingBytes(flat.tree) };
  } finally {
    flat.close();
  }
}

function reportOf({ image, layers: layerData, surviving }: ReadImage, counter: LayerCounter, dive: DiveCounter, options: InspectOptions): InspectReport {
  const counts = counter.counts(layerData.length);
  const history = pairHistory(image.config.history, layerData.length);
  const scored = dive.analysis(layerData.length);
  const layers = layerData.map((data, i): LayerReport => {
    const ref = image.layers[i]!;
    const c = counts[i]!;
    const kept = surviving.bytes[i] ?? 0;
    const step = history.byLayer[i];
    const layer: LayerReport = {
      index: i,
      diffId: data.diffId,
      compression: data.compression,
      storedSize: data.storedSize,
      size: data.size,
      entries: c.entries,
      files: c.files,
      whiteouts: c.whiteouts,
      opaqueMarkers: c.opaqueMarkers,
      fileBytes: c.fileBytes,
      survivingBytes: kept,
      survivingFiles: surviving.files[i] ?? 0,
      wastedBytes: c.fileBytes - kept,
    };
    if (ref.blobDigest !== undefined && ref.blobDigest !== data.diffId) layer.blobDigest = ref.blobDigest;
    if (ref.mediaType !== undefined) layer.mediaType = ref.mediaType;
    if (step?.created !== undefined) layer.created = step.created;
    const origin = originOf(step);
    if (origin !== undefined) layer.createdBy = origin;
    const changes = dive.changes[i];
    if (options.changes && changes) layer.changes = { added: changes.added.map(shown), modified: changes.modified.map(shown), deleted: changes.deleted.map(shown) };
    return layer;
  });
  const sum = (f: (l: LayerReport) => number) => layers.reduce((a, l) => a + f(l), 0);
  const fileBytes = sum((l) => l.fileBytes);
  const kept = sum((l) => l.survivingBytes);
  const report: InspectReport = {
    layout: image.layout,
    images: image.images,
    config: summariseConfig(image.config.config),
    history: history.steps,
    layers,
    totals: {
      storedSize: sum((l) => l.storedSize),
      size: sum((l) => l.size),
      entries: sum((l) => l.entries),
      fileBytes,
      survivingBytes: kept,
      wastedBytes: fileBytes - kept,
      efficiency: fileBytes === 0 ? 1 : kept / fileBytes,
    },
    dive: {
      efficiency: scored.efficiency,
      wastedBytes: scored.wastedBytes,
      userWastedPercent: scored.userWastedPercent,
      userSizeBytes: scored.userSizeBytes,
      inefficiencies: scored.inefficiencies.map((x) => ({ path: shown(x.path), bytes: x.bytes, layers: x.layers })),
    },
  };
  if (image.name !== undefined) report.name = image.name;
  if (image.platform !== undefined) report.platform = image.platform;
  if (image.configDigest !== undefined) report.configDigest = image.configDigest;
  if (image.config.created !== undefined) report.created = image.config.created;
  return report;
}
