/**
 * Review (review2): a timeout setting is used as a Node timer (AbortSignal.timeout in guardedFetch
 * and the plugin's whole-call deadline, setTimeout in the registry client and the DNS resolver).
 * parseDuration is right for a TTL, but a timer cannot honour every duration it accepts:
 *   - 0 (and -0, '0s', '1ns') aborts every fetch at once, so every image is refused;
 *   - above 2^31 - 1 ms (about 24.8 days: '720h', a "no timeout" guess) Node fires after 1 ms
 *     (TimeoutOverflowWarning), and above 2^32 - 1 ms AbortSignal.timeout throws a RangeError;
 *   - a fraction of a millisecond ('1.0005s', '1500us') makes AbortSignal.timeout throw a
 *     RangeError, not a VerificationError (the plugin answers code 8, the engine an internal error).
 * So a timeout setting is refused at load time unless a timer can honour it; a TTL is not a timer.
 */
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, parseTimeout } from '../../src/policy/duration.js';
import { DEFAULT_SETTINGS, settingsFromParameters } from '../../src/verify/settings.js';
import { providerConfig } from '../../src/provider/config.js';
import { errorOf } from '../harness/error-code.js';

const TIMEOUTS = ['didResolverTimeout', 'pdsTimeout', 'timeout'] as const;
const field = { didResolverTimeout: 'didResolverTimeoutMs', pdsTimeout: 'pdsTimeoutMs', timeout: 'timeoutMs' } as const;

/** What the runtime does with a delay: 'ok' when a timer waits that long, else why not. */
function timerVerdict(ms: number): string {
  if (ms < 1) return 'fires at once';
  if (ms > 2 ** 31 - 1) return 'overflows to 1 ms';
  try {
    AbortSignal.timeout(ms);
    return 'ok';
  } catch (err) {
    return `throws ${(err as Error).name}`;
  }
}

describe('every timeout a setting accepts is one a Node timer honours', () => {
  it.each(TIMEOUTS.flatMap((name) => ['0', '0s', 0, -0, '1ns', '0.0000001', '720h', '2147483.648', 2 ** 32, '1.0005s', '1500us', '2.5005'].map((v) => [name, v] as const)))(
    '%s = %j: refused, or a whole number of ms a timer waits for',
    (name, value) => {
      let ms: number | undefined;
      try {
        ms = settingsFromParameters({ [name]: value }).settings[field[name]];
      } catch (err) {
        expect((err as { code?: string }).code).toBe('INPUT_INVALID');
        expect((err as Error).message).toContain(name);
        return;
      }
      expect(timerVerdict(ms!)).toBe('ok');
    },
  );

  it.each(TIMEOUTS)('%s still takes the ordinary forms', (name) => {
    for (const [value, ms] of [['2s', 2000], ['250ms', 250], ['1.5', 1500], [3, 3000], ['596h', 596 * 3_600_000], ['1us', 1]] as const) {
      expect(settingsFromParameters({ [name]: value }).settings[field[name]]).toBe(ms);
    }
  });

  it('cacheTTL is not a timer: 0 (no caching) and long TTLs stay accepted', () => {
    expect(settingsFromParameters({ cacheTTL: '0' }).settings.cacheTtlMs).toBe(0);
    expect(settingsFromParameters({ cacheTTL: '720h' }).settings.cacheTtlMs).toBe(720 * 3_600_000);
    expect(DEFAULT_SETTINGS.cacheTtlMs).toBe(300_000);
  });

  it.each(['REQUEST_BUDGET', 'VERIFY_TIMEOUT', 'POLICY_POLL_INTERVAL'])('provider %s=720h is refused (a timer would fire after 1 ms)', (name) => {
    const err = errorOf(() =>
      providerConfig({ [name]: '720h', TLS_CERT_FILE: '/c', TLS_KEY_FILE: '/k', TRUST_POLICY_PATH: '/p' }),
    );
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.message).toContain(name);
  });
});

describe('parseTimeout: the edges and what the refusal says', () => {
  it('takes exactly 1 ms and exactly 2^31-1 ms, refuses one past either', () => {
    expect(parseTimeout('1ms', 'timeout')).toBe(1);
    expect(parseTimeout(`${MAX_TIMER_MS}ms`, 'timeout')).toBe(MAX_TIMER_MS);
    expect(() => parseTimeout(`${MAX_TIMER_MS + 1}ms`, 'timeout')).toThrow(/is not a usable timeout/);
    expect(() => parseTimeout('0.5ms', 'timeout')).not.toThrow(); // rounded up to 1 ms
    expect(() => parseTimeout(0, 'timeout')).toThrow(/is not a usable timeout/);
  });

  it('names the field and quotes a string value (cut to 64 characters), or shows a number as written', () => {
    expect(errorOf(() => parseTimeout('0s', 'pdsTimeout')).message).toMatch(/^pdsTimeout: "0s" is not a usable timeout; a timeout is at least 1ms and at most 2147483647ms/);
    expect(errorOf(() => parseTimeout(0, 'timeout')).message).toMatch(/^timeout: 0 is not a usable timeout/);
    const long = `${'0'.repeat(100)}s`;
    expect(errorOf(() => parseTimeout(long, 'timeout')).message).toContain(`"${'0'.repeat(64)}" is not`);
  });
});
