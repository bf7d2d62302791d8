/**
 * layerfold as a package: `npm pack` builds dist through `prepare`, the tarball installs into an empty
 * directory and its `layerfold` gives docker's export byte for byte; `layerfold completion` completes
 * commands and options in a real bash.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from './support/build.js';
import { hasCommand } from './support/read.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
const PAIR = resolve('fixtures/conformance/natural-docker26');

describe('npm pack → npm install ./layerfold-*.tgz → layerfold', () => {
  it('installs into an empty directory and exports what docker exports', { timeout: 300_000 }, () => {
    const work = scratchDir();
    const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    // a copy without dist: `prepare` must build it (and the checkout's dist, used by other tests, stays as it is)
    const source = join(work, 'source');
    mkdirSync(source);
    for (const name of ['package.json', 'tsconfig.json', 'README.md', 'bin', 'src', 'scripts/bundle.js']) cpSync(name, join(source, name), { recursive: true });
    symlinkSync(resolve('node_modules'), join(source, 'node_modules'));
    npm(['pack', '--pack-destination', work, '--silent'], source);
    const tarball = readdirSync(work).find((n) => n.endsWith('.tgz'))!;
    expect(tarball).toBe(`layerfold-${pkg.version}.tgz`);
    const listing = execFileSync('tar', ['-tzf', join(work, tarball)], { encoding: 'utf8' }).split('\n');
    expect(listing).toContain('package/dist/cli/main.js');
    expect(listing).toContain('package/dist/bundle/cli.js');
    expect(listing).toContain('package/bin/layerfold.js');
    expect(listing.filter((n) => n.startsWith('package/test/') || n.startsWith('package/src/'))).toEqual([]);

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n');
    // from npm's cache when it holds the dependencies (CI's `npm ci` filled it), else the registry
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball)], app);
    const bin = join(app, 'node_modules/.bin/layerfold');
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
    const created = readFileSync(join(PAIR, 'created.txt'), 'utf8').trim();
    const out = join(work, 'rootfs.tar');
    execFileSync(bin, ['export', join(PAIR, 'image.tar'), '-o', out, `--docker-init=${created}`], { encoding: 'utf8' });
    expect(readFileSync(out).equals(readFileSync(join(PAIR, 'export.tar')))).toBe(true);
  });
});

describe.skipIf(!hasCommand('bash'))('layerfold completion', () => {
  /** COMPREPLY of the generated bash completion for the words typed so far. */
  function complete(words: string[]): string[] {
    const dir = scratchDir();
    symlinkSync(resolve('bin/layerfold.js'), join(dir, 'layerfold'));
    const script = execFileSync(process.execPath, ['bin/layerfold.js', 'completion'], { encoding: 'utf8' });
    const run = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _layerfold_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    });
    expect(run.stderr).toBe('');
    return run.stdout.split('\n').filter(Boolean);
  }

  it('prints a bash script that completes commands, then their options', () => {
    expect(complete(['layerfold', 'ex']).sort()).toEqual(['export', 'extract']);
    expect(complete(['layerfold', 'export', '--docker-i'])).toEqual(['--docker-init']);
  });

  it('prints a zsh script under zsh', () => {
    const script = execFileSync(process.execPath, ['bin/layerfold.js', 'completion'], { encoding: 'utf8', env: { ...process.env, SHELL: '/bin/zsh' } });
    expect(script.split('\n')[0]).toBe('#compdef layerfold');
  });
});
