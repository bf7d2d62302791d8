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
