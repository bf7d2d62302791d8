/**
 * `export --wsl` (src/write/wsl.ts): the export is the plain export plus /etc/wsl.conf and the Env
 * script — read back with GNU tar; the script sourced by a real sh gives the image's Env.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';
import { gnuLongListing } from './support/read.js';

const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n';

async function image(config: Record<string, unknown>, extra: Parameters<typeof e>[] = []): Promise<string> {
  const layer = await layerTar([e('etc/', { type: 'dir' }), e('etc/passwd', { content: passwd }), ...extra.map((args) => e(...args))]);
  return writeTemp(await imageArchive([layer], { config }));
}

function member(tarFile: string, name: string): string {
  return spawnSync('tar', ['-xOf', tarFile, name], { encoding: 'utf8' }).stdout;
}

describe('export --wsl', () => {
  it('adds wsl.conf with the image user\'s name, and nothing else but the Env script', async () => {
    const img = await image({ User: '1000', Env: ['PATH=/usr/bin', 'GREETING=hello world', "Q=it's $HOME"], WorkingDir: '/srv' });
    const plain = join(scratchDir(), 'plain.tar');
    const wsl = join(scratchDir(), 'wsl.tar');
    expect((await cli(['export', img, '-o', plain])).code).toBe(0);
    const r = await cli(['export', img, '--wsl', '-o', wsl]);
    expect(r.stderr).toBe('');
    expect(member(wsl, 'etc/wsl.conf')).toMatch(/^\[user\]\ndefault=app$/m);
    const added = gnuLongListing(wsl).filter((l) => !gnuLongListing(plain).includes(l));
    expect(added.map((l) => l.split(/\s+/).slice(5).join(' '))).toEqual(['etc/profile.d/', 'etc/profile.d/layerfold-image-env.sh', 'etc/wsl.conf']);
    expect(added.every((l) => l.includes(' 0/0 '))).toBe(true);
    const script = join(scratchDir(), 'env.sh');
    writeFileSync(script, member(wsl, 'etc/profile.d/layerfold-image-env.sh'));
    const env = spawnSync('env', ['-i', 'HOME=/nowhere', 'sh', '-c', `. ${script}; printf '%s|%s' "$GREETING" "$Q"`], { encoding: 'utf8' });
    expect(env.stdout).toBe("hello world|it's $HOME");
  });

  it('USER unset is root; an image\'s own wsl.conf is kept, with a note', async () => {
    const root = join(scratchDir(), 'root.tar');
    expect((await cli(['export', await image({}), '--wsl', '-o', root])).code).toBe(0);
    expect(member(root, 'etc/wsl.conf')).toMatch(/^default=root$/m);
    const own = join(scratchDir(), 'own.tar');
    const r = await cli(['export', await image({ User: 'app' }, [['etc/wsl.conf', { content: '[boot]\nsystemd=true\n' }]]), '--wsl', '-o', own]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/has its own \/etc\/wsl.conf; it was kept/);
    expect(member(own, 'etc/wsl.conf')).toBe('[boot]\nsystemd=true\n');
  });

  it('refuses a USER WSL cannot name, in one line, writing nothing', async () => {
    const out = join(scratchDir(), 'x.tar');
    expectOneLine(await cli(['export', await image({ User: '4242' }), '--wsl', '-o', out]), /uid 4242 has no name in the image's \/etc\/passwd/);
    expect(existsSync(out)).toBe(false);
  });
});
