/**
 * Registry-host rules of src/registry/reference.ts, at the edges of each rule:
 * - an IPv6 literal that carries an IPv4 address is refused unless it is IPv4-mapped (folded into
 *   its IPv4 form); each form's prefix is pinned just inside and just outside, in every spelling the
 *   URL parser reads as the same address (upper case, fully written, compressed, with a port);
 * - the refusal names the form and its prefix, as the operator reads it;
 * - `:443` (and only `:443`) is dropped, also for a `registries` host glob the URL parser cannot read;
 * - a parsed reference is one frozen object shared by every caller.
 */
import { describe, expect, it } from 'vitest';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { canonicalRegistryHost, parseImageReference, registryHostProblem } from '../../src/registry/reference.js';
import { errorOf } from '../harness/error-code.js';

const D = `sha256:${'a'.repeat(64)}`;
const COMPAT = 'IPv4-compatible, ::/96';
const TRANSLATED = 'IPv4-translated, ::ffff:0:0:0/96';
const NAT64 = 'NAT64, 64:ff9b::/96 or 64:ff9b:1::/48';
const SIX_TO_FOUR = '6to4, 2002::/16';
const TEREDO = 'Teredo, 2001::/32';

const carries = (host: string, form: string) =>
  `"${host}" is an IPv6 address that carries an IPv4 address (${form}); refused as a registry host because which IPv4 address it reaches depends on the network, so scopes written for the IPv4 name could not be relied on to cover it: write the registry's IPv4 address or host name`;

describe('an IPv6 registry host that carries an IPv4 address is refused, naming its form', () => {
  // Just inside each prefix, in several spellings of one address.
  it.each<[string, string]>([
    ['[::2]', COMPAT], // ::0.0.0.2: only :: and ::1 are left out of ::/96
    ['[::ffff]', COMPAT],
    ['[::1:0]', COMPAT], // 0.1.0.0: a low group of 0 or 1 is IPv4-compatible when the group above it is not 0
    ['[::a00:1]', COMPAT],
    ['[::a00:0]:5000', COMPAT],
    ['[0:0:0:0:0:0:10.0.0.5]', COMPAT],
    ['[::A00:5]:5000', COMPAT],
    ['[::ffff:0:0:0]', TRANSLATED],
    ['[0:0:0:0:FFFF:0:A00:5]:5000', TRANSLATED],
    ['[64:ff9b::a00:5]:5000', NAT64],
    ['[64:FF9B:0:0:0:0:A00:5]', NAT64],
    ['[64:ff9b::]', NAT64],
    ['[64:ff9b:1::]', NAT64],
    ['[64:ff9b:1:ffff:ffff:ffff:ffff:ffff]:443', NAT64],
    ['[2002::]', SIX_TO_FOUR],
    ['[2002:FFFF:FFFF:1:2:3:4:5]:5000', SIX_TO_FOUR],
    ['[2001::]', TEREDO],
    ['[2001:0:ffff:ffff:ffff:ffff:ffff:ffff]', TEREDO],
    ['[2001:0:4136:E378:8000:63BF:3FFF:FDD2]:5000', TEREDO],
  ])('%s (%s)', (host, form) => {
    expect(registryHostProblem(host)).toBe(carries(host, form));
    const ref = `${host}/team/app@${D}`;
    const err = errorOf(() => parseImageReference(ref));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.message).toBe(`image reference "${ref}" is invalid: ${carries(host, form)}`);
  });
});

describe('an IPv6 registry host just outside every embedded-IPv4 prefix is a registry like any other', () => {
  // Accepted, and kept in the URL parser's compressed lower-case form (not folded to IPv4).
  it.each<[string, string]>([
    ['[::]', '[::]'],
    ['[::1]:5000', '[::1]:5000'],
    ['[0:0:0:0:0:0:0:1]', '[::1]'],
    ['[::1:0:0]', '[::1:0:0]'], // group 5 set: not ::/96
    ['[::fffe:0:a00:5]', '[::fffe:0:a00:5]'], // not ::ffff:0:0:0/96
    ['[::ffff:1:a00:5]', '[::ffff:1:a00:5]'], // ::ffff:1:0:0, beside ::ffff:0:0:0/96
    ['[1::ffff:0:a00:5]', '[1::ffff:0:a00:5]'],
    ['[1::ffff:a00:5]', '[1::ffff:a00:5]'], // not IPv4-mapped: a high group is set
    ['[::1:ffff:a00:5]', '[::1:ffff:a00:5]'],
    ['[64::a00:5]', '[64::a00:5]'], // 64:0::, not 64:ff9b::
    ['[65:ff9b::a00:5]', '[65:ff9b::a00:5]'],
    ['[1:ff9b::a00:5]', '[1:ff9b::a00:5]'],
    ['[64:ff9a::a00:5]', '[64:ff9a::a00:5]'],
    ['[64:ff9b::1:0:a00:5]', '[64:ff9b::1:0:a00:5]'], // 64:ff9b:0:0:1::, outside 64:ff9b::/96
    ['[64:ff9b:0:1::a00:5]', '[64:ff9b:0:1::a00:5]'],
    ['[64:FF9B:2::A00:5]:5000', '[64:ff9b:2::a00:5]:5000'], // beside 64:ff9b:1::/48
    ['[2003::1]', '[2003::1]'],
    ['[2001:1::1]', '[2001:1::1]'], // 2001:1::, beside 2001::/32
    ['[2001:DB8::1]:443', '[2001:db8::1]'],
    ['[2606:4700:1:2:3:4:5:6]', '[2606:4700:1:2:3:4:5:6]'], // eight groups, no `::`
  ])('%s is %s', (host, canonical) => {
    expect(registryHostProblem(host)).toBeUndefined();
    expect(canonicalRegistryHost(host)).toBe(canonical);
    expect(parseImageReference(`${host}/team/app@${D}`).registry).toBe(canonical);
  });

  it('a zone index is not part of a registry host', () => {
    expect(registryHostProblem('[fe80::1%25eth0]')).toBe('"[fe80::1%25eth0]" is not a valid registry host');
  });
});

