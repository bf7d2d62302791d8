/**
 * Every layer rule of src/tree/apply.ts, with layers built in the test by tar-stream. Expected values
 * come from the rule as docker applies it (each rule's docker evidence: ARCHITECTURE.md), and each
 * output is also read back by node-tar.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportRootfs, isLayerfoldError } from '../src/index.js';
import { flattenImage, type FlattenOptions } from '../src/flatten.js';
import { Dir, Inode, lookup } from '../src/tree/node.js';
import { walkTree } from '../src/tree/walk.js';
import { e, imageArchive, layerTar, scratchDir, T0, writeTemp, type EntrySpec } from './support/build.js';
import { readWithNodeTar } from './support/read.js';
import { encodeExportHeader } from '../src/tar/header.js';
import type { TreeChange } from '../src/tree/changes.js';
import { treeOf } from './support/tree.js';

async function image(layers: EntrySpec[][], options: Parameters<typeof imageArchive>[1] = {}): Promise<string> {
  return writeTemp(await imageArchive(await Promise.all(layers.map((l) => layerTar(l))), options));
}

/** Flatten and list `name type mode uid:gid mtime [-> link] [=content]` in export order. */
async function listing(layers: EntrySpec[][], options: FlattenOptions = {}): Promise<string[]> {
  const path = await image(layers);
  const out = join(scratchDir(), 'out.tar');
  await exportRootfs(path, { ...options, output: out });
  return (await readWithNodeTar(out)).map((x) => {
    const link = x.linkpath ? ` -> ${x.linkpath}` : '';
    const content = x.content ? ` =${x.content}` : '';
    return `${x.path} ${x.type} ${(x.mode & 0o7777).toString(8)} ${x.uid}:${x.gid} ${x.mtime}${link}${content}`;
  });
}

async function names(layers: EntrySpec[][]): Promise<string[]> {
  return (await listing(layers)).map((l) => l.split(' ')[0]!);
}

async function refusal(layers: EntrySpec[][]): Promise<{ code: string; message: string }> {
  const path = await image(layers);
  const err = await exportRootfs(path, { output: join(scratchDir(), 'out.tar') }).catch((x: unknown) => x);
  if (!isLayerfoldError(err)) throw new Error(`expected a LayerfoldError, got ${String(err)}`);
  return { code: err.code, message: err.message };
}

const base = [e('bin/'), e('etc/'), e('etc/passwd', { content: 'root:x:0:0::/root:/bin/sh\n' }), e('usr/'), e('usr/lib/'), e('lib -> usr/lib')];

describe('order and names', () => {
  it('walks each directory in byte order, parents first, no root entry (`a/`, `a/b`, `a-b`: not a sort of paths)', async () => {
    expect(await names([[e('a/'), e('a-b', { content: 'x' }), e('a/b', { content: 'y' }), e('B'), e('a.c')]])).toEqual(['B', 'a/', 'a/b', 'a-b', 'a.c']);
  });

  it('cleans ./, leading / and doubled slashes as Go filepath.Clean does', async () => {
    expect(await names([[e('./x'), e('/y'), e('d/'), e('d//z')]])).toEqual(['d/', 'd/z', 'x', 'y']);
  });

  it('resolves .. inside a name, and one that would climb out stays at the root (docker unpacks chrooted: name-escape)', async () => {
    expect(await names([[e('a/'), e('a/../b')]])).toEqual(['a/', 'b']);
    expect(await names([[e('../escape'), e('x/'), e('x/../../../up')]])).toEqual(['escape', 'up', 'x/']);
    // tar-split compares names Go-cleaned but not rooted: `./dup` and `dup` are one name (refused),
    // `../dup` and `dup` or `/dup` and `dup` are two, and the later entry wins (dup-dotdot, dup-absolute)
    expect((await refusal([[e('./dup'), e('dup')]])).message).toContain('twice');
    expect(await names([[e('../dup', { content: '1' }), e('dup', { content: '2' })]])).toEqual(['dup']);
    expect(await names([[e('/dup', { content: '1' }), e('dup', { content: '2' })]])).toEqual(['dup']);
  });

  it('skips the root directory entry, as docker does', async () => {
    expect(await names([[e('./'), e('x')]])).toEqual(['x']);
  });
});

