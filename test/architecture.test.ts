/**
 * The shape ARCHITECTURE.md promises, checked on the sources: no runtime import cycle in src/ (type
 * imports are erased and do not count; dynamic imports do), and src/tree depends on nothing above it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve('src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The modules a file loads at run time: value imports and re-exports, and dynamic imports. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...[...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s+'(\.[^']+)'/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*import\s+'(\.[^']+)'/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/\bimport\('(\.[^']+)'\)/g)].map((m) => m[1]!),
  ];
  return specifiers.map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

describe('module structure', () => {
  const files = sources(SRC);
  const graph = new Map(files.map((f) => [f, runtimeImports(f)]));

  it('has no runtime import cycle', () => {
    const cycles: string[] = [];
    const done = new Set<string>();
    const stack: string[] = [];
    const visit = (file: string) => {
      const at = stack.indexOf(file);
      if (at >= 0) return void cycles.push([...stack.slice(at), file].map((f) => relative(SRC, f)).join(' -> '));
      if (done.has(file)) return;
      stack.push(file);
      for (const dep of graph.get(file) ?? []) visit(dep);
      stack.pop();
      done.add(file);
    };
    for (const file of files) visit(file);
    expect(cycles).toEqual([]);
  });

  it('src/tree imports nothing from read, write, diff, inspect or cli (types included)', () => {
    const offenders = files
      .filter((f) => relative(SRC, f).startsWith('tree/'))
      .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/from\s+'(\.\.\/[^']+)'/g)].map((m) => `${relative(SRC, f)}: ${m[1]}`))
      .filter((line) => /'?\.\.\/(read|write|diff|inspect|cli|flatten|export)\b/.test(line.split(': ')[1]!));
    expect(offenders).toEqual([]);
  });
});
