/**
 * `layerfold inspect`: what an image holds and where its bytes go, without writing anything and
 * without reading file data (headers only). One flatten with a counting `onEntry`, one pass over the
 * merged tree for the surviving bytes, the config's history paired with the layers.
 * The report is plain data (JSON-ready); src/inspect/render.ts draws it as tables.
 */
import { flattenImage, type FlattenOptions } from '../flatten.js';
import type { Compression } from '../io/compression.js';
import type { RuntimeConfig } from '../read/config.js';
import type { Layout } from '../read/image-support.js';
import { originOf, pairHistory, type HistoryStep } from './history.js';
import { LayerCounter, survivingBytes } from './layers.js';

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
}

export type InspectOptions = Omit<FlattenOptions, 'dockerInit'>;

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
  const outer = options.onEntry;
  const flat = await flattenImage(input, {
    ...options,
    onEntry: (layer, entry, path) => {
      counter.onEntry(layer, entry, path);
      outer?.(layer, entry, path);
    },
  });
  try {
    const { image } = flat;
    const counts = counter.counts(flat.layers.length);
    const surviving = survivingBytes(flat.tree);
    const history = pairHistory(image.config.history, flat.layers.length);
    const layers = flat.layers.map((data, i): LayerReport => {
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
    };
    if (image.name !== undefined) report.name = image.name;
    if (image.platform !== undefined) report.platform = image.platform;
    if (image.configDigest !== undefined) report.configDigest = image.configDigest;
    if (image.config.created !== undefined) report.created = image.config.created;
    return report;
  } finally {
    flat.close();
  }
}
