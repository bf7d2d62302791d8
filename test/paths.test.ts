/**
 * cleanPath's shortcut for plain names must agree with the part-by-part clean (Go's filepath.Clean
 * from the root, rule 1 of tree/apply.ts) on every name, including the odd ones hostile layers carry;
 * the part-by-part clean itself is held to docker's behaviour by the apply and docker-pair tests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cleanByParts, cleanPath, cleanRooted } from '../src/tree/paths.js';

describe('cleanPath', () => {
  it('gives what cleaning part by part gives, for any name of slashes, dots and letters', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24, unit: fc.constantFrom('/', '.', 'a', 'b', '.wh.') }), (name) => {
        expect(cleanPath(name)).toBe(cleanByParts(name));
        expect(cleanPath(`/${name}`)).toBe(cleanByParts(`/${name}`));
        expect(cleanRooted(name)).toBe(cleanByParts(`/${name}`));
      }),
      { numRuns: 20000, seed: 20261128 },
    );
  });

  it('trims the slashes of a plain name and resolves the rest', () => {
    expect(cleanPath('/usr/bin/')).toBe('usr/bin');
    expect(cleanPath('/.wh..wh..opq')).toBe('.wh..wh..opq');
    expect(cleanPath('/a/../../b')).toBe('b');
    expect(cleanPath('../a')).toBeNull();
    expect(cleanPath('/')).toBe('');
    expect(cleanPath('a/..')).toBe('');
  });
});
