/** The image config (application/vnd.oci.image.config.v1+json): what layerfold needs of it. */
import { LayerfoldError } from '../errors.js';

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
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function parseImageConfig(json: unknown, label: string): ImageConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new LayerfoldError('BAD_LAYOUT', `${label}: the image config is not a JSON object`);
  }
  const c = json as Record<string, unknown>;
  const rootfs = c.rootfs as { diff_ids?: unknown } | undefined;
  const diffIds = rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && DIGEST.test(d))) {
    throw new LayerfoldError('BAD_LAYOUT', `${label}: the image config has no valid rootfs.diff_ids (a list of sha256:<64 hex> digests)`);
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const runtime = typeof c.config === 'object' && c.config !== null ? (c.config as RuntimeConfig) : {};
  const history = Array.isArray(c.history) ? (c.history.filter((h) => typeof h === 'object' && h !== null) as HistoryEntry[]) : [];
  const config: ImageConfig = { config: runtime, diffIds: diffIds as string[], history };
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
