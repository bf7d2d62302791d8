/**
 * The bundled CLI (dist/bundle/cli.js, scripts/bundle.js) says exactly what the unbundled one says:
 * every help text (rendered by yargs through cliui, whose string-width the bundle swaps for the one
 * yargs uses), usage errors, and the export itself, byte for byte. And bin/layerfold.js's
 * `--version` shortcut prints what yargs prints.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from './support/build.js';

const BUNDLE = resolve('dist/bundle/cli.js');
const UNBUNDLED = resolve('dist/cli/main.js');
const PAIR = resolve('fixtures/conformance/natural-docker26');

/** Runs `main()` of one CLI file in a fresh process. */
function runCli(file: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const script = `const { main } = await import(${JSON.stringify(file)}); await main();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, '--', 'layerfold', ...args], { encoding: 'utf8', input: '', timeout: 60_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the bundled CLI', () => {
  beforeAll(() => {
    // after a bare `tsc` the bundle is missing or older than dist/: make it as `npm run build` does
    if (!existsSync(BUNDLE) || statSync(BUNDLE).mtimeMs < statSync(UNBUNDLED).mtimeMs) execFileSync(process.execPath, ['scripts/bundle.js']);
  }, 60_000);

  const commands = ['', 'export', 'extract', 'bundle', 'config', 'diff', 'inspect', 'ls', 'why', 'cat', 'cp'];
  it.each(commands)('prints the same help for "%s --help"', (command) => {
    const args = [...(command ? [command] : []), '--help'];
    const a = runCli(UNBUNDLED, args);
    const b = runCli(BUNDLE, args);
    expect(a.status).toBe(0);
    expect(a.stdout.length).toBeGreaterThan(200);
    expect(b).toEqual(a);
  });

  it('prints the same usage errors', () => {
    for (const args of [[], ['export'], ['nosuch'], ['export', 'x.tar', '--nosuch']]) {
      const a = runCli(UNBUNDLED, args);
      expect(a.status).toBe(2);
      expect(runCli(BUNDLE, args)).toEqual(a);
    }
  });

  it('loads no yargs for an export or a --help: only the small parser and the precomputed texts', () => {
    const dir = resolve('dist/bundle');
    const chunk = (prefix: string) => readdirSync(dir).find((f) => f.startsWith(`${prefix}-`) && /^[\w-]+-[\w-]{8}\.js$/.test(f))!;
    // every file reached by static imports from cli.js, plus the modules export and --help import
    const reached = new Set<string>();
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/^import [^;]*?from "\.\/([^"]+)"/gm)) visit(m[1]!);
    };
    for (const file of ['cli.js', chunk('export-command'), chunk('help-text')]) visit(file);
    const yargs = chunk('yargs-cli');
    expect(yargs).toBeDefined();
    // yargs' code (its YError class) is in no file an export or --help loads
    expect(readFileSync(join(dir, yargs), 'utf8')).toContain('class YError');
    expect([...reached].filter((f) => readFileSync(join(dir, f), 'utf8').includes('class YError'))).toEqual([]);
    expect(readFileSync(join(dir, 'cli.js'), 'utf8')).toContain(`import("./${yargs}")`);
  });

  it('exports what docker exports', () => {
    const out = join(scratchDir(), 'rootfs.tar');
    const created = readFileSync(join(PAIR, 'created.txt'), 'utf8').trim();
    const r = runCli(BUNDLE, ['export', join(PAIR, 'image.tar'), '-o', out, `--docker-init=${created}`]);
    expect(r).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(readFileSync(out).equals(readFileSync(join(PAIR, 'export.tar')))).toBe(true);
  });
});

describe('bin/layerfold.js --version', () => {
  it('prints what yargs prints, without loading it', () => {
    const fast = execFileSync(process.execPath, ['bin/layerfold.js', '--version'], { encoding: 'utf8' });
    expect(fast).toBe(`${(JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version}\n`);
    expect(runCli(UNBUNDLED, ['--version']).stdout).toBe(fast);
  });
});
