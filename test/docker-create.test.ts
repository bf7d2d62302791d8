/**
 * src/tree/docker-create.ts alone: what `docker create` adds to a merged tree built in memory. Each
 * expected value is what Docker 26.1's export of the named fixture holds (fixtures/docker/<case>/
 * export.tar, `tar -tv --numeric-owner`) or the reason in its create-error.txt; ARCHITECTURE.md,
 * "`docker create`".
 */
import { describe, expect, it } from 'vitest';
import { isLayerfoldError } from '../src/errors.js';
import { addDockerCreateLayer, INIT_PATH_NAMES } from '../src/tree/docker-create.js';
import { Dir, Inode, lookup, type MergedTree } from '../src/tree/node.js';
import { e, T0 } from './support/build.js';
import { treeOf } from './support/tree.js';

const T = T0 + 1000; // the container's creation time

function meta(tree: MergedTree, path: string): string {
  const node = lookup(tree.root, path);
  if (node === undefined) return 'missing';
  const type = node instanceof Dir ? 'dir' : node.type;
  const link = node instanceof Inode && node.type === 'symlink' ? ` -> ${node.linkname}` : '';
  return `${type} ${(node.mode & 0o7777).toString(8)} ${node.uid}:${node.gid} ${node.mtime === T ? 'T' : node.mtime}${link}`;
}

async function created(layers: Parameters<typeof treeOf>[0], config: Parameters<typeof addDockerCreateLayer>[2] = {}): Promise<MergedTree> {
  const tree = await treeOf(layers);
  addDockerCreateLayer(tree, T, config);
  return tree;
}

describe('init paths', () => {
  it('are the ten paths docker makes (moby daemon/initlayer), as in every init-* export', () => {
    expect([...INIT_PATH_NAMES].sort()).toEqual(['.dockerenv', 'dev/console', 'dev/pts', 'dev/shm', 'etc/hostname', 'etc/hosts', 'etc/mtab', 'etc/resolv.conf', 'proc', 'sys']);
  });

  it('missing ones are made at T: files and directories 0755 0:0, etc/mtab -> /proc/mounts (init-etc-symlink)', async () => {
    const tree = await created([[e('bin/')]]);
    expect(meta(tree, '.dockerenv')).toBe('file 755 0:0 T');
    expect(meta(tree, 'dev/pts')).toBe('dir 755 0:0 T');
    expect(meta(tree, 'etc/hosts')).toBe('file 755 0:0 T');
    expect(meta(tree, 'etc/mtab')).toBe('symlink 777 0:0 T -> /proc/mounts');
  });

  it('a symlinked etc is removed, not followed: etc becomes a directory 0755 0:0 at T, the link target untouched (init-etc-symlink)', async () => {
    const tree = await created([[e('x/', { mtime: T0 }), e('x/hosts', { content: '127.0.0.1 x\n', mtime: T0 }), e('etc -> x')]]);
    expect(meta(tree, 'etc')).toBe('dir 755 0:0 T');
    expect(meta(tree, 'x')).toBe(`dir 755 0:0 ${T0}`);
    expect(meta(tree, 'x/hosts')).toBe(`file 644 0:0 ${T0}`);
  });

  it('a directory changed by the step keeps mode and owner and takes mtime T (init-odd-dirs, init-dev-setgid)', async () => {
    const tree = await created([[e('etc/', { mode: 0o2775, gid: 7, mtime: T0 }), e('etc/passwd', { mtime: T0 })]]);
    expect(meta(tree, 'etc')).toBe('dir 2775 0:7 T');
    // in a setgid directory the symlink, never chowned, takes the directory's group (init-dev-setgid: etc/mtab 0/7)
    expect(meta(tree, 'etc/mtab')).toBe('symlink 777 0:7 T -> /proc/mounts');
    expect(meta(tree, 'etc/hosts')).toBe('file 755 0:0 T');
  });
});

describe('WorkingDir', () => {
  it('missing parts are made at T; in a setgid directory they are 2755 0:0 (workdir-setgid: srv/app/, srv/app/sub/)', async () => {
    const tree = await created([[e('srv/', { mode: 0o2775, gid: 50, mtime: T0 })]], { WorkingDir: '/srv/app/sub' });
    expect(meta(tree, 'srv')).toBe('dir 2775 0:50 T');
    expect(meta(tree, 'srv/app')).toBe('dir 2755 0:0 T');
    expect(meta(tree, 'srv/app/sub')).toBe('dir 2755 0:0 T');
  });

  it('through a file, docker create fails, and so does the step (workdir-file: "Cannot mkdir: /wf is not a directory")', async () => {
    const err = await created([[e('wf')]], { WorkingDir: '/wf/sub' }).catch((x: unknown) => x);
    expect(isLayerfoldError(err) && err.code).toBe('BAD_LAYOUT');
    expect((err as Error).message).toBe('WorkingDir /wf/sub: wf is not a directory; docker create fails on this image ("Cannot mkdir")');
  });
});

describe('VOLUMEs', () => {
  it('over an existing file: refused with docker\'s reason (volume-over-file: "cannot mount volume over existing file")', async () => {
    const err = await created([[e('etc/'), e('etc/passwd')]], { Volumes: { '/etc/passwd': {} } }).catch((x: unknown) => x);
    expect(isLayerfoldError(err) && err.code).toBe('BAD_LAYOUT');
    expect((err as Error).message).toBe('VOLUME /etc/passwd: cannot mount volume over existing file; docker create fails on this image');
  });

  it('through a symlink to a file: refused the same (volume-symlink-file)', async () => {
    const err = await created([[e('etc/'), e('etc/passwd'), e('data -> /etc/passwd')]], { Volumes: { '/data': {} } }).catch((x: unknown) => x);
    expect((err as Error).message).toContain('cannot mount volume over existing file');
  });

  it('under a file: refused, "not a directory" (volume-under-file)', async () => {
    const err = await created([[e('etc/'), e('etc/passwd')]], { Volumes: { '/etc/passwd/sub': {} } }).catch((x: unknown) => x);
    expect((err as Error).message).toContain('passwd is not a directory');
  });

  it('missing: fine, and nothing is added for it (volume-missing)', async () => {
    const tree = await created([[e('bin/')]], { Volumes: { '/data': {} } });
    expect(meta(tree, 'data')).toBe('missing');
  });
});
