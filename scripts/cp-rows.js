// How a `cp` result is written down, one row per member or path: `name|type|link`. The recording of
// docker cp (scripts/record-cp-links.js) and the test that holds layerfold to it (test/copy-out.test.ts)
// must write the same rows, so both use these.
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import tarStream from 'tar-stream';

/** A tar's members in order: name|type|linkname (tar-stream's type names). */
export function tarMembers(buf) {
  return new Promise((resolve, reject) => {
    const names = [];
    const x = tarStream.extract();
    x.on('entry', (h, stream, next) => {
      names.push(`${h.name}|${h.type}|${h.linkname ?? ''}`);
      stream.resume();
      stream.on('end', next);
    });
    x.on('finish', () => resolve(names));
    x.on('error', reject);
    x.end(buf);
  });
}

/** Every path under dir, each directory's names sorted: path|type|link (f, d, l, o for other). */
export function treeRows(dir, prefix = '') {
  const rows = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = lstatSync(p);
    const rel = prefix + name;
    const type = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : st.isFile() ? 'f' : 'o';
    rows.push(`${rel}|${type}|${type === 'l' ? readlinkSync(p) : ''}`);
    if (type === 'd') rows.push(...treeRows(p, `${rel}/`));
  }
  return rows;
}
