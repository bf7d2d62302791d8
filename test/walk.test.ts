/**
 * src/tree/walk.ts alone: `docker export` order is Go's filepath.WalkDir over the container's root —
 * depth first, a directory before its children, each directory's names sorted byte-wise, no root
 * entry — and a hard-linked inode is carried by its first name, later names linking to it
 * (ARCHITECTURE.md, "The export tar": every pair; names-nonascii-dir; hardlink-group-materialize).
 *
 * The expected order is docker's own: each export.tar docker made is applied as one layer (its
 * entries, in any order, make the same tree) and walked; the walk must give docker's names in
 * docker's order, with the same hard-link targets.
 */
import { closeSync, existsSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PositionalReader } from '../src/io/positional-reader.js';
import { tarEntries } from '../src/tar/entries.js';
import { applyLayers } from '../src/tree/apply.js';
import { walkTree } from '../src/tree/walk.js';
import { e } from './support/build.js';
import { treeOf } from './support/tree.js';

function dockerExports(): string[] {
  const out: string[] = [];
  for (const root of ['fixtures/docker', 'fixtures/conformance']) {
    for (const name of readdirSync(root).sort()) {
      const tar = join(root, name, 'export.tar');
      if (existsSync(tar)) out.push(tar);
    }
  }
  return out;
}

/** `name` or `name => first name` for every entry of a tar, in its order. */
function listing(entries: Iterable<{ name: string; linkTo?: string | undefined }>): string[] {
  return [...entries].map((x) => (x.linkTo ? `${x.name} => ${x.linkTo}` : x.name));
}

describe("walkTree gives docker export's order", () => {
  it.each(dockerExports())('%s', async (path) => {
    const size = statSync(path).size;
    const fd = openSync(path, 'r');
    try {
      const docker = listing([...tarEntries(new PositionalReader(fd, size), 0)].map((x) => ({ name: x.type === 'dir' && !x.name.endsWith('/') ? `${x.name}/` : x.name, linkTo: x.type === 'hardlink' ? x.linkname : undefined })));
      const tree = await applyLayers([{ index: 0, fd, base: 0, size, label: path }], { impliedMtime: 0 });
      expect(listing(walkTree(tree))).toEqual(docker);
    } finally {
      closeSync(fd);
    }
  });
});

describe('walkTree', () => {
  it('sorts byte-wise per directory, not by whole path: `a/` and `a/b` come before `a-b` (every pair)', async () => {
    const tree = await treeOf([[e('a-b'), e('a/'), e('a/b'), e('B'), e('a.c')]]);
    expect(listing(walkTree(tree))).toEqual(['B', 'a/', 'a/b', 'a-b', 'a.c']);
  });

  it('the first name reached carries a hard-linked inode, whichever the layer wrote first (hardlink-group-materialize)', async () => {
    const tree = await treeOf([[e('z'), e('a', { type: 'link', linkname: 'z' })]]);
    expect(listing(walkTree(tree))).toEqual(['a', 'z => a']);
  });

  it('with release, gives the same walk and leaves the tree empty (diff frees an image tree as it reads it)', async () => {
    const layers = [[e('a-b'), e('a/'), e('a/b'), e('a/c/'), e('a/c/d'), e('z'), e('y', { type: 'link', linkname: 'z' })]];
    const kept = await treeOf(layers);
    const released = await treeOf(layers);
    expect(listing(walkTree(released, { release: true }))).toEqual(listing(walkTree(kept)));
    expect(released.root.children.size).toBe(0);
    expect(kept.root.children.size).toBe(4);
  });
});