describe('merging layers', () => {
  it('directory over directory keeps children and takes the new metadata', async () => {
    const out = await listing([[e('d/', { mode: 0o700, uid: 1, mtime: T0 }), e('d/old')], [e('d/', { mode: 0o751, uid: 2, gid: 3, mtime: T0 + 5 }), e('d/new')]]);
    expect(out).toEqual([`d/ Directory 751 2:3 ${T0 + 5}`, `d/new File 644 0:0 ${T0} =d/new`, `d/old File 644 0:0 ${T0} =d/old`]);
  });

  it('anything else replaces the old path and its whole subtree', async () => {
    const out = await names([[e('d/'), e('d/child'), e('f'), e('s -> f')], [e('d', { content: 'now a file' }), e('f/'), e('s/'), e('s/in')]]);
    expect(out).toEqual(['d', 'f/', 's/', 's/in']);
  });

  it('rm -rf d then mkdir d does not bring the old files back (go-containerregistry#2029)', async () => {
    expect(await names([[e('d/'), e('d/old')], [e('.wh.d')], [e('d/'), e('d/new')]])).toEqual(['d/', 'd/new']);
  });

  it('the same file added in several layers is removed by one whiteout (snyk PR #603)', async () => {
    expect(await names([[e('f', { content: '1' })], [e('f', { content: '2' })], [e('.wh.f')]])).toEqual([]);
  });
});

describe('whiteouts', () => {
  it('.wh.NAME hides NAME and everything below it in lower layers', async () => {
    expect(await names([[e('a/'), e('a/b/'), e('a/b/c'), e('keep')], [e('.wh.a')]])).toEqual(['keep']);
  });

  it('hides lower layers only, never a sibling of its own layer, in either order (moby#17766)', async () => {
    const lower = [e('x', { content: 'lower' })];
    for (const upper of [
      [e('.wh.x'), e('x', { content: 'upper' })],
      [e('x', { content: 'upper' }), e('.wh.x')],
    ]) {
      expect(await listing([lower, upper])).toEqual([`x File 644 0:0 ${T0} =upper`]);
    }
  });

  it('a whited-out directory recreated in the same layer has only that layer\'s children', async () => {
    expect(await names([[e('d/'), e('d/old')], [e('d/'), e('d/new'), e('.wh.d')]])).toEqual(['d/', 'd/new']);
  });

  it('matches whole names only: `which` is not a whiteout, .wh.dir hides dir/child (snyk PR #690, undocker)', async () => {
    expect(await names([[e('which'), e('dir/'), e('dir/child')], [e('.wh.dir')]])).toEqual(['which']);
  });

  it('every .wh.X but the opaque marker whites out X, even .wh..wh.X (aufs metadata)', async () => {
    expect(await names([[e('.wh.plnk')], [e('.wh..wh.plnk')]])).toEqual([]);
  });

  it('a bare .wh. and .wh.. are refused', async () => {
    expect((await refusal([[e('d/'), e('d/.wh.')]])).code).toBe('BAD_ENTRY');
    expect((await refusal([[e('d/'), e('d/.wh..')]])).code).toBe('BAD_ENTRY');
  });

  it('.wh... whites out a file named ...', async () => {
    expect(await names([[e('...'), e('k')], [e('.wh....')]])).toEqual(['k']);
  });

  it('a whiteout never appears in the output, and its missing parent is implied', async () => {
    const out = await listing([[e('x')], [e('p/.wh.gone')]], { impliedMtime: 42 });
    expect(out).toEqual(['p/ Directory 755 0:0 42', `x File 644 0:0 ${T0} =x`]);
  });
});

