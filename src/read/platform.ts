/** Platforms as `os/arch[/variant]`, with the aliases people type and the host's own. */
import { LayerfoldError } from '../errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', x64: 'amd64', aarch64: 'arm64', i386: '386', ia32: '386', armhf: 'arm', armel: 'arm' };

export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new LayerfoldError('USAGE', `--platform ${JSON.stringify(text)}: expected os/arch or os/arch/variant, e.g. linux/arm64`);
  }
  const [os, arch, variant] = parts as [string, string, string | undefined];
  return normalise({ os, architecture: arch, variant });
}

function normalise(p: Platform): Platform {
  const architecture = ARCH_ALIASES[p.architecture] ?? p.architecture;
  let variant = p.variant || undefined;
  if (architecture === 'arm64' && variant === 'v8') variant = undefined; // v8 is arm64's only common variant
  return { os: p.os, architecture, ...(variant ? { variant } : {}) };
}

export function hostPlatform(): Platform {
  const arch = ARCH_ALIASES[process.arch] ?? (process.arch === 'ppc64' ? 'ppc64le' : process.arch);
  return normalise({ os: 'linux', architecture: arch, ...(process.arch === 'arm' ? { variant: 'v7' } : {}) });
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** A wanted platform without a variant matches any variant of its os/arch. */
export function platformMatches(wanted: Platform, have: Platform): boolean {
  const h = normalise(have);
  const w = normalise(wanted);
  return w.os === h.os && w.architecture === h.architecture && (w.variant === undefined || w.variant === h.variant);
}

/** The platform an image config states (os and architecture both strings), if it states one. */
export function platformOfConfig(config: { os?: unknown; architecture?: unknown; variant?: unknown }): Platform | undefined {
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string' || !config.os || !config.architecture) return undefined;
  return { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' && config.variant ? { variant: config.variant } : {}) };
}

/** `os/arch[/variant]` text (as OpenedImage.platform holds it) back into its parts. */
function platformOfText(text: string): Platform {
  const [os, architecture, variant] = text.split('/');
  return { os: os!, architecture: architecture!, ...(variant ? { variant } : {}) };
}

/**
 * The one platform chooser for every index, manifest list and multi-image archive: with one candidate
 * and no --platform, that one; else every candidate matching --platform (default: the host's). None
 * matching is NOT_FOUND naming what `holder` has ("the archive", "the registry", "the directory").
 */
export function choosePlatforms<T>(candidates: readonly T[], platformOf: (c: T) => Platform | undefined, wanted: Platform | undefined, holder: string, label?: string): T[] {
  if (candidates.length === 1 && wanted === undefined) return [candidates[0]!];
  const want = wanted ?? hostPlatform();
  const hits = candidates.filter((c) => {
    const p = platformOf(c);
    return p !== undefined && platformMatches(want, p);
  });
  if (hits.length > 0) return hits;
  const present = [...new Set(candidates.map((c) => { const p = platformOf(c); return p ? formatPlatform(p) : 'unknown'; }))].join(', ');
  throw new LayerfoldError('NOT_FOUND', `${label ? `${label}: ` : ''}no image for platform ${formatPlatform(want)}; ${holder} has: ${present || 'none'} (choose with --platform)`);
}

/**
 * A source that holds one image (a docker save entry, one dir: manifest, a store's image): --platform
 * only confirms its platform. `holds` is how the message names it ("the archive has:", "the store's image is").
 */
export function confirmPlatform(wanted: Platform | undefined, have: Platform | string | undefined, holds: string): void {
  if (!wanted || !have) return;
  const parsed = typeof have === 'string' ? platformOfText(have) : have;
  if (!platformMatches(wanted, parsed)) {
    throw new LayerfoldError('NOT_FOUND', `no image for platform ${formatPlatform(wanted)}; ${holds} ${typeof have === 'string' ? have : formatPlatform(have)}`);
  }
}
