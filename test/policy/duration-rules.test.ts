/**
 * parseDuration (src/policy/duration.ts): timeouts and TTLs as Go writes them (Ratify configs are
 * Go's) or as seconds; negative, non-finite and malformed values are INPUT_INVALID naming the
 * setting, never read as 0 or as "no timeout".
 */
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/policy/duration.js';
import { errorOf } from '../harness/error-code.js';

describe('accepted: Go durations and seconds', () => {
  it.each<[string | number, number]>([
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['2h', 7_200_000],
    ['1.5s', 1500],
    ['1.s', 1000],
    ['.5s', 500],
    ['1h1m1s1ms', 3_661_001],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1500μs', 1.5],
    ['1500000ns', 1.5],
    ['1ns', 0],
    ['1234ns', 0.001],
    ['+5s', 5000],
    [' 5s ', 5000],
    ['0', 0],
    ['10', 10_000],
    ['+10', 10_000],
    ['0.5', 500],
    ['.25', 250],
    [10, 10_000],
    [0.5, 500],
    [0, 0],
  ])('%j is %d ms', (value, ms) => {
    expect(parseDuration(value, 'timeout')).toBe(ms);
  });
});

describe('refused, naming the setting', () => {
  it.each<[unknown, string]>([
    ['-5s', '"-5s"'],
    [-1, '-1'],
    ['10x', '"10x"'],
    ['s', '"s"'],
    ['', '""'],
    ['5 s', '"5 s"'],
    ['1e3', '"1e3"'],
    ['Infinity', '"Infinity"'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [Number.NaN, 'NaN'],
    [true, 'true'],
    [null, 'null'],
    [`${'9'.repeat(20)}h`, `"${'9'.repeat(20)}h"`],
    [`${'9'.repeat(17)}`, `"${'9'.repeat(17)}"`],
    [`${'x'.repeat(100)}`, `"${'x'.repeat(64)}"`],
  ])('%j', (value, shown) => {
    const err = errorOf(() => parseDuration(value as string, 'cacheTTL'));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.message).toBe(`cacheTTL: ${shown} is not a duration; use a non-negative Go duration such as 10s, 1m30s, 500ms, 2h, or a number of seconds`);
  });

  it('the largest safe number of milliseconds is accepted, one more second is not', () => {
    const maxSeconds = Math.floor(Number.MAX_SAFE_INTEGER / 1000);
    expect(parseDuration(maxSeconds, 't')).toBe(maxSeconds * 1000);
    expect(errorOf(() => parseDuration(maxSeconds + 1, 't')).code).toBe('INPUT_INVALID');
    expect(parseDuration(`${Number.MAX_SAFE_INTEGER}ms`, 't')).toBe(Number.MAX_SAFE_INTEGER);
  });
});
