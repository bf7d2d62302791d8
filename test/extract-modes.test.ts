/**
 * extract gives a file its mode at creation when the kernel keeps it exactly, instead of an fchmod
 * per file (extract-dir.ts createsExactly). Whatever the caller's umask and DIR's default ACL, every
 * mode must come out as GNU tar -xpf makes it from the same layer (tar sets umask 0 and fchmods every
 * file): setuid/setgid after a chown to another owner, sticky files, modes the umask or ACL would cut.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createsExactly } from '../src/write/extract-dir.js';
import { e, imageArchive, layerTar, type EntrySpec } from './support/build.js';
import { hasCommand } from './support/read.js';

const isRoot = process.geteuid?.() === 0;

/** A default ACL blob (system.posix_acl_default, version 2) from [tag, perm, id] entries. */
function aclBlob(entries: Array<[number, number, number?]>): Buffer {
  const out = Buffer.alloc(4 + 8 * entries.length);
  out.writeUInt32LE(2);
  entries.forEach(([tag, perm, id], i) => {
    out.writeUInt16LE(tag, 4 + 8 * i);
    out.writeUInt16LE(perm, 6 + 8 * i);
    out.writeUInt32LE(id ?? 0xffffffff, 8 + 8 * i);
  });
  return out;
}
const USER_OBJ = 1;
const USER = 2;
const GROUP_OBJ = 4;
const MASK = 0x10;
const OTHER = 0x20;

// (mode 0 is the builder's default 0644, so 0o001 stands for a nearly empty mode)
const MODES = [0o644, 0o755, 0o664, 0o666, 0o777, 0o600, 0o444, 0o001, 0o640, 0o700, 0o4755, 0o2755, 0o6755, 0o1644, 0o4700];

function entries(privileged: boolean): EntrySpec[] {
  const out: EntrySpec[] = [e('d/', { mode: 0o755 })];
  for (const mode of MODES) {
    out.push(e(`m${mode.toString(8)}`, { mode }), e(`d/m${mode.toString(8)}`, { mode, content: '' }));
    // owned by someone else: chown clears setuid/setgid, so the mode must be set after it
    if (privileged) out.push(e(`o${mode.toString(8)}`, { mode, uid: 1000, gid: 1000 }), e(`g${mode.toString(8)}`, { mode, uid: 0, gid: 50, content: '' }));
  }
  return out;
}

type Setup = (dir: string) => void;
const plain: Setup = () => undefined;
const defaultAcl =
  (acl: Buffer): Setup =>
  (dir) => {
    // Node has no setxattr: setfattr (Debian package attr) takes the blob as hex
    const set = spawnSync('setfattr', ['-n', 'system.posix_acl_default', '-v', `0x${acl.toString('hex')}`, dir], { encoding: 'utf8' });
    expect(set.stderr).toBe('');
  };

function modes(dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const visit = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const st = lstatSync(join(dir, rel, name));
      out.push([join(rel, name), `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`]);
      if (st.isDirectory()) visit(join(rel, name));
    }
  };
  visit('');
  return out;
}

/** Run `argv` under `sh -c 'umask U; exec …'`, optionally as user 65534. */
function under(umask: string, argv: string[], asUser: boolean): { status: number | null; stderr: string } {
  const sh = ['sh', '-c', `umask ${umask}; exec "$@"`, 'sh', ...argv];
  const child = asUser ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...sh], { encoding: 'utf8' }) : spawnSync(sh[0]!, sh.slice(1), { encoding: 'utf8' });
  return { status: child.status, stderr: child.stderr };
}

/** `drwsr-xr-x`-style text (tar -tv, ls -l) as permission bits. */
function modeOfText(text: string): number {
  let mode = 0;
  for (let i = 0; i < 9; i++) if (text[i + 1] !== '-' && text[i + 1] !== 'S' && text[i + 1] !== 'T') mode |= 1 << (8 - i);
  if (/[sS]/.test(text[3]!)) mode |= 0o4000;
  if (/[sS]/.test(text[6]!)) mode |= 0o2000;
  if (/[tT]/.test(text[9]!)) mode |= 0o1000;
  return mode;
}

