/**
 * `openImage` / `entries`: an image as a library user sees it — what it is (layout, name, platform,
 * config, layers with their digests and sizes) and its merged tree as plain entries in `docker export`
 * order — read-only, with no tree objects, file descriptors or temporary space showing. It is the
 * same flatten every command runs (flatten.ts); `close()` releases what that holds.
 */
import { flattenImage, type FlattenedImage, type FlattenOptions } from './flatten.js';
import type { Compression } from './io/compression.js';
import type { ImageConfig } from './read/config.js';
import type { Layout } from './read/image-support.js';
import { listEntryOf, type ListEntry } from './inspect/ls.js';
import { walkTree } from './tree/walk.js';
import { LayerfoldError } from './errors.js';

/** How an image is read: which one, which platform, checks, limits, credentials, time-outs. */
export type ImageOptions = Omit<FlattenOptions, 'onEntry' | 'beforeEntry' | 'onChange' | 'deferVerify'>;

export interface ImageLayer {
  /** 0 is the bottom layer. */
  readonly index: number;
  /** Digest of the uncompressed layer (the config's diff_id). */
  readonly diffId: string;
  /** Digest of the stored blob, where the layout names one. */
  readonly blobDigest?: string;
  readonly mediaType?: string;
  readonly compression: Compression;
  /** Bytes as stored, and uncompressed. */
  readonly storedSize: number;
  readonly size: number;
}

export interface Image {
  readonly layout: Layout;
  /** The name it was saved under, where it has one. */
  readonly name?: string;
  /** os/arch[/variant] */
  readonly platform?: string;
  readonly configDigest?: string;
  readonly config: Readonly<ImageConfig>;
  readonly layers: readonly ImageLayer[];
  /** Release the open files and temporary space (entries() cannot be called after). */
  close(): void;
}

const flattened = new WeakMap<Image, FlattenedImage>();

/** Open and flatten an image (anything `layerfold export` reads), digests checked unless `verify: false`. */
export async function openImage(input: string, options: ImageOptions = {}): Promise<Image> {
  const flat = await flattenImage(input, options);
  const { image } = flat;
  const layers = flat.layers.map((data, i): ImageLayer => {
    const ref = image.layers[i]!;
    return Object.freeze({
      index: i,
      diffId: data.diffId,
      ...(ref.blobDigest !== undefined ? { blobDigest: ref.blobDigest } : {}),
      ...(ref.mediaType !== undefined ? { mediaType: ref.mediaType } : {}),
      compression: data.compression,
      storedSize: data.storedSize,
      size: data.size,
    });
  });
  let open = true;
  const view: Image = Object.freeze({
    layout: image.layout,
    ...(image.name !== undefined ? { name: image.name } : {}),
    ...(image.platform !== undefined ? { platform: image.platform } : {}),
    ...(image.configDigest !== undefined ? { configDigest: image.configDigest } : {}),
    config: structuredClone(image.config),
    layers: Object.freeze(layers),
    close() {
      if (!open) return;
      open = false;
      flattened.delete(view);
      flat.close();
    },
  });
  flattened.set(view, flat);
  return view;
}

/** The merged tree's entries in `docker export` order, as plain objects (names are raw bytes as latin1). */
export function* entries(image: Image): Generator<ListEntry> {
  const flat = flattened.get(image);
  if (flat === undefined) throw new LayerfoldError('USAGE', 'entries(): the image is closed (or was not made by openImage)');
  for (const entry of walkTree(flat.tree)) yield listEntryOf(entry);
}
