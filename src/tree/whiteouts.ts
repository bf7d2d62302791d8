/**
 * How a layer names what it removes (the OCI image-spec's whiteouts, as docker's overlay2 reads them):
 * `.wh.NAME` hides NAME in lower layers; `.wh..wh..opq` in a directory hides all its lower children.
 * The one home of these names: apply.ts applies them, inspect counts them.
 */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type MarkerKind = 'whiteout' | 'opaque' | undefined;

/** What a layer entry's last name makes it: a whiteout, an opaque marker, or neither. */
export function markerKind(base: string): MarkerKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  return base === OPAQUE_MARKER ? 'opaque' : 'whiteout';
}

/** The path a whiteout at `path` (`dir/.wh.NAME`) hides: `dir/NAME`. */
export function whiteoutTarget(path: string): string {
  const slash = path.lastIndexOf('/');
  return `${path.slice(0, slash + 1)}${path.slice(slash + 1 + WHITEOUT_PREFIX.length)}`;
}
