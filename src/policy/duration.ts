import { VerificationError } from '../errors.js';

/** Go's time.ParseDuration units, in milliseconds (Ratify configs are written for Go). */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const GO_DURATION = /^\+?(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))*$/;
const COMPONENT = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
const SECONDS = /^\+?(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * Parses a timeout or TTL setting into milliseconds: a Go duration (`10s`, `1m30s`, `500ms`,
 * `2h`, `1.5s`) or a plain number of seconds (`10`, `"10"`, `0.5`). Negative, non-finite and
 * malformed values throw INPUT_INVALID naming `field`. Precision is kept to the microsecond.
 */
export function parseDuration(value: string | number, field: string): number {
  const ms = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? stringToMs(value.trim()) : undefined;
  // The one range check for every form: NaN, Infinity and negative numbers of seconds end here too.
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : String(value);
    throw new VerificationError(
      'INPUT_INVALID',
      `${field}: ${shown} is not a duration; use a non-negative Go duration such as 10s, 1m30s, 500ms, 2h, or a number of seconds`,
    );
  }
  return Math.round(ms * 1000) / 1000;
}

/** The longest delay Node's timers wait (2^31 - 1 ms, about 24.8 days): a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Parses a timeout setting (parseDuration's forms) into whole milliseconds, rounded up, that a
 * Node timer honours: at least 1 ms and at most MAX_TIMER_MS. AbortSignal.timeout throws on a
 * fraction of a millisecond, a timer fires at once for 0 and after 1 ms beyond MAX_TIMER_MS, so
 * each of those would refuse every image with a misleading cause: they are refused here, at load.
 */
export function parseTimeout(value: string | number, field: string): number {
  const ms = Math.ceil(parseDuration(value, field));
  if (ms < 1 || ms > MAX_TIMER_MS) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : String(value);
    throw new VerificationError(
      'INPUT_INVALID',
      `${field}: ${shown} is not a usable timeout; a timeout is at least 1ms and at most ${MAX_TIMER_MS}ms (about 596h, the longest a Node timer waits)`,
    );
  }
  return ms;
}

function stringToMs(text: string): number | undefined {
  // A number of seconds (Number reads the leading + too); Go's bare 0 is one.
  if (SECONDS.test(text)) return Number(text) * 1000;
  if (!GO_DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(COMPONENT)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}
