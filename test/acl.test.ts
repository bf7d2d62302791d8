/**
 * Default POSIX ACLs (tree/acl.ts) against the kernel of this machine: a directory is given each ACL
 * with setfattr, then a file and a directory are made in it with mode 0755, as docker makes them; the
 * modes must be what createdMode predicts, and every blob the kernel refuses (with its errno text) must
 * be refused with that text. What docker does with those modes is pinned by fixtures/docker/acl-*.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AclError, checkAccessAcl, createdMode, defaultAclOf, dockerDirMode, type AclTarget } from '../src/tree/acl.js';
import { scratchDir } from './support/build.js';
import { hasCommand } from './support/read.js';

const TAGS = { u: 1, user: 2, g: 4, group: 8, m: 0x10, o: 0x20 } as const;

/** An ACL blob from entries like 'u:rwx', 'user:1000:r-x', 'm:r--' (version 2 unless said). */
function blob(entries: string[], version = 2): Buffer {
  const out = [Buffer.alloc(4)];
  out[0]!.writeUInt32LE(version);
  for (const e of entries) {
    const parts = e.split(':');
    const perm = parts[parts.length - 1]!;
    const b = Buffer.alloc(8);
    b.writeUInt16LE(TAGS[parts[0] as keyof typeof TAGS]);
    b.writeUInt16LE((perm.includes('r') ? 4 : 0) | (perm.includes('w') ? 2 : 0) | (perm.includes('x') ? 1 : 0), 2);
    b.writeUInt32LE(parts.length === 3 ? Number(parts[1]) : 0xffffffff, 4);
    out.push(b);
  }
  return Buffer.concat(out);
}

const rwx = (n: number): string => `${n & 4 ? 'r' : '-'}${n & 2 ? 'w' : '-'}${n & 1 ? 'x' : '-'}`;

/** setfattr's outcome on a fresh directory (or a file): '' or the errno text it printed. */
function setAcl(path: string, value: Buffer, name = 'system.posix_acl_default'): string {
  const r = spawnSync('setfattr', ['-h', '-n', name, '-v', `0x${value.toString('hex')}`, path], { encoding: 'utf8' });
  if (r.status === 0) return '';
  return (/: ([^:]+)$/.exec(r.stderr.trim())?.[1] ?? r.stderr.trim()).toLowerCase();
}

const kernel = process.getuid?.() === 0 && hasCommand('setfattr');

