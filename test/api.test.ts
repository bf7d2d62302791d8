/**
 * The library as a user depends on it: imported by its package name (`layerfold`, `layerfold/cli`),
 * a small documented set of names, a read-only image view, and a CLI that calls nothing else.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const node = (code: string) => spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: process.cwd() });

/** Names a .d.ts entry point exports (types included). */
function declaredNames(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((m) => m[1]!.split(',').map((x) => x.trim().replace(/^type /, '')).filter((x) => x !== ''));
}

describe('the package, imported by name', () => {
  it('layerfold and layerfold/cli load as a user imports them, and export what their .d.ts says', () => {
    const r = node("import * as api from 'layerfold'; import * as cli from 'layerfold/cli'; console.log(JSON.stringify([Object.keys(api), Object.keys(cli)]))");
    expect(r.stderr).toBe('');
    const [api, cli] = JSON.parse(r.stdout) as [string[], string[]];
    const declared = declaredNames('dist/index.d.ts');
    for (const name of api) expect(declared).toContain(name);
    expect(cli).toContain('run');
    expect(api).not.toContain('run');
  });

  it('exports at most about 40 names, each documented in the README\'s Library section', () => {
    const names = declaredNames('dist/index.d.ts');
    expect(names.length).toBeLessThanOrEqual(42);
    const readme = readFileSync('README.md', 'utf8');
    const library = readme.slice(readme.indexOf('## Library'), readme.indexOf('\n## ', readme.indexOf('## Library') + 5));
    expect(names.filter((n) => !new RegExp(`\\b${n}\\b`).test(library))).toEqual([]);
  });

  it('openImage gives a read-only view and entries() plain objects in export order', () => {
    const r = node(`
      import { openImage, entries } from 'layerfold';
      const image = await openImage('fixtures/conformance/natural-docker26/image.tar');
      const names = [...entries(image)].map((e) => e.name);
      let frozen = false;
      try { image.layers[0].diffId = 'x'; } catch { frozen = true; }
      image.close();
      let closed = '';
      try { [...entries(image)]; } catch (e) { closed = e.code; }
      console.log(JSON.stringify({ layout: image.layout, layers: image.layers.length, first: names[0], count: names.length, frozen, closed, keys: Object.keys([...[]].concat(names)).length > 0 }));`);
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(got).toMatchObject({ layout: 'docker-oci', layers: 4, first: 'bin/', frozen: true, closed: 'USAGE' });
  });
});

describe('the CLI uses the public API and layerfold/cli, nothing else', () => {
  it('every value src/cli takes from outside src/cli is exported by src/index.ts or src/cli/api.ts', () => {
    const exported = new Set([...declaredNames('dist/index.d.ts'), ...declaredNames('dist/cli/api.d.ts')]);
    const used: string[] = [];
    for (const file of readdirSync('src/cli').filter((f) => f.endsWith('.ts') && f !== 'api.ts')) {
      const text = readFileSync(join('src/cli', file), 'utf8');
      const fromOutside = [
        ...[...text.matchAll(/^import\s+\{([^}]*)\}\s+from\s+'\.\.\/[^']+'/gm)].map((m) => m[1]!),
        ...[...text.matchAll(/const\s+\{([^}]*)\}\s*=\s*await\s+import\('\.\.\/[^']+'\)/g)].map((m) => m[1]!),
      ];
      for (const list of fromOutside) {
        for (const raw of list.split(',')) {
          const name = raw.trim();
          if (name === '' || name.startsWith('type ')) continue; // types are erased
          used.push(`${file}: ${name.split(/\s+as\s+/)[0]}`);
        }
      }
    }
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((u) => !exported.has(u.split(': ')[1]!))).toEqual([]);
  });
});