describe('opaque directories', () => {
  it('hide every lower child wherever the marker stands; same-layer entries stay', async () => {
    const lower = [e('d/'), e('d/old'), e('d/sub/'), e('d/sub/deep')];
    for (const upper of [
      [e('d/'), e('d/.wh..wh..opq'), e('d/new')],
      [e('d/'), e('d/new'), e('d/.wh..wh..opq')],
    ]) {
      expect(await names([lower, upper])).toEqual(['d/', 'd/new']);
    }
  });

  it('at the root of a layer hides nothing: overlayfs ignores it there (docker/opaque-toplevel)', async () => {
    expect(await names([[e('old'), e('keep/'), e('keep/x')], [e('.wh..wh..opq'), e('new')]])).toEqual(['keep/', 'keep/x', 'new', 'old']);
  });

  it('the marker itself never leaks into the output (go-containerregistry#1623)', async () => {
    expect(await names([[e('d/'), e('d/.wh..wh..opq')]])).toEqual(['d/']);
  });

  it('an opaque marker without its directory entry implies the directory', async () => {
    const out = await listing([[e('d/', { mode: 0o700, uid: 5 }), e('d/old')], [e('d/.wh..wh..opq'), e('d/new')]], { impliedMtime: 7 });
    expect(out).toEqual(['d/ Directory 755 0:0 7', `d/new File 644 0:0 ${T0} =d/new`]);
  });
});

describe('implied directories', () => {
  it('are 0755 0:0 at the stand-in time and replace a lower directory\'s metadata, keeping children', async () => {
    const out = await listing([[e('usr/', { mode: 0o700, uid: 9, gid: 9 }), e('usr/lib/', { mode: 0o750 })], [e('usr/bin/'), e('usr/bin/tool')]], { impliedMtime: 1234 });
    expect(out).toEqual(['usr/ Directory 755 0:0 1234', `usr/bin/ Directory 755 0:0 ${T0}`, `usr/bin/tool File 644 0:0 ${T0} =usr/bin/tool`, `usr/lib/ Directory 750 0:0 ${T0}`]);
  });

  it('default to the image\'s created time', async () => {
    const path = await image([[e('a/b/c')]]);
    const flat = await flattenImage(path);
    try {
      expect(flat.impliedMtime).toBe(T0);
      expect((lookup(flat.tree.root, 'a') as Dir).implied).toBe(true);
    } finally {
      flat.close();
    }
  });

  it('a path through a lower symlink does not follow it: a real directory replaces the link', async () => {
    const out = await names([base, [e('lib/x')]]);
    expect(out).toContain('lib/');
    expect(out).toContain('lib/x');
    expect(out).toContain('usr/lib/');
    expect(out).not.toContain('usr/lib/x');
  });

  it('an explicit entry of the same layer wins over the implied metadata, before or after its children', async () => {
    for (const layer of [
      [e('d/x'), e('d/', { mode: 0o711, uid: 4 })],
      [e('d/', { mode: 0o711, uid: 4 }), e('d/x')],
    ]) {
      expect((await listing([layer]))[0]).toBe(`d/ Directory 711 4:0 ${T0}`);
    }
  });

  it('inherit the setgid bit (not the group: docker chowns them 0:0) from a setgid parent of the same layer (setgid-implied)', async () => {
    const out = await listing([[e('s/', { mode: 0o2775, gid: 50 }), e('s/sub/x')]], { impliedMtime: 1 });
    expect(out[1]).toBe('s/sub/ Directory 2755 0:0 1');
  });

  it('a file then a child of it in one layer is refused, as docker fails (not a directory)', async () => {
    expect((await refusal([[e('f'), e('f/x')]])).code).toBe('BAD_ENTRY');
  });
});

