import { describe, expect, it } from 'vitest';
import { scopeProblem } from '../../src/policy/scope.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { canonicalImageName, canonicalRegistryHost, parseImageReference, registryHostProblem } from '../../src/registry/reference.js';
import { decisionBeforeRegistry } from '../../src/verify/registry-admission.js';

// Rule: an IPv6 literal that stands for an IPv4 address is not a second name that escapes IPv4
// scopes. IPv4-mapped (::ffff:0:0/96) is what a dual-stack runtime connects to as IPv4: folded into
// the dotted form. The other embedded forms reach an IPv4 address only as the network decides
// (compat, translated, NAT64, 6to4, Teredo): refused as registry hosts, in images and in scopes alike.

const D = `sha256:${'a'.repeat(64)}`;

describe('IPv4-mapped IPv6 registry hosts are their IPv4 address', () => {
  it.each([
    ['[::ffff:a00:5]:5000', '10.0.0.5:5000'],
    ['[::ffff:10.0.0.5]:5000', '10.0.0.5:5000'],
    ['[::FFFF:A00:5]:5000', '10.0.0.5:5000'],
    ['[0:0:0:0:0:ffff:a00:5]:5000', '10.0.0.5:5000'],
    ['[::ffff:127.0.0.1]', '127.0.0.1'],
    ['[::ffff:a00:5]:443', '10.0.0.5'],
    ['[::ffff:0:0]', '0.0.0.0'],
  ])('%s is %s', (host, canonical) => {
    expect(registryHostProblem(host)).toBeUndefined();
    expect(canonicalRegistryHost(host)).toBe(canonical);
    expect(canonicalRegistryHost(canonicalRegistryHost(host))).toBe(canonical);
    expect(canonicalImageName(`${host}/team/app@${D}`)).toBe(`${canonical}/team/app`);
  });

  it('other IPv6 literals keep their (compressed) IPv6 form', () => {
    expect(canonicalRegistryHost('[::1]:5000')).toBe('[::1]:5000');
    expect(canonicalRegistryHost('[0:0::1]')).toBe('[::1]');
    expect(canonicalRegistryHost('[::]')).toBe('[::]');
    expect(canonicalRegistryHost('[2606:4700::1]')).toBe('[2606:4700::1]');
    expect(canonicalRegistryHost('[::fffe:a00:5]')).toBe('[::fffe:a00:5]');
  });

  it('an enforce scope written for the IPv4 name covers the mapped spelling (no defaultAction: allow escape)', () => {
    const policy = parseTrustPolicy(`
version: 1.0
defaultAction: allow
trustedDIDs:
  did:plc:aaaaaaaaaaaaaaaaaaaaaaaa: {name: A}
policies:
  - {name: internal, scope: "10.0.0.5:5000/**", trustedDIDs: [did:plc:aaaaaaaaaaaaaaaaaaaaaaaa], action: enforce}
`);
    for (const spelling of ['[::ffff:a00:5]:5000', '[::ffff:10.0.0.5]:5000', '[0:0:0:0:0:FFFF:a00:5]:5000']) {
      // Undefined: no decision before the registry is asked, i.e. the enforce rule applies (allow would be a success here).
      expect(decisionBeforeRegistry(policy, `${spelling}/team/app@${D}`)?.isSuccess ?? false).toBe(false);
    }
  });

  it('a scope spelled with the mapped form is refused at load, naming the IPv4 form to write', () => {
    expect(scopeProblem('[::ffff:a00:5]:5000/**')).toMatch(/another spelling of 10\.0\.0\.5:5000.*write 10\.0\.0\.5:5000/);
    expect(scopeProblem('[::ffff:10.0.0.5]/team/*')).toMatch(/write 10\.0\.0\.5/);
  });
});

describe('other embedded-IPv4 IPv6 forms are refused as registry hosts', () => {
  it.each([
    ['[::a00:5]:5000', 'IPv4-compatible'],
    ['[::10.0.0.5]', 'IPv4-compatible'],
    ['[::ffff:0:a00:5]', 'IPv4-translated'],
    ['[::ffff:0:10.0.0.5]:5000', 'IPv4-translated'],
    ['[64:ff9b::a00:5]', 'NAT64'],
    ['[64:ff9b::10.0.0.5]:5000', 'NAT64'],
    ['[64:ff9b:1::a00:5]', 'NAT64'],
    ['[2002:a00:5::1]', '6to4'],
    ['[2001:0:4136:e378::1]', 'Teredo'],
  ])('%s (%s)', (host, form) => {
    expect(registryHostProblem(host)).toMatch(new RegExp(`carries an IPv4 address \\(${form}`));
    expect(() => parseImageReference(`${host}/team/app@${D}`)).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }));
    expect(scopeProblem(`${host}/**`)).toMatch(/carries an IPv4 address/);
  });

  it('a policy with such a scope does not load', () => {
    expect(() =>
      parseTrustPolicy(`
version: 1.0
defaultAction: deny
trustedDIDs:
  did:plc:aaaaaaaaaaaaaaaaaaaaaaaa: {name: A}
policies:
  - {name: nat64, scope: "[64:ff9b::a00:5]:5000/**", trustedDIDs: [did:plc:aaaaaaaaaaaaaaaaaaaaaaaa], action: enforce}
`),
    ).toThrow(/carries an IPv4 address/);
  });
});
