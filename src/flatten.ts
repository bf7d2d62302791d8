/**
 * The one flow every command shares: read (open the input, find the image, make each layer readable
 * and verified) → index and apply (the merged tree) → optionally add what `docker create` adds.
 * Writers, diff and inspect take the FlattenedImage this returns.
 */
import { LayerfoldError, showName } from './errors.js';
import { HashPool } from './io/hash-pool.js';
import { TempSpace } from './io/temp.js';
import type { OpenedImage, UnpackProgress } from './read/image-support.js';
import type { NetTimeouts } from './read/net-guard.js';
import { prepareLayers, type LayerData } from './read/layers.js';
import { findImage, openSource, type OpenOptions } from './read/open-image.js';
import { parsePlatform, type Platform } from './read/platform.js';
import { applyLayers, type ApplyOptions } from './tree/apply.js';
import { addDockerCreateLayer } from './tree/docker-create.js';
import { pruneTree } from './tree/filter.js';
import type { MergedTree } from './tree/node.js';
import { parseTimeOrUndefined } from './time.js';
import type { Readable } from 'node:stream';

export interface FlattenOptions {
  /** NAME:TAG to pick when the archive holds several images. */
  image?: string;
  /** os/arch[/variant]; default: the only platform present, else the host's. */
  platform?: string | Platform;
  /** Check every layer against its diff_id and every blob against its descriptor (default true). */
  verify?: boolean;
  /**
   * Add what `docker create` adds, as a container created at this time (epoch seconds), so the
   * output is byte-identical to `docker export`. Undefined: the image's rootfs alone.
   */
  dockerInit?: number;
  /** mtime for directories docker would make while unpacking (default: the image's `created`, else 0). */
  impliedMtime?: number;
  /** Directory for spooled layers (default: the OS temp dir). */
  tmpDir?: string;
  /** Refuse layers that unpack to more bytes than this. */
  maxSize?: number;
  /** Refuse layers that hold more entries than this. */
  maxEntries?: number;
  /** Layers decompressed at once (default: the core count). */
  concurrency?: number;
  /** Source of `-` (default process.stdin). */
  stdin?: Readable;
  /** docker:// registry credentials `USER:PASS` (default: docker's config file, else anonymous). */
  creds?: string;
  /** docker://: do not verify TLS certificates, and allow plain HTTP. */
  insecure?: boolean;
  /** Keep only these paths (and the directories above them); see tree/filter.ts for the patterns. */
  include?: string[];
  /** Leave out these paths and their subtrees; wins over `include`. */
  exclude?: string[];
  /**
   * docker:// and docker-daemon:: time-outs in ms and the slowest transfer taken, in bytes a second
   * (defaults: connect 10 s, response 12 s from sending, idle 12 s, 1024 bytes/s over each idle window).
   */
  timeouts?: Partial<NetTimeouts>;
  /** docker://: attempts after a transient failure (reset, time-out, 5xx), the first included (default 5). */
  attempts?: number;
  onEntry?: ApplyOptions['onEntry'];
  beforeEntry?: ApplyOptions['beforeEntry'];
  /** Every change the layers make to the tree (tree/changes.ts); `why` is built from these. */
  onChange?: ApplyOptions['onChange'];
  /** Byte progress while a compressed or piped archive is spooled and compressed layers unpack. */
  onUnpack?: UnpackProgress;
  /**
   * Return before the digest checks of uncompressed layers have finished (they run on worker threads);
   * the caller must then await `verified` before it makes anything final. Default false.
   */
  deferVerify?: boolean;
  /**
   * docker://: keep the layer blobs as the registry sent them (squash --keep copies them), instead of
   * unpacking each as it arrives. Default false.
   */
  keepStoredBlobs?: boolean;
}

export const DEFAULT_MAX_SIZE = 256 * 1024 ** 3;
/** About 385 bytes of heap an entry (BENCHMARKS.md, entries-1m): 8M entries stay inside the ~4 GB heap Node gives itself by default; more would crash out of memory instead of failing with a message. */
export const DEFAULT_MAX_ENTRIES = 8_000_000;

