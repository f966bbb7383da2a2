/** Rules of src/atproto/tid.ts that the mutation run found unpinned: a rev is a string, and a refusal says why. */
import { describe, expect, it } from 'vitest';
import { parseTid } from '../../src/atproto/tid.js';
import { errorOf } from '../harness/error-code.js';

describe('a commit rev is a TID string, nothing that merely prints as one', () => {
  it.each([
    ['an array holding a TID', ['3jzfcijpj2z2a']],
    ['an object whose toString is a TID', { toString: () => '3jzfcijpj2z2a' }],
    ['a number', 1234567890123],
  ])('%s is COMMIT_INVALID, shown by its type', (_name, value) => {
    const err = errorOf(() => parseTid(value as unknown as string));
    expect(err.code).toBe('COMMIT_INVALID');
    expect(err.message).toBe(`rev ${typeof value} is not a TID (13 base32-sortable characters)`);
  });

  it('a malformed string is shown, cut to 40 characters', () => {
    const long = '3'.repeat(100);
    expect(errorOf(() => parseTid(long)).message).toBe(`rev ${JSON.stringify(long.slice(0, 40))} is not a TID (13 base32-sortable characters)`);
  });

  it('a TID with the reserved top bit says so', () => {
    expect(errorOf(() => parseTid('c222222222222')).message).toBe('rev c222222222222 sets the TID top bit, which must be 0');
  });
});