describe.runIf(kernel)('default ACLs on this kernel', () => {
  const valid: string[][] = [];
  for (let u = 0; u < 8; u += 3) for (let g = 0; g < 8; g += 2) for (let o = 0; o < 8; o += 5) valid.push([`u:${rwx(u)}`, `g:${rwx(g)}`, `o:${rwx(o)}`]);
  valid.push(['u:rwx', 'g:rwx', 'm:r--', 'o:r-x'], ['u:rw-', 'user:1000:rwx', 'g:---', 'm:r-x', 'o:--x'], ['u:rwx', 'g:r-x', 'group:7:rwx', 'm:-w-', 'o:rwx']);

  it.each(valid.map((v) => [v.join(','), v]))('%s: what mkdir and open(0755) make', (_label, entries) => {
    const dir = join(scratchDir(), 'd');
    mkdirSync(dir);
    const value = blob(entries);
    expect(setAcl(dir, value)).toBe('');
    const acl = defaultAclOf(value.toString('latin1'), 'dir');
    closeSync(openSync(join(dir, 'file'), 'w', 0o755));
    mkdirSync(join(dir, 'sub'), { mode: 0o755 });
    expect((statSync(join(dir, 'file')).mode & 0o7777).toString(8)).toBe(createdMode(0o755, acl).toString(8));
    expect((statSync(join(dir, 'sub')).mode & 0o7777).toString(8)).toBe(createdMode(0o755, acl).toString(8));
  });

  const refused: Array<[string, Buffer]> = [
    ['version 1', blob(['u:rwx', 'g:r-x', 'o:---'], 1)],
    ['no group entry', blob(['u:rwx', 'o:---'])],
    ['out of order', blob(['g:r-x', 'u:rwx', 'o:---'])],
    ['named user without a mask', blob(['u:rwx', 'user:5:rwx', 'g:r-x', 'o:---'])],
    ['a named user without an id', blob(['u:rwx', 'user:4294967295:rwx', 'g:r-x', 'm:rwx', 'o:---'])],
    ['a permission past rwx', Buffer.concat([blob(['u:rwx', 'g:r-x']), Buffer.from('20000800ffffffff', 'hex')])],
    ['an unknown tag', Buffer.concat([blob(['u:rwx', 'g:r-x', 'o:---']), Buffer.from('40000000ffffffff', 'hex')])],
    ['a cut entry', blob(['u:rwx', 'g:r-x', 'o:---']).subarray(0, 20)],
    ['two other entries', blob(['u:rwx', 'g:r-x', 'o:---', 'o:---'])],
  ];

  it.each(refused)('%s is refused on a directory with the kernel’s errno', (_label, value) => {
    const dir = join(scratchDir(), 'd');
    mkdirSync(dir);
    const said = setAcl(dir, value);
    expect(said).not.toBe('');
    expect(() => defaultAclOf(value.toString('latin1'), 'dir')).toThrow(new AclError(said));
  });

  it.each([
    ['a valid ACL', blob(['u:rwx', 'g:r-x', 'o:---'])],
    ['an empty ACL', blob([])],
    ['an invalid version', blob(['u:rwx', 'g:r-x', 'o:---'], 1)],
    ['a misordered ACL', blob(['g:r-x', 'u:rwx', 'o:---'])],
  ])('%s on a regular file: as the kernel answers', (_label, value) => {
    const file = join(scratchDir(), 'f');
    closeSync(openSync(file, 'w'));
    const said = setAcl(file, value);
    if (said === '') expect(defaultAclOf(value.toString('latin1'), 'other')).toBeUndefined();
    else expect(() => defaultAclOf(value.toString('latin1'), 'other')).toThrow(new AclError(said));
  });

  const blobs: Array<[string, Buffer]> = [
    ['valid', blob(['u:rwx', 'g:r-x', 'o:---'])],
    ['empty', blob([])],
    ['version 1', blob(['u:rwx', 'g:r-x', 'o:---'], 1)],
    ['misordered', blob(['g:r-x', 'u:rwx', 'o:---'])],
    ['user:: alone', blob(['u:rwx'])],
  ];
  const targets: AclTarget[] = ['dir', 'other', 'symlink'];
  const cases = blobs.flatMap(([label, value]) => targets.flatMap((t) => (['access', 'default'] as const).map((kind) => [`${kind} ${label} on ${t}`, kind, value, t] as const)));

  it.each(cases)('%s: refused exactly where the kernel refuses it', (_label, kind, value, target) => {
    const root = scratchDir();
    const path = join(root, 'x');
    if (target === 'dir') mkdirSync(path);
    else if (target === 'symlink') symlinkSync('nowhere', path);
    else closeSync(openSync(path, 'w'));
    const said = setAcl(path, value, `system.posix_acl_${kind}`);
    const ours = (): unknown => (kind === 'access' ? checkAccessAcl(value.toString('latin1'), target) : defaultAclOf(value.toString('latin1'), target));
    if (said === '') expect(ours).not.toThrow();
    else expect(ours).toThrow(new AclError(said));
  });
});

describe('docker’s chmod of the directories it makes', () => {
  it('is 0755 when the permissions differ (the setgid bit goes), else what mkdir made', () => {
    expect(dockerDirMode(0o2750).toString(8)).toBe('755');
    expect(dockerDirMode(0o2755).toString(8)).toBe('2755');
    expect(dockerDirMode(0o755).toString(8)).toBe('755');
  });
});
