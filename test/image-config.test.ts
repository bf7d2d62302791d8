/**
 * The image config's container settings, typed as docker's decoder types them: what it refuses is
 * refused with one line (not met later as a TypeError), what it accepts is read as it reads it.
 */
import { describe, expect, it } from 'vitest';
import { isLayerfoldError } from '../src/index.js';
import { parseImageConfig } from '../src/read/config.js';

const DIFF_IDS = { rootfs: { type: 'layers', diff_ids: [`sha256:${'a'.repeat(64)}`] } };
const parse = (config: unknown) => parseImageConfig({ ...DIFF_IDS, config }, 'cfg.json').config;
const refusal = (config: unknown): string => {
  try {
    parse(config);
  } catch (e) {
    if (isLayerfoldError(e) && e.code === 'BAD_LAYOUT') return e.message;
    throw e;
  }
  throw new Error('accepted');
};

describe('image config settings', () => {
  it('refuses the types docker cannot decode, naming the field', () => {
    expect(refusal({ Env: {} })).toBe('cfg.json: config.Env is not a list of strings, as docker requires');
    expect(refusal({ Env: [1] })).toContain('config.Env');
    expect(refusal({ Cmd: {} })).toContain('config.Cmd is not a list of strings');
    expect(refusal({ Entrypoint: [['x']] })).toContain('config.Entrypoint');
    expect(refusal({ User: 5 })).toContain('config.User is not a string');
    expect(refusal({ WorkingDir: {} })).toContain('config.WorkingDir');
    expect(refusal({ Volumes: ['/v'] })).toContain('config.Volumes is not an object');
    expect(refusal({ Labels: { a: 1 } })).toContain('config.Labels');
  });

  it('reads what docker reads: null as absent, a null element as "", one string as a list of one', () => {
    expect(parse({ Env: null, User: null, Cmd: null })).toEqual({ Cmd: null });
    expect(parse({ Env: ['A=1', null], Labels: { k: null } })).toEqual({ Env: ['A=1', ''], Labels: { k: '' } });
    expect(parse({ Cmd: '/bin/sh -c x', Entrypoint: 'tini' })).toEqual({ Cmd: ['/bin/sh -c x'], Entrypoint: ['tini'] });
    expect(parse({ Healthcheck: { Test: ['NONE'] }, OnBuild: null })).toEqual({ Healthcheck: { Test: ['NONE'] }, OnBuild: null });
  });
});
