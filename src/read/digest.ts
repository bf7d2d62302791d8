/**
 * Content digests, one home for every reader: the algorithms the OCI image spec registers
 * (sha256, sha512) are verified wherever a digest names bytes — index, manifest, config, layer blob,
 * diff_id — and a digest naming any other algorithm is refused, never taken on trust: a digest that is
 * only checked for shape lets other bytes pass under its name.
 */
import { createHash } from 'node:crypto';
import { LayerfoldError, printable } from '../errors.js';

export const DIGEST_ALGORITHMS = ['sha256', 'sha512'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const EXPECTED = 'sha256:<64 hex> or sha512:<128 hex>';

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/** The algorithm of a digest that passed isDigest. */
export function algorithmOf(digest: string): DigestAlgorithm {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

/** Why `value` is not a digest we can check, as the end of a one-line message. */
export function whyNotDigest(value: unknown): string {
  if (typeof value !== 'string') return `no digest (expected ${EXPECTED})`;
  const alg = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):/.exec(value)?.[1];
  const shown = printable(value.length > 140 ? `${value.slice(0, 140)}…` : value);
  if (alg !== undefined && !(DIGEST_ALGORITHMS as readonly string[]).includes(alg)) {
    return `digest ${shown} uses the algorithm ${alg}, which layerfold cannot verify (only sha256 and sha512, those the OCI image spec registers)`;
  }
  return `digest ${shown} is not a valid digest (expected ${EXPECTED})`;
}

/** `value` as a digest, or BAD_LAYOUT naming `where`. */
export function checkDigest(value: unknown, where: string): string {
  if (isDigest(value)) return value;
  throw new LayerfoldError('BAD_LAYOUT', `${where}: ${whyNotDigest(value)}`);
}

/** `alg:hex` of bytes held in memory. */
export function digestOf(bytes: Buffer, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