describe('hardlinks', () => {
  const link = (path: string, target: string, extra: Partial<EntrySpec> = {}): EntrySpec => ({ path, type: 'link', linkname: target, ...extra });

  it('the first name in output order carries the data, later ones link to it', async () => {
    const out = await listing([[e('z', { content: 'data' }), link('a', 'z')]]);
    expect(out).toEqual([`a File 644 0:0 ${T0} =data`, `z Link 644 0:0 ${T0} -> a`]);
  });

  it('the link entry\'s owner, mode and mtime apply to every name of the inode', async () => {
    const out = await listing([[e('t', { content: 'x', mode: 0o644, uid: 1 }), link('u', 't', { mode: 0o4755, uid: 7, gid: 8, mtime: T0 + 9 })]]);
    expect(out).toEqual([`t File 4755 7:8 ${T0 + 9} =x`, `u Link 4755 7:8 ${T0 + 9} -> t`]);
  });

  it('a name whose partner is deleted later keeps its bytes (go-containerregistry#977)', async () => {
    expect(await listing([[e('t', { content: 'x' }), link('u', 't')], [e('.wh.t')]])).toEqual([`u File 644 0:0 ${T0} =x`]);
  });

  it('ln t2 t1; ln t2 t3; rewriting t1 later leaves t2 and t3 linked with the old bytes (go-containerregistry#2002)', async () => {
    const out = await listing([[e('t2', { content: 'old' }), link('t1', 't2'), link('t3', 't2')], [e('t1', { content: 'new' })]]);
    expect(out).toEqual([`t1 File 644 0:0 ${T0} =new`, `t2 File 644 0:0 ${T0} =old`, `t3 Link 644 0:0 ${T0} -> t2`]);
  });

  it('an absolute link name resolves under the root', async () => {
    expect(await listing([[e('a/'), e('a/t', { content: 'x' }), link('b', '/a/t')]])).toContain(`b Link 644 0:0 ${T0} -> a/t`);
  });

  it('a link target that would climb out resolves under the root (hardlink-escape)', async () => {
    expect(await listing([[e('etc/'), e('etc/passwd', { content: 'p' }), link('hl', '../../etc/passwd')]])).toContain(`hl Link 644 0:0 ${T0} -> etc/passwd`);
  });

  it('a link to a lower layer\'s file, to a later entry or to a directory is refused', async () => {
    expect((await refusal([[e('t')], [link('u', 't')]])).message).toContain('lower layer');
    expect((await refusal([[link('u', 't'), e('t')]])).message).toContain('no such file');
    expect((await refusal([[e('d/'), link('u', 'd')]])).code).toBe('BAD_ENTRY');
  });
});

describe('metadata', () => {
  it('keeps setuid, setgid and sticky bits and numeric owners', async () => {
    const out = await listing([[e('s', { mode: 0o4755, uid: 1000, gid: 1000 }), e('g', { mode: 0o2711 }), e('t/', { mode: 0o1777 })]]);
    expect(out).toEqual([`g File 2711 0:0 ${T0} =g`, `s File 4755 1000:1000 ${T0} =s`, `t/ Directory 1777 0:0 ${T0}`]);
  });

  it('a symlink always has mode 0777 (Linux cannot chmod a symlink)', async () => {
    expect(await listing([[e('l -> target', { mode: 0o700 })]])).toEqual([`l SymbolicLink 777 0:0 ${T0} -> target`]);
  });

  it('mtimes before 1970 become 0 for files (docker boundTime) but not for symlinks', async () => {
    // tar-stream cannot write a negative octal mtime, so the times travel as PAX records
    const path = await image([[e('f', { pax: { mtime: '-100' } }), e('l -> f', { pax: { mtime: '-5' } }), e('g', { pax: { mtime: '10000000000' } })]]);
    const flat = await flattenImage(path);
    try {
      expect((lookup(flat.tree.root, 'f') as Inode).mtime).toBe(0);
      expect((lookup(flat.tree.root, 'l') as Inode).mtime).toBe(-5);
      expect((lookup(flat.tree.root, 'g') as Inode).mtime).toBe(0); // after 2262-04-11
    } finally {
      flat.close();
    }
  });

  it('keeps fifos and device numbers', async () => {
    const out = await listing([[{ path: 'dev/', type: 'dir' }, { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }, { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 }, { path: 'p', type: 'fifo' }]]);
    expect(out.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['dev/ Directory', 'dev/null CharacterDevice', 'dev/sda BlockDevice', 'p FIFO']);
  });

  it('keeps only security.capability among xattrs, v3 written as v2', async () => {
    const v3 = Buffer.alloc(24);
    v3.writeUInt32LE(0x03000000 | 1, 0);
    v3.writeUInt32LE(0x2000, 4); // cap_net_raw
    v3.writeUInt32LE(100, 20); // rootid (every byte < 0x80: tar-stream writes PAX values as UTF-8)
    const path = await image([[e('ping', { pax: { 'SCHILY.xattr.user.foo': 'bar', 'SCHILY.xattr.security.capability': v3.toString('latin1') } })]]);
    const flat = await flattenImage(path);
    try {
      const cap = (lookup(flat.tree.root, 'ping') as Inode).capability!;
      expect(cap.length).toBe(20);
      expect(cap[3]).toBe(2);
      expect(cap.subarray(4).equals(v3.subarray(4, 20))).toBe(true);
    } finally {
      flat.close();
    }
  });
});

