/**
 * settingsFromParameters (src/verify/settings.ts): every face's parameters become one settings
 * object; a value of the wrong kind is INPUT_INVALID naming the parameter, an unknown name is
 * returned (a typo is reported, never ignored), and absent values keep the defaults.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, settingsFromParameters } from '../../src/verify/settings.js';
import { errorOf } from '../harness/error-code.js';

const parse = (params: Record<string, unknown>) => settingsFromParameters(params);
const refusal = (params: Record<string, unknown>) => {
  const err = errorOf(() => parse(params));
  expect(err.code).toBe('INPUT_INVALID');
  return err.message;
};

describe('values of each kind', () => {
  it.each<[string, unknown, Partial<typeof DEFAULT_SETTINGS>]>([
    ['trustPolicyPath', '/etc/policy.yaml', { trustPolicyPath: '/etc/policy.yaml' }],
    ['plcDirectory', 'https://plc.example/', { plcDirectory: 'https://plc.example' }],
    ['plcDirectory', 'http://127.0.0.1:2582//', { plcDirectory: 'http://127.0.0.1:2582' }],
    ['didResolverTimeout', '3s', { didResolverTimeoutMs: 3000 }],
    ['pdsTimeout', '250ms', { pdsTimeoutMs: 250 }],
    ['cacheEnabled', false, { cacheEnabled: false }],
    ['cacheEnabled', 'false', { cacheEnabled: false }],
    ['cacheEnabled', '0', { cacheEnabled: false }],
    ['cacheEnabled', 'true', { cacheEnabled: true }],
    ['cacheEnabled', '1', { cacheEnabled: true }],
    ['cacheTTL', '1m', { cacheTtlMs: 60_000 }],
    ['cacheDir', '/var/cache/x', { cacheDir: '/var/cache/x' }],
    ['allowPrivateNetwork', true, { allowPrivateNetwork: true }],
    ['allowPrivateNetwork', 'true', { allowPrivateNetwork: true }],
    ['atcrRegistries', ['a.io', 'b.io'], { atcrRegistries: ['a.io', 'b.io'] }],
    ['atcrRegistries', ' a.io , b.io,,', { atcrRegistries: ['a.io', 'b.io'] }],
    ['atcrRegistries', '', { atcrRegistries: [] }],
    ['timeout', '2s', { timeoutMs: 2000 }],
    ['handleResolver', 'https://resolver.example/', { handleResolverUrl: 'https://resolver.example' }],
    ['offline', true, { offline: true }],
    ['offline', 'true', { offline: true }],
    ['offline', '0', { offline: false }],
  ])('%s = %j', (name, value, expected) => {
    const { settings, unknown } = parse({ [name]: value });
    expect(unknown).toEqual([]);
    expect(settings).toEqual({ ...DEFAULT_SETTINGS, ...expected });
  });

  it.each<[string, unknown, string]>([
    ['trustPolicyPath', '', 'trustPolicyPath must be a non-empty string, got ""'],
    ['trustPolicyPath', 5, 'trustPolicyPath must be a non-empty string, got 5'],
    ['cacheDir', '', 'cacheDir must be a non-empty string, got ""'],
    ['plcDirectory', 'ftp://plc.example', 'plcDirectory must be an http(s) URL, got "ftp://plc.example"'],
    ['plcDirectory', 'plc.example', 'plcDirectory must be an http(s) URL, got "plc.example"'],
    ['handleResolver', 'file:///etc/passwd', 'handleResolver must be an http(s) URL, got "file:///etc/passwd"'],
    ['cacheEnabled', 'yes', 'cacheEnabled must be true or false, got "yes"'],
    ['allowPrivateNetwork', 1, 'allowPrivateNetwork must be true or false, got 1'],
    ['atcrRegistries', [1], 'atcrRegistries must be a list of strings'],
    ['atcrRegistries', { a: 1 }, 'atcrRegistries must be a list of strings'],
    ['atcrRegistries', ['a.io', 1], 'atcrRegistries must be a list of strings'],
    ['trustPolicyPath', ['/etc/policy.yaml'], 'trustPolicyPath must be a non-empty string, got ["/etc/policy.yaml"]'],
    ['offline', 'maybe', 'offline must be true or false, got "maybe"'],
  ])('%s = %j is refused', (name, value, message) => {
    expect(refusal({ [name]: value })).toBe(message);
  });
});

describe('names', () => {
  it('unknown names are returned in order, and the known ones still applied', () => {
    const { settings, unknown } = parse({ plcdirectory: 'https://x', cacheEnabled: false, timeOut: '1s' });
    expect(unknown).toEqual(['plcdirectory', 'timeOut']);
    expect(settings.cacheEnabled).toBe(false);
    expect(settings.plcDirectory).toBe(DEFAULT_SETTINGS.plcDirectory);
  });

  it('null and undefined values keep the base settings', () => {
    expect(parse({ plcDirectory: null, cacheEnabled: undefined, nothing: null })).toEqual({ settings: DEFAULT_SETTINGS, unknown: [] });
  });

  it('the base is copied, never changed, and its registry list is not shared', () => {
    const base = { ...DEFAULT_SETTINGS, atcrRegistries: ['a.io'] };
    const { settings } = settingsFromParameters({ cacheEnabled: false }, base);
    expect(settings.atcrRegistries).toEqual(['a.io']);
    expect(settings.atcrRegistries).not.toBe(base.atcrRegistries);
    expect(base.cacheEnabled).toBe(true);
  });

  it('the defaults: public PLC, 10 s fetch timeouts, a 5 minute cache, https and public addresses only, atcr.io, online', () => {
    expect(DEFAULT_SETTINGS).toEqual({
      plcDirectory: 'https://plc.directory',
      didResolverTimeoutMs: 10_000,
      pdsTimeoutMs: 10_000,
      cacheEnabled: true,
      cacheTtlMs: 300_000,
      allowPrivateNetwork: false,
      atcrRegistries: ['atcr.io'],
      offline: false,
    });
  });
});