describe('a host the URL parser cannot read is refused with the rule it breaks', () => {
  const IPV6 = 'is not an IPv6 address a URL can name (eight groups of at most four hex digits, or fewer with one "::"; a dotted IPv4 tail without leading zeros)';
  const NAME = 'is not a host a URL can name (a last label of digits must make an IPv4 address)';
  it.each<[string, string]>([
    ['[00000::1]', IPV6],
    ['[1:2:3:4:5:6:7:8:9]', IPV6],
    ['[1::2::3]', IPV6],
    ['[::ffff:010.0.0.5]:5000', IPV6],
    ['[::ffff:10.0.0]', IPV6],
    ['[1.2.3.4]', IPV6],
    ['registry.1', NAME],
    ['1.2.3.4.5', NAME],
    ['registry.0x', NAME],
  ])('%s', (host, rule) => {
    expect(registryHostProblem(host)).toBe(`"${host}" ${rule}`);
    expect(errorOf(() => parseImageReference(`${host}/team/app`)).message).toBe(`image reference "${host}/team/app" is invalid: "${host}" ${rule}`);
  });

  it('a long unreadable IPv6 literal is shown cut to 80 characters', () => {
    const host = `[${'0'.repeat(100)}::1]`;
    expect(registryHostProblem(host)).toBe(`"${host.slice(0, 80)}" ${IPV6}`);
  });
});

describe('only the all-zero ::ffff:0:0/96 prefix is IPv4-mapped (folded into IPv4)', () => {
  it.each<[string, string]>([
    ['[::ffff:a00:5]', '10.0.0.5'],
    ['[0:0:0:0:0:FFFF:10.0.0.5]:5000', '10.0.0.5:5000'],
    ['[::ffff:ffff:ffff]:65535', '255.255.255.255:65535'],
    ['[::FFFF:102:304]:443', '1.2.3.4'],
  ])('%s is %s', (host, canonical) => {
    expect(registryHostProblem(host)).toBeUndefined();
    expect(canonicalRegistryHost(host)).toBe(canonical);
  });

  it('an address with any of its top five groups set keeps its IPv6 form', () => {
    for (const at of [0, 1, 2, 3, 4]) {
      const groups = ['0', '0', '0', '0', '0', 'ffff', 'a00', '5'];
      groups[at] = '1';
      const host = `[${groups.join(':')}]`;
      const canonical = canonicalRegistryHost(host);
      expect(canonical).toMatch(/^\[/);
      expect(canonical).not.toContain('10.0.0.5');
    }
  });
});

describe('the https default port :443 is dropped, and only it', () => {
  it.each<[string, string]>([
    ['ghcr.io:443', 'ghcr.io'],
    ['GHCR.io:443', 'ghcr.io'],
    ['ghcr.io:4430', 'ghcr.io:4430'],
    ['ghcr.io:44', 'ghcr.io:44'],
    ['ghcr.io:1443', 'ghcr.io:1443'],
    ['index.docker.io:443', 'docker.io'],
    // A `registries` host glob the URL parser cannot read (a wildcard in an IPv4 address or the
    // port) is lower-cased and loses :443 all the same, so the policy loader can name its spelling.
    ['10.0.*.5:443', '10.0.*.5'],
    ['10.0.*.5:4430', '10.0.*.5:4430'],
    ['10.0.*.5:44', '10.0.*.5:44'],
    ['10.0.*.5:1443', '10.0.*.5:1443'],
    ['Mirror.*.CORP:4*', 'mirror.*.corp:4*'],
    ['Registry.10.*.5', 'registry.10.*.5'],
  ])('%s is %s', (host, canonical) => {
    expect(canonicalRegistryHost(host)).toBe(canonical);
    expect(canonicalRegistryHost(canonical)).toBe(canonical);
  });

  it('a registries host glob written with :443 or upper case is refused at load, naming the spelling to write', () => {
    const load = (host: string) => () =>
      parseTrustPolicy(`
version: 1.0
defaultAction: deny
trustedDIDs:
  did:plc:aaaaaaaaaaaaaaaaaaaaaaaa: {name: A}
registries:
  - {host: "${host}"}
policies: []
`);
    expect(load('10.0.*.5:443')).toThrow(':443 is the default https port, which image names leave out: write "10.0.*.5"');
    expect(load('Mirror.*.corp:4*')).toThrow('hosts are compared lowercase: write "mirror.*.corp:4*"');
    expect(load('10.0.*.5:4430')).not.toThrow();
  });
});

describe('a parsed reference is remembered: one frozen object for every caller', () => {
  it('the same text gives the same frozen object; a caller cannot change what the next one reads', () => {
    const first = parseImageReference(`ghcr.io/team/app:v1`);
    expect(Object.isFrozen(first)).toBe(true);
    expect(parseImageReference(`ghcr.io/team/app:v1`)).toBe(first);
    expect(() => {
      (first as { registry: string }).registry = 'evil.example';
    }).toThrow(TypeError);
  });

  it('a non-string is refused as INPUT_INVALID every time (a refusal is not remembered)', () => {
    for (let i = 0; i < 2; i++) {
      const err = errorOf(() => parseImageReference(42 as unknown as string));
      expect(err.code).toBe('INPUT_INVALID');
      expect(err.message).toBe('image reference "42" is invalid: it is empty');
    }
  });
});
