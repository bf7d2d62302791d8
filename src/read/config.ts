/** The image config (application/vnd.oci.image.config.v1+json): what layerfold needs of it. */
import { LayerfoldError } from '../errors.js';
import { checkDigest } from './digest.js';

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The container settings an image carries (the config's `config` object). */
export interface RuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

export interface ImageConfig {
  created?: string;
  os?: string;
  architecture?: string;
  variant?: string;
  config: RuntimeConfig;
  diffIds: string[];
  history: HistoryEntry[];
  /** The config object as the image holds it, every field included (squash carries it over whole). */
  raw: Record<string, unknown>;
}


/** A list of strings as Go decodes one: a null element is "". */
const asStrings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((s) => typeof s === 'string' || s === null) ? v.map((s: string | null) => s ?? '') : undefined);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The container settings, checked against the types docker's own decoder demands (it refuses the
 * image otherwise), so that no command later stumbles on `Env: {}` with a TypeError. As in docker,
 * null means absent (and a null in a list or a label is ""), and Cmd or Entrypoint given as one
 * string is a list of one (strslice).
 */
function runtimeConfig(raw: Record<string, unknown>, label: string): RuntimeConfig {
  const bad = (field: string, what: string) => new LayerfoldError('BAD_LAYOUT', `${label}: config.${field} is not ${what}, as docker requires`);
  const out: Record<string, unknown> = { ...raw };
  const badList = (field: string): never => {
    throw bad(field, 'a list of strings');
  };
  for (const field of ['User', 'WorkingDir', 'StopSignal']) {
    if (raw[field] === null) delete out[field];
    else if (raw[field] !== undefined && typeof raw[field] !== 'string') throw bad(field, 'a string');
  }
  for (const field of ['Cmd', 'Entrypoint']) {
    const v = raw[field];
    if (typeof v === 'string') out[field] = [v];
    else if (v !== undefined && v !== null) out[field] = asStrings(v) ?? badList(field);
  }
  if (raw.Env === null) delete out.Env;
  else if (raw.Env !== undefined) out.Env = asStrings(raw.Env) ?? badList('Env');
  for (const field of ['Volumes', 'ExposedPorts']) {
    if (raw[field] === null) delete out[field];
    else if (raw[field] !== undefined && !isObject(raw[field])) throw bad(field, 'an object');
  }
  if (raw.Labels === null) delete out.Labels;
  else if (raw.Labels !== undefined) {
    if (!(isObject(raw.Labels) && Object.values(raw.Labels).every((v) => typeof v === 'string' || v === null))) throw bad('Labels', 'an object of strings');
    out.Labels = Object.fromEntries(Object.entries(raw.Labels).map(([k, v]) => [k, v ?? '']));
  }
  return out as RuntimeConfig;
}

export function parseImageConfig(json: unknown, label: string): ImageConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new LayerfoldError('BAD_LAYOUT', `${label}: the image config is not a JSON object`);
  }
  const c = json as Record<string, unknown>;
  const rootfs = c.rootfs as { diff_ids?: unknown } | undefined;
  const diffIds = rootfs?.diff_ids;
  if (!Array.isArray(diffIds)) throw new LayerfoldError('BAD_LAYOUT', `${label}: the image config has no valid rootfs.diff_ids (a list of digests)`);
  // each diff_id is verified against the uncompressed layer with its own algorithm: no other may pass
  diffIds.forEach((d, i) => checkDigest(d, `${label}: rootfs.diff_ids[${i}]`));
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const runtime = typeof c.config === 'object' && c.config !== null ? runtimeConfig(c.config as Record<string, unknown>, label) : {};
  const history = Array.isArray(c.history) ? (c.history.filter((h) => typeof h === 'object' && h !== null) as HistoryEntry[]) : [];
  const config: ImageConfig = { config: runtime, diffIds: diffIds as string[], history, raw: c };
  const created = str(c.created);
  if (created !== undefined) config.created = created;
  const os = str(c.os);
  if (os !== undefined) config.os = os;
  const arch = str(c.architecture);
  if (arch !== undefined) config.architecture = arch;
  const variant = str(c.variant);
  if (variant !== undefined) config.variant = variant;
  return config;
}
