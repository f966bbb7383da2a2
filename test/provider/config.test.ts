import { describe, expect, it } from 'vitest';
import { DEFAULT_BUDGET_MS, providerConfig } from '../../src/provider/config.js';

// Environment variables (SPEC section 4 plus the provider's own), with `serve` flags overriding.

const BASE = { TLS_CERT_FILE: '/tls/tls.crt', TLS_KEY_FILE: '/tls/tls.key', TRUST_POLICY_PATH: '/policy/trust-policy.yaml' };

describe('providerConfig', () => {
  it('has production defaults: port 8443, health 8080, 3 s budget (1 s under the 4 s Provider timeout), public network only', () => {
    const { config, warnings } = providerConfig({ ...BASE, CLIENT_CA_FILE: '/gk/ca.crt' });
    expect(config).toMatchObject({
      port: 8443,
      healthPort: 8080,
      budgetMs: DEFAULT_BUDGET_MS,
      logLevel: 'info',
      plainHttp: false,
      tls: { certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', clientCaFile: '/gk/ca.crt' },
      settings: { plcDirectory: 'https://plc.directory', allowPrivateNetwork: false, cacheEnabled: true, trustPolicyPath: '/policy/trust-policy.yaml' },
    });
    expect(DEFAULT_BUDGET_MS).toBe(3000);
    expect(warnings).toEqual([]);
  });

  it('reads every SPEC variable', () => {
    const { config } = providerConfig({
      ...BASE,
      HTTP_PORT: '9443',
      LOG_LEVEL: 'DEBUG',
      CACHE_ENABLED: 'false',
      CACHE_TTL: '90s',
      DID_RESOLVER_TIMEOUT: '2s',
      PDS_TIMEOUT: '1500ms',
      PLC_DIRECTORY: 'https://plc.example/',
      REQUEST_BUDGET: '2s',
      HEALTH_PORT: 'off',
      ATCR_REGISTRIES: 'atcr.io, registry.example',
      MAX_KEYS: '64',
    });
    expect(config).toMatchObject({ port: 9443, logLevel: 'debug', budgetMs: 2000, healthPort: null, maxKeys: 64 });
    expect(config.settings).toMatchObject({
      cacheEnabled: false,
      cacheTtlMs: 90_000,
      didResolverTimeoutMs: 2000,
      pdsTimeoutMs: 1500,
      plcDirectory: 'https://plc.example',
      atcrRegistries: ['atcr.io', 'registry.example'],
    });
  });

  it('lets flags override the environment', () => {
    const { config } = providerConfig(
      { ...BASE, HTTP_PORT: '9443', PLC_DIRECTORY: 'https://plc.example', REQUEST_BUDGET: '2s' },
      { port: '10443', cert: '/other.crt', policy: '/p.yaml', plcDirectory: 'http://127.0.0.1:2582', budget: '1s', allowPrivateNetwork: true, plainHttp: true, handleResolver: 'http://127.0.0.1:2583' },
    );
    expect(config).toMatchObject({ port: 10443, budgetMs: 1000, plainHttp: true, trustPolicyPath: '/p.yaml', tls: { certFile: '/other.crt' } });
    expect(config.settings).toMatchObject({ plcDirectory: 'http://127.0.0.1:2582', allowPrivateNetwork: true, handleResolverUrl: 'http://127.0.0.1:2583' });
  });

  it('requires a certificate, a key and a trust policy (no plain-HTTP, no policy-less mode)', () => {
    expect(() => providerConfig({ TRUST_POLICY_PATH: '/p' })).toThrow(/TLS certificate and key are required/);
    expect(() => providerConfig({ TLS_CERT_FILE: '/c', TRUST_POLICY_PATH: '/p' })).toThrow(/TLS_KEY_FILE/);
    expect(() => providerConfig({ TLS_CERT_FILE: '/c', TLS_KEY_FILE: '/k' })).toThrow(/trust policy file is required/);
  });

  it('warns about what is legal but risky: no client CA, a budget too close to the Provider timeout, private networks', () => {
    const { warnings } = providerConfig({ ...BASE, REQUEST_BUDGET: '3100ms', ALLOW_PRIVATE_NETWORK: 'true' });
    expect(warnings.join('\n')).toMatch(/no client CA/);
    expect(warnings.join('\n')).toMatch(/REQUEST_BUDGET 3100 ms leaves less than 1000 ms before the Provider timeout of 4 s/);
    expect(warnings.join('\n')).toMatch(/ALLOW_PRIVATE_NETWORK is on/);
  });

  it.each([
    [{ HTTP_PORT: '70000' }, /HTTP_PORT: "70000" is not a port/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL: "loud" is not one of debug, info, warn, error/],
    [{ REQUEST_BUDGET: 'soon' }, /REQUEST_BUDGET: "soon" is not a duration/],
    [{ REQUEST_BUDGET: '10ms' }, /REQUEST_BUDGET: 10ms is too short/],
    [{ CACHE_ENABLED: 'maybe' }, /CACHE_ENABLED must be true or false/],
    [{ PLC_DIRECTORY: 'ftp://plc' }, /PLC_DIRECTORY must be an http\(s\) URL/],
    [{ MAX_KEYS: '0' }, /MAX_KEYS: "0" is not a positive integer/],
    [{ ALLOW_PRIVATE_NETWORK: 'sure' }, /ALLOW_PRIVATE_NETWORK: "sure" is not true or false/],
  ])('names the variable of a bad value: %o', (env, message) => {
    expect(() => providerConfig({ ...BASE, ...env })).toThrow(message);
  });
});