describe('refusals docker makes too', () => {
  it('the same path twice in one layer, directories included', async () => {
    expect((await refusal([[e('a'), e('a')]])).message).toContain('twice');
    expect((await refusal([[e('d/'), e('./d/')]])).message).toContain('twice');
  });
});

describe('the walk', () => {
  it('gives WalkEntry names with a trailing slash for directories and linkTo for later hardlink names', async () => {
    const path = await image([[e('d/'), e('d/f', { content: 'x' }), { path: 'd/g', type: 'link', linkname: 'd/f' }]]);
    const flat = await flattenImage(path);
    try {
      expect([...walkTree(flat.tree)].map((w) => [w.name, w.linkTo ?? null])).toEqual([
        ['d/', null],
        ['d/f', null],
        ['d/g', 'd/f'],
      ]);
    } finally {
      flat.close();
    }
  });
});

describe("a layer's own symlinks and whiteouts, as the kernel meets them in the layer's directory", () => {
  const lower = [e('d/'), e('d/keep')];

  it('follows a symlink the layer made, going up from where it led (`..` is not lexical)', async () => {
    expect(await names([[e('d/'), e('d/e/'), e('s -> d/e'), e('t -> s/..'), e('t/x')]])).toEqual(['d/', 'd/e/', 'd/x', 's', 't']);
    expect(await names([[e('d/'), e('d/e/'), e('d/f'), e('s -> d/e'), e('t -> s/..'), e('h', { type: 'link', linkname: 't/f' })]])).toEqual(['d/', 'd/e/', 'd/f', 'h', 's', 't']);
  });

  it('counts every link of a lookup against the kernel limit of 40, so nested links cannot multiply the work', async () => {
    const layer = [e('a/'), e('s0 -> .')];
    for (let n = 1; n <= 3; n++) layer.push(e(`s${n} -> ${Array(1000).fill(`s${n - 1}`).join('/').slice(0, 4000)}`));
    layer.push(e('s3/x'));
    expect((await refusal([layer])).message).toContain('too many levels of symbolic links');
  });

  it('meets a whiteout through a symlink: a directory over it brings back what it hid, an entry beneath it is refused', async () => {
    expect(await names([lower, [e('l -> .'), e('.wh.d'), e('l/d/')]])).toEqual(['d/', 'd/keep', 'l']);
    expect((await refusal([lower, [e('l -> .'), e('l/.wh.d'), e('d/x')]])).message).toContain('is a whiteout earlier in this layer');
  });

  it('keeps what the first whiteout hid when the same name is whited out again', async () => {
    expect(await names([lower, [e('.wh.d'), { path: 'd', type: 'char', devmajor: 0, devminor: 0 }, e('/d/')]])).toEqual(['d/', 'd/keep']);
  });
});

