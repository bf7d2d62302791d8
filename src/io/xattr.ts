/**
 * The optional native package `@napi-rs/xattr` (prebuilt for linux x64/arm64 with glibc and musl, so
 * nothing is compiled at install), loaded once. Node has no getxattr/setxattr; where the package
 * cannot be loaded (no prebuilt binary for the platform, an install without optional dependencies),
 * callers fall back (extract: setfattr; diff: xattrs of a directory not compared) and say why once.
 */
import { createRequire } from 'node:module';

/** What of `@napi-rs/xattr` is used: calls that never follow a symlink in the last component. */
export interface XattrAddon {
  setAttributeSync(path: string, name: string, value: Uint8Array): void;
  getAttributeSync(path: string, name: string): Buffer | null;
}

let addon: { loaded: XattrAddon | null; why: string } | undefined;

/** `@napi-rs/xattr`, loaded once; null (with `xattrAddonProblem()` saying why) when it cannot be. */
export function xattrAddon(): XattrAddon | null {
  if (addon === undefined) {
    try {
      addon = { loaded: createRequire(import.meta.url)('@napi-rs/xattr') as XattrAddon, why: '' };
    } catch (e) {
      const first = ((e as Error).message ?? String(e)).split('\n')[0];
      addon = { loaded: null, why: `@napi-rs/xattr cannot be loaded on ${process.platform}-${process.arch} (${first})` };
    }
  }
  return addon.loaded;
}

/** Why the addon is not used, or '' when it is. */
export function xattrAddonProblem(): string {
  xattrAddon();
  return addon!.why;
}

/** Tests: force the fallback (`false`) or go back to loading the addon (`true`). */
export function useXattrAddon(use: boolean): void {
  addon = use ? undefined : { loaded: null, why: '@napi-rs/xattr turned off' };
}
