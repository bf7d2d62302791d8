/**
 * POSIX default ACLs (`system.posix_acl_default`), as far as they change what docker makes. Pinned on
 * Docker 26.1 by fixtures/docker/acl-*:
 *
 * - A directory's default ACL is what the kernel gives a file or directory made in it: its mode is the
 *   mode asked for masked by the ACL (user bits by `user::`, group bits by `mask::` when there is one,
 *   else `group::`, other bits by `other::`; the umask is ignored), and a directory made there inherits
 *   the default ACL itself. Files `docker create` makes (0755) show it (`etc/hostname` 0750); the
 *   directories docker makes (init directories, WorkingDir, a layer's implied directories) are chmodded
 *   back to 0755 when their permission bits differ, which also drops a setgid bit they inherited.
 *   Entries from layers are chmodded to their header's mode, so the ACL never shows on them.
 * - Only the directory as the uppermost layer holding it has it counts (overlayfs shows that one's
 *   xattrs): a layer's directory gets the ACL its entry carries, else inherits it from its parent in
 *   the same layer (docker unpacks each layer into a directory of its own), else has none.
 * - The blob is the kernel's xattr format: a little-endian u32 version 2, then 8-byte entries (u16 tag,
 *   u16 permissions, u32 id). The kernel refuses another version (EOPNOTSUPP), a broken or misordered
 *   list (EINVAL), a default ACL on anything but a directory (EACCES) and any ACL on a symlink
 *   (EOPNOTSUPP), and docker's unpack fails with it; a version header with no entries removes the
 *   ACL. `system.posix_acl_access` is checked the same way; docker's chmod hides what it sets.
 */

/** The parts of a default ACL that decide a new inode's mode. */
export interface DefaultAcl {
  userObj: number;
  groupObj: number;
  mask: number | undefined;
  other: number;
}

/** The kernel's ACL entry tags (ACL_USER_OBJ, …); an entry of any other tag is refused. */
const TAG = { USER_OBJ: 0x01, USER: 0x02, GROUP_OBJ: 0x04, GROUP: 0x08, MASK: 0x10, OTHER: 0x20 } as const;
const TAGS: readonly number[] = Object.values(TAG);
const UNDEFINED_ID = 0xffffffff;
/** The largest xattr value setxattr(2) takes (E2BIG past it); a filesystem may hold less (ext4: what fits a block). */
const XATTR_SIZE_MAX = 65536;

/** Why the kernel refuses a blob: the errno text docker prints. */
export class AclError extends Error {}

/** An ACL as the kernel's posix_acl_from_xattr decodes it: [tag, perm] pairs, ids checked, not yet validated. */
type AclEntries = Array<[tag: number, perm: number]>;

/**
 * posix_acl_from_xattr: the version (EOPNOTSUPP), the size, known tags, named entries with an id
 * (EINVAL). An empty list (a header alone) means no ACL.
 */
function decodeAcl(value: string): AclEntries {
  const blob = Buffer.from(value, 'latin1');
  if (blob.length > XATTR_SIZE_MAX) throw new AclError('argument list too long'); // setxattr's own limit
  if (blob.length < 4) throw new AclError('invalid argument');
  if (blob.readUInt32LE(0) !== 2) throw new AclError('operation not supported');
  if ((blob.length - 4) % 8 !== 0) throw new AclError('invalid argument');
  const entries: AclEntries = [];
  for (let off = 4; off < blob.length; off += 8) {
    const tag = blob.readUInt16LE(off);
    if (!TAGS.includes(tag)) throw new AclError('invalid argument');
    if ((tag === TAG.USER || tag === TAG.GROUP) && blob.readUInt32LE(off + 4) === UNDEFINED_ID) throw new AclError('invalid argument');
    entries.push([tag, blob.readUInt16LE(off + 2)]);
  }
  return entries;
}

/**
 * posix_acl_valid: permissions within rwx; user::, user:ID..., group::, group:ID..., mask:: (needed
 * after named entries), other::, each once and in that order (EINVAL otherwise).
 */
function validAcl(entries: AclEntries): DefaultAcl {
  const acl: DefaultAcl = { userObj: 0, groupObj: 0, mask: undefined, other: 0 };
  let state: number = TAG.USER_OBJ;
  let needsMask = false;
  for (const [tag, perm] of entries) {
    if (perm & ~7) throw new AclError('invalid argument');
    if (tag === TAG.USER_OBJ && state === TAG.USER_OBJ) [acl.userObj, state] = [perm, TAG.USER];
    else if ((tag === TAG.USER && state === TAG.USER) || (tag === TAG.GROUP && state === TAG.GROUP)) needsMask = true;
    else if (tag === TAG.GROUP_OBJ && state === TAG.USER) [acl.groupObj, state] = [perm, TAG.GROUP];
    else if (tag === TAG.MASK && state === TAG.GROUP) [acl.mask, state] = [perm, TAG.OTHER];
    else if (tag === TAG.OTHER && (state === TAG.OTHER || (state === TAG.GROUP && !needsMask))) [acl.other, state] = [perm, 0];
    else throw new AclError('invalid argument');
  }
  if (state !== 0) throw new AclError('invalid argument');
  return acl;
}

/** What an ACL is set on: the kernel answers differently for each. */
export type AclTarget = 'dir' | 'symlink' | 'other';

/**
 * The default ACL a `system.posix_acl_default` value (raw bytes as latin1) sets on an inode, in the
 * kernel's order of checks: none on a symlink (EOPNOTSUPP); decoded; on anything but a directory,
 * EACCES unless it is empty; then validated. Undefined for an empty ACL; AclError with the errno text
 * where the kernel refuses.
 */
export function defaultAclOf(value: string, target: AclTarget): DefaultAcl | undefined {
  if (target === 'symlink') throw new AclError('operation not supported');
  const entries = decodeAcl(value);
  if (entries.length === 0) return undefined;
  if (target !== 'dir') throw new AclError('permission denied');
  return validAcl(entries);
}

/**
 * A `system.posix_acl_access` value checked as the kernel checks it (none on a symlink, decoded,
 * validated). Its effect never shows: docker chmods every entry to its header's mode afterwards.
 */
export function checkAccessAcl(value: string, target: AclTarget): void {
  if (target === 'symlink') throw new AclError('operation not supported');
  const entries = decodeAcl(value);
  if (entries.length > 0) validAcl(entries);
}

/** The mode the kernel gives an inode made with `mode` in a directory with this default ACL. */
export function createdMode(mode: number, acl: DefaultAcl | undefined): number {
  if (!acl) return mode; // docker's umask is 0022, and every mode it asks for is 0755
  const group = acl.mask ?? acl.groupObj;
  return (mode & ~0o777) | (mode & (acl.userObj << 6)) | (mode & (group << 3)) | (mode & acl.other);
}

/**
 * The mode of a directory docker makes with MkdirAllAndChownNew(0755) where the kernel first gave it
 * `made`: chmodded to 0755 when the permission bits differ (which drops setgid), else as made.
 */
export function dockerDirMode(made: number): number {
  return (made & 0o777) === 0o755 ? made : 0o755;
}