describe('a layer of many entries', () => {
  it('gives the event loop a turn while it is applied (a signal is handled then, not once the tree is done)', async () => {
    // 70,000 empty files: more than one turn's worth (65,536) of entries
    const headers = Array.from({ length: 70_000 }, (_, i) =>
      encodeExportHeader({ name: `f${i}`, typeflag: '0', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: T0, linkname: '', devmajor: 0, devminor: 0 }),
    );
    const archive = writeTemp(await imageArchive([Buffer.concat([...headers, Buffer.alloc(1024)])]));
    const order: string[] = [];
    setImmediate(() => order.push('event loop'));
    const flat = await flattenImage(archive, { onEntry: (_layer, entry) => entry.name === 'f69999' && order.push('last entry') });
    flat.close();
    expect(order).toEqual(['event loop', 'last entry']);
  });
});


describe('apply alone: layers built in memory, applyLayers called directly (no archive, no reader)', () => {
  // tree/apply.ts reads layers through tree/node.ts's LayerSource; test/support/tree.ts writes each
  // layer with tar-stream to a file and hands it over. Cases: ARCHITECTURE.md, "Layers".
  const dirOf = (tree: Awaited<ReturnType<typeof treeOf>>, path: string) => lookup(tree.root, path) as Dir;

  it('a whiteout hides the lower path and its subtree, and apply reports it as a whiteout of that path (whiteout-nested)', async () => {
    const changes: TreeChange[] = [];
    const tree = await treeOf([[e('a/'), e('a/b/'), e('a/b/c')], [e('a/.wh.b')]], { onChange: (c) => changes.push(c) });
    expect(lookup(tree.root, 'a/b')).toBeUndefined();
    expect(lookup(tree.root, 'a/b/c')).toBeUndefined();
    expect(changes.filter((c) => c.layer === 1 && c.kind === 'whiteout').map((c) => c.path)).toEqual(['a/b']);
  });

  it('an opaque marker at a layer root hides nothing: overlayfs ignores it there (opaque-toplevel)', async () => {
    const tree = await treeOf([[e('x'), e('d/'), e('d/y')], [e('.wh..wh..opq'), e('d/'), e('d/.wh..wh..opq')]]);
    expect(lookup(tree.root, 'x')).toBeInstanceOf(Inode);
    expect([...dirOf(tree, 'd').children.keys()]).toEqual([]);
  });

  it('an implied directory is 0755 0:0 at the unpack time, replacing the lower one\'s metadata, children kept (implicit-parents)', async () => {
    const tree = await treeOf([[e('d/', { mode: 0o700, uid: 5, gid: 6, mtime: T0 }), e('d/old')], [e('d/new')]]);
    const d = dirOf(tree, 'd');
    expect([d.mode & 0o7777, d.uid, d.gid, d.mtime, d.implied]).toEqual([0o755, 0, 0, T0 + 1, true]);
    expect([...d.children.keys()].sort()).toEqual(['new', 'old']);
  });

  it('an implied directory in a setgid directory of its layer takes the setgid bit, not the group (setgid-implied)', async () => {
    const tree = await treeOf([[e('s/', { mode: 0o2775, gid: 50 }), e('s/sub/f')]]);
    const sub = dirOf(tree, 's/sub');
    expect([sub.mode & 0o7777, sub.uid, sub.gid]).toEqual([0o2755, 0, 0]);
  });

  it('the same path twice in one layer is refused with docker\'s reason (duplicate-path)', async () => {
    const err = await treeOf([[e('f', { content: '1' }), e('./f', { content: '2' })]]).catch((x: unknown) => x);
    expect(isLayerfoldError(err) && err.code).toBe('BAD_ENTRY');
    expect((err as Error).message).toContain('duplicates of file paths not supported');
  });
});
