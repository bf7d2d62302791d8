/**
 * `config --docker-import`: the --change flags, checked against a real `docker import` when an engine
 * answers on DOCKER_HOST (CI's live run starts one; skipped with one line otherwise), and on their
 * own (the shapes Docker 26.1 read back exactly, found on that engine).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dockerImportChanges } from '../src/import-changes.js';
import { e, imageArchive, layerTar, scratchDir, writeTemp } from './support/build.js';
import { cli, expectOneLine } from './support/cli.js';

const config = {
  Env: ['PATH=/usr/local/bin:/usr/bin', 'A=x y $HOME "q" \\back', 'EMPTY='],
  Entrypoint: ['/bin/sh', '-c'],
  Cmd: ['echo $HOME', 'a b'],
  WorkingDir: '/w$x y',
  User: '1000:$g',
  ExposedPorts: { '80/tcp': {}, '53/udp': {} },
  Volumes: { '/data': {}, '/v w': {} },
  Labels: { 'a b': 'c $d "e"', plain: 'yes' },
  StopSignal: 'SIGINT',
};

describe('dockerImportChanges', () => {
  it('writes each field in the form docker\'s line parser reads back exactly', () => {
    expect(dockerImportChanges(config)).toEqual([
      'ENV PATH="/usr/local/bin:/usr/bin"',
      'ENV A="x y \\$HOME \\"q\\" \\\\back"',
      'ENV EMPTY=""',
      'ENTRYPOINT ["/bin/sh","-c"]',
      'CMD ["echo $HOME","a b"]',
      'WORKDIR /w\\$x y',
      'USER 1000:\\$g',
      'EXPOSE 53/udp',
      'EXPOSE 80/tcp',
      'VOLUME ["/data","/v w"]',
      'LABEL "a b"="c \\$d \\"e\\""',
      'LABEL "plain"="yes"',
      'STOPSIGNAL SIGINT',
    ]);
  });

  it('refuses what one line cannot carry', () => {
    expect(() => dockerImportChanges({ Env: ['A=1\nB=2'] })).toThrow(/line break/);
    expect(() => dockerImportChanges({ Env: ['NOEQUALS'] })).toThrow(/not NAME=VALUE/);
  });
});

function engine(): boolean {
  return spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', timeout: 10000 }).status === 0;
}

describe('config --docker-import with a real docker import', () => {
  let image = '';
  beforeAll(async () => {
    image = writeTemp(await imageArchive([await layerTar([e('bin/', { type: 'dir' }), e('bin/true', { content: 'x' })])], { config }));
  });

  it('prints one line of shell-quoted --change flags (and --json, the instructions)', async () => {
    const r = await cli(['config', image, '--docker-import']);
    expect(r.code).toBe(0);
    const line = r.stdout.toString();
    expect(line.split('\n')).toHaveLength(2);
    // sh reads the line back as the instructions, each after its --change
    const words = spawnSync('sh', ['-c', `eval "set -- $1"; for w in "$@"; do printf '%s\\n' "$w"; done`, 'sh', line], { encoding: 'utf8' }).stdout.split('\n').slice(0, -1);
    const changes = dockerImportChanges(config);
    expect(words).toEqual(changes.flatMap((c) => ['--change', c]));
    const json = await cli(['config', image, '--docker-import', '--json']);
    expect(JSON.parse(json.stdout.toString())).toEqual(changes);
  });

  it('refuses --docker-import with --shell', async () => {
    expectOneLine(await cli(['config', image, '--docker-import', '--shell', '/tmp/x']), /cannot be used together/);
  });

  const live = engine();
  if (!live) console.log('skipped: no Docker engine answers on DOCKER_HOST; the live docker import check needs one');
  it.skipIf(!live)('docker import with the flags gives the original Config in every field it can set', async () => {
    const rootfs = join(scratchDir(), 'rootfs.tar');
    expect((await cli(['export', image, '-o', rootfs])).code).toBe(0);
    const flags = (await cli(['config', image, '--docker-import'])).stdout.toString().trim();
    const tag = `layerfold-import-test:${process.pid}`;
    const script = join(scratchDir(), 'import.sh');
    writeFileSync(script, `exec docker import ${flags} "$1" "$2"\n`);
    const imported = spawnSync('sh', [script, rootfs, tag], { encoding: 'utf8' });
    expect(imported.stderr).toBe('');
    try {
      const got = JSON.parse(spawnSync('docker', ['inspect', tag, '--format', '{{json .Config}}'], { encoding: 'utf8' }).stdout) as Record<string, unknown>;
      for (const [field, value] of Object.entries(config)) expect(got[field], field).toEqual(value);
    } finally {
      spawnSync('docker', ['rmi', tag]);
    }
  });
});
