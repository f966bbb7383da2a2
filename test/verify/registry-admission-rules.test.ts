/**
 * Policy before network (issue 15 item 1, src/verify/registry-admission.ts): an image no scope
 * covers is decided by defaultAction alone, with no registry contacted; a covered image goes on to
 * verification; per-registry network allowances only widen the global settings for that host.
 */
import { describe, expect, it } from 'vitest';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { decisionBeforeRegistry, registryGate, registryNetworkFor } from '../../src/verify/registry-admission.js';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const policyOf = (defaultAction: string, registries = '') =>
  parseTrustPolicy(
    `version: "1.0"\ndefaultAction: ${defaultAction}\ntrustedDIDs:\n  ${ALICE}: {}\n${registries}policies:\n  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${ALICE}]}\n`,
    'policy.yaml',
  );
const UNSCOPED = 'no policy in trust policy policy.yaml has a scope covering quay.io/a/b';

describe('decisionBeforeRegistry: no scope, defaultAction decides without any registry call', () => {
  it('no trust policy: go on and verify', () => {
    expect(decisionBeforeRegistry(undefined, 'quay.io/a/b')).toBeUndefined();
  });

  it.each(['deny', 'allow', 'audit'])('a covered image goes on to verification (defaultAction %s)', (action) => {
    expect(decisionBeforeRegistry(policyOf(action), 'ghcr.io/a/b:1')).toBeUndefined();
  });

  it('a mirror name whose origin a scope covers goes on to verification', () => {
    expect(decisionBeforeRegistry(policyOf('deny', 'registries:\n  - {host: mirror.corp, mirrorOf: ghcr.io}\n'), 'mirror.corp/a/b')).toBeUndefined();
  });

  it('deny: refused with NO_POLICY, no step ran', () => {
    const d = decisionBeforeRegistry(policyOf('deny'), 'quay.io/a/b')!;
    expect([d.isSuccess, d.audit, d.error?.code, d.steps]).toEqual([false, false, 'NO_POLICY', []]);
    expect(d.error!.message).toBe(`${UNSCOPED}; defaultAction is deny, so it is refused without contacting its registry`);
  });

  it.each([
    ['allow admits, no audit, no error, policy step ok', 'allow', false],
    ['audit admits as audit, reporting NO_POLICY, policy step not ok', 'audit', true],
  ] as [string, string, boolean][])('%s', (_rule, action, audit) => {
    const d = decisionBeforeRegistry(policyOf(action), 'quay.io/a/b')!;
    expect([d.isSuccess, d.audit, d.error?.code]).toEqual([true, audit, audit ? 'NO_POLICY' : undefined]);
    if (audit) expect(d.error!.message).toBe(`${UNSCOPED}; defaultAction is audit: admitted unverified, no registry contacted`);
    expect(d.message).toBe(`${UNSCOPED}: admitted by defaultAction ${action} without verification (no registry contacted)`);
    expect(d.steps).toEqual([{ step: 'policy', ok: !audit, detail: `defaultAction ${action}: no scope covers quay.io/a/b` }]);
    expect([d.trust?.allowed, d.trust?.audit, d.trust?.image]).toEqual([true, audit, 'quay.io/a/b']);
    // No signer was looked up, and the trust decision says so rather than naming one.
    if (audit) expect(d.trust!.failures[0]!.message).toContain('(signed by (not looked up))');
  });
});

describe('registryNetworkFor: a registries entry widens the global settings for its host only', () => {
  const policy = policyOf('deny', 'registries:\n  - {host: "*.lan", allowPrivateNetwork: true}\n  - {host: plain.corp, allowHttp: true}\n');
  const table: [string, string, boolean, boolean, { allowPrivateNetwork: boolean; useHttp: boolean }][] = [
    ['no entry, global off: nothing allowed', 'ghcr.io', false, false, { allowPrivateNetwork: false, useHttp: false }],
    ['no entry, global on: global applies', 'ghcr.io', true, true, { allowPrivateNetwork: true, useHttp: true }],
    ['a matching entry allows private addresses', 'reg.lan', false, false, { allowPrivateNetwork: true, useHttp: false }],
    ['a matching entry allows plain http', 'plain.corp', false, false, { allowPrivateNetwork: false, useHttp: true }],
    ['an entry never narrows the global setting', 'plain.corp', true, false, { allowPrivateNetwork: true, useHttp: true }],
  ];
  it.each(table)('%s', (_rule, host, allowPrivateNetwork, plainHttp, expected) => {
    expect(registryNetworkFor(policy, host, { allowPrivateNetwork, plainHttp })).toEqual(expected);
  });

  it('no policy: the global settings', () => {
    expect(registryNetworkFor(undefined, 'reg.lan', { allowPrivateNetwork: false, plainHttp: true })).toEqual({ allowPrivateNetwork: false, useHttp: true });
  });
});

describe('registryGate: a decision without network, or the network rules (never plain http from the plugin setting)', () => {
  const policy = policyOf('deny', 'registries:\n  - {host: ghcr.io, allowPrivateNetwork: true}\n');
  it('unscoped: decided', () => {
    const g = registryGate(policy, { allowPrivateNetwork: false }, { registry: 'quay.io', repository: 'a/b' });
    expect('decided' in g && g.decided.error?.code).toBe('NO_POLICY');
  });
  it('scoped: the registry entry\'s network rules', () => {
    expect(registryGate(policy, { allowPrivateNetwork: false }, { registry: 'ghcr.io', repository: 'a/b' })).toEqual({ network: { allowPrivateNetwork: true, useHttp: false } });
  });
  it('scoped, no entry: the plugin setting', () => {
    expect(registryGate(policyOf('deny'), { allowPrivateNetwork: true }, { registry: 'ghcr.io', repository: 'a/b' })).toEqual({ network: { allowPrivateNetwork: true, useHttp: false } });
  });
});