export interface FlattenedImage {
  image: OpenedImage;
  layers: LayerData[];
  tree: MergedTree;
  /** The mtime implied directories were given. */
  impliedMtime: number;
  /** Settles when every digest check has passed (already settled unless `deferVerify`). */
  verified: Promise<void>;
  /** Release open files and temporary space. */
  close(): void;
}

/** How to open the input, from the options every command shares (config-view.ts uses it too). */
export function openOptionsOf(options: FlattenOptions): OpenOptions {
  const open: OpenOptions = { maxSize: options.maxSize ?? DEFAULT_MAX_SIZE };
  const platform = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  if (options.image !== undefined) open.image = options.image;
  if (platform) open.platform = platform;
  if (options.stdin) open.stdin = options.stdin;
  if (options.creds !== undefined) open.creds = options.creds;
  if (options.insecure) open.insecure = true;
  if (options.timeouts) open.timeouts = options.timeouts;
  if (options.attempts !== undefined) open.attempts = options.attempts;
  if (options.onUnpack) open.onUnpack = options.onUnpack;
  return open;
}

function keepOnly(tree: MergedTree, include: string[], exclude: string[]): void {
  const { missing } = pruneTree(tree, { include, exclude });
  if (missing.length > 0) throw new LayerfoldError('NOT_FOUND', `--include ${showName(missing[0]!)}: no such path in the image`);
}

export async function flattenImage(input: string, options: FlattenOptions = {}): Promise<FlattenedImage> {
  const temp = TempSpace.create(options.tmpDir);
  const hashPool = new HashPool();
  let source;
  let verified: Promise<void> | undefined;
  try {
    const open = openOptionsOf(options);
    source = await openSource(input, temp, { ...open, unpackLayers: !options.keepStoredBlobs });
    const image = await findImage(source, open);
    const layers = await prepareLayers(image, temp, {
      verify: options.verify ?? true,
      hashPool,
      maxSize: options.maxSize ?? DEFAULT_MAX_SIZE,
      ...(options.onUnpack ? { onUnpack: options.onUnpack } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
    const impliedMtime = options.impliedMtime ?? parseTimeOrUndefined(image.config.created) ?? 0;
    verified = Promise.all(layers.map((l) => l.verified)).then(() => undefined);
    verified.catch(() => undefined);
    const tree = await applyLayers(layers, {
      impliedMtime,
      maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
      maxSize: options.maxSize ?? DEFAULT_MAX_SIZE,
      ...(options.onEntry ? { onEntry: options.onEntry } : {}),
      ...(options.beforeEntry ? { beforeEntry: options.beforeEntry } : {}),
      ...(options.onChange ? { onChange: options.onChange } : {}),
    });
    if (options.dockerInit !== undefined) {
      addDockerCreateLayer(tree, options.dockerInit, image.config.config);
    }
    if (options.include?.length || options.exclude?.length) keepOnly(tree, options.include ?? [], options.exclude ?? []);
    if (!options.deferVerify) await verified;
    const opened = source;
    return {
      image,
      layers,
      tree,
      impliedMtime,
      verified,
      close() {
        hashPool.close();
        opened.close();
        temp.dispose();
      },
    };
  } catch (e) {
    // A layer that fails to parse may simply be corrupt: its digest says so more precisely.
    if (verified && !(e instanceof LayerfoldError && e.code === 'DIGEST_MISMATCH')) {
      const failure = await verified.then(() => undefined, (v: unknown) => v);
      if (failure instanceof LayerfoldError && failure.code === 'DIGEST_MISMATCH') e = failure;
    }
    hashPool.close();
    source?.close();
    temp.dispose();
    if (e instanceof LayerfoldError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) {
      throw new LayerfoldError('IO', `${input}: ${err.message}`, { cause: e });
    }
    throw e;
  }
}
