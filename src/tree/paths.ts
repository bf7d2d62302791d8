/**
 * Entry names as docker normalises them: Go's filepath.Clean, then joined under the root.
 * `./a//b/` becomes `a/b`; `/a` becomes `a`; `a/../b` becomes `b`; `/../a` becomes `a` (the root's
 * parent is the root); a relative name that climbs above the root (`../a`, `a/../../b`) escapes,
 * which docker refuses ("breakout") — so do we: null. The root itself is ''.
 * Names are latin1 strings (raw bytes); only the bytes '/' and '.' mean anything here.
 */
export function cleanPath(name: string): string | null {
  // Most names need nothing but their slashes trimmed: no empty, `.` or `..` part inside.
  return isPlainName(name) ? trimSlashes(name) : cleanByParts(name);
}

/**
 * Go's filepath.Clean, part by part: a leading `/` stays, and so do the leading `..` parts of a
 * relative name (`../a`); `.` is ''. tar-split compares names cleaned so, without rooting them.
 */
export function goClean(name: string): string {
  const absolute = name.startsWith('/');
  const out: string[] = [];
  let ups = 0;
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') out.push(part);
    else if (out.length > 0) out.pop();
    else if (!absolute) ups++;
  }
  return (absolute ? '/' : '../'.repeat(ups)) + out.join('/');
}

/** The clean done part by part: what cleanPath's shortcut must agree with (test/paths.test.ts). */
export function cleanByParts(name: string): string | null {
  const clean = goClean(name);
  if (clean.startsWith('/')) return clean.slice(1);
  return clean === '..' || clean.startsWith('../') ? null : clean;
}

/** cleanPath(`/${name}`) — a name cleaned from the root, never null — without the concatenation. */
export function cleanRooted(name: string): string {
  return isPlainName(name) ? trimSlashes(name) : cleanPath(`/${name}`)!;
}

function trimSlashes(name: string): string {
  const start = name[0] === '/' ? 1 : 0;
  const end = name.length > start && name[name.length - 1] === '/' ? name.length - 1 : name.length;
  return name.slice(start, end);
}

/** No empty, `.` or `..` part, except one leading and one trailing slash. */
function isPlainName(name: string): boolean {
  if (name.includes('//') || name.includes('/./') || name.includes('/../')) return false;
  if (name.startsWith('./') || name.startsWith('../') || name === '.' || name === '..') return false;
  return !name.endsWith('/.') && !name.endsWith('/..');
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? '' : path.slice(0, i);
}

export function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
