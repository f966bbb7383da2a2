import { TID } from '@atproto/common-web';
import { describe, expect, it } from 'vitest';
import { parseTid } from '../../src/atproto/tid.js';
import { interopLines } from './vectors.js';
import { codeOf } from '../harness/error-code.js';


describe('parseTid', () => {
  it.each(interopLines('syntax/tid_syntax_valid.txt'))('accepts interop valid TID %s', (tid) => {
    expect(() => parseTid(tid)).not.toThrow();
  });

  it.each(interopLines('syntax/tid_syntax_invalid.txt'))('rejects interop invalid TID %s with COMMIT_INVALID', (tid) => {
    expect(codeOf(() => parseTid(tid))).toBe('COMMIT_INVALID');
  });

  it('decodes the zero TID and the layout (53-bit microseconds, 10-bit clock id)', () => {
    expect(parseTid('2222222222222')).toEqual({ timestampMicros: 0, clockId: 0, date: new Date(0) });
    expect(parseTid('222222222222z').clockId).toBe(31);
    expect(parseTid('22222222222z2').clockId).toBe(31 * 32);
  });

  it('agrees with the reference TID generator on the timestamp', () => {
    const before = Date.now();
    const tid = TID.nextStr();
    const after = Date.now();
    const parsed = parseTid(tid);
    expect(parsed.timestampMicros).toBe(TID.fromStr(tid).timestamp());
    expect(parsed.clockId).toBe(TID.fromStr(tid).clockid());
    expect(parsed.date.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(parsed.date.getTime()).toBeLessThanOrEqual(after + 1);
  });

  it('rejects syntactically valid TIDs whose reserved top bit is set (first character c-j)', () => {
    expect(codeOf(() => parseTid('c222222222222'))).toBe('COMMIT_INVALID');
    expect(codeOf(() => parseTid('jzzzzzzzzzzzz'))).toBe('COMMIT_INVALID');
    expect(() => parseTid('bzzzzzzzzzzzz')).not.toThrow();
  });

  it('rejects non-strings', () => {
    expect(codeOf(() => parseTid(undefined as unknown as string))).toBe('COMMIT_INVALID');
  });
});