/** The modes and owners GNU tar reads from the layer (`tar -tv`), owners as user 65534 would get them. */
function listed(layerFile: string, asUser: boolean): Array<[string, string]> {
  const list = spawnSync('tar', ['--numeric-owner', '-tvf', layerFile], { encoding: 'utf8' });
  expect(list.stderr).toBe('');
  return list.stdout
    .trim()
    .split('\n')
    .map((line): [string, string] => {
      const [perm, owner, , , , name] = line.split(/\s+/);
      return [name!.replace(/\/$/, ''), `${modeOfText(perm!).toString(8)} ${asUser ? '65534:65534' : owner!.replace('/', ':')}`];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/**
 * Under a default ACL the reference is the layer's own listing: GNU tar -xpf itself skips fchmod
 * when it thinks open(2) gave the mode already (it assumes umask 0 and ignores the ACL), so it ends
 * with modes the ACL cut (0700 as 0600 under u::rw-; as a user, 0644 as 0640 under o::---).
 */
async function compareWithListing(setup: Setup, umask: string, asUser: boolean): Promise<void> {
  const { base, layerFile, mine } = await extractInto(setup, umask, asUser);
  expect(modes(mine).sort((a, b) => (a[0] < b[0] ? -1 : 1))).toEqual(listed(layerFile, asUser));
  rmSync(base, { recursive: true, force: true });
}

async function compareWithTar(setup: Setup, umask: string, asUser: boolean): Promise<void> {
  const { base, layerFile, mine, ref } = await extractInto(setup, umask, asUser);
  const tar = under(umask, ['tar', '--numeric-owner', '-p', ...(asUser ? [] : ['--same-owner']), '-xf', layerFile, '-C', ref], asUser);
  expect(tar.stderr).toBe('');
  expect(modes(mine)).toEqual(modes(ref));
  // and the reference is what the layer says
  expect(modes(mine).sort((a, b) => (a[0] < b[0] ? -1 : 1))).toEqual(listed(layerFile, asUser));
  rmSync(base, { recursive: true, force: true });
}

async function extractInto(setup: Setup, umask: string, asUser: boolean): Promise<{ base: string; layerFile: string; mine: string; ref: string }> {
  // a directory user 65534 can reach (mkdtemp makes 0700 ones)
  const base = mkdtempSync(join(tmpdir(), 'layerfold-modes-'));
  chmodSync(base, 0o755);
  const layer = await layerTar(entries(!asUser));
  const image = join(base, 'image.tar');
  const layerFile = join(base, 'layer.tar');
  writeFileSync(image, await imageArchive([layer]), { mode: 0o644 });
  writeFileSync(layerFile, layer, { mode: 0o644 });
  const mine = join(base, 'mine');
  const ref = join(base, 'ref');
  for (const d of [mine, ref]) {
    mkdirSync(d, { mode: 0o777 });
    setup(d);
  }
  if (asUser) spawnSync('chown', ['65534:65534', mine, ref]);
  const ours = under(umask, [process.execPath, 'bin/layerfold.js', 'extract', image, mine], asUser);
  expect(ours.stderr).toBe('');
  expect(ours.status).toBe(0);
  return { base, layerFile, mine, ref };
}

describe('createsExactly', () => {
  it('gives at creation only modes the mask keeps whole, never setuid/setgid/sticky', () => {
    expect(createsExactly(0o755, 0o644)).toBe(true);
    expect(createsExactly(0o755, 0o755)).toBe(true);
    expect(createsExactly(0o755, 0o664)).toBe(false);
    expect(createsExactly(0o700, 0o644)).toBe(false);
    expect(createsExactly(0o777, 0o4755)).toBe(false);
    expect(createsExactly(0o777, 0o2755)).toBe(false);
    expect(createsExactly(0o777, 0o1644)).toBe(false);
    expect(createsExactly(undefined, 0o644)).toBe(false);
  });
});

const skip = !isRoot ? 'needs root (owners, setuid after chown, a default ACL set on DIR)' : !hasCommand('setpriv') || !hasCommand('setfattr') || !existsSync('dist/cli/main.js') ? 'setpriv or dist/ missing' : undefined;

describe.skipIf(skip !== undefined)('modes after extract equal GNU tar -xpf of the same layer', () => {
  if (skip) console.log(`skipped: ${skip}`);
  it('as root, umask 022', () => compareWithTar(plain, '022', false));
  it('as root, umask 077', () => compareWithTar(plain, '077', false));
  it('as root, umask 000', () => compareWithTar(plain, '000', false));
  it('as root, DIR with a default ACL u::rwx g::r-x o::---', () => compareWithTar(defaultAcl(aclBlob([[USER_OBJ, 7], [GROUP_OBJ, 5], [OTHER, 0]])), '022', false));
  it('as root, DIR with a default ACL u::rw- user:1000:rwx g::rwx m::r-- o::r-x (the listing: tar -xpf cuts 0700 to 0600 here)', () =>
    compareWithListing(defaultAcl(aclBlob([[USER_OBJ, 6], [USER, 7, 1000], [GROUP_OBJ, 7], [MASK, 4], [OTHER, 5]])), '077', false));
  it('as user 65534, umask 077', () => compareWithTar(plain, '077', true));
  it('as user 65534, DIR with a default ACL o::--- (the listing: tar -xpf cuts 0644 to 0640 here)', () =>
    compareWithListing(defaultAcl(aclBlob([[USER_OBJ, 7], [GROUP_OBJ, 7], [OTHER, 0]])), '022', true));
});
