import { describe, expect, it } from 'vitest';
import { embeddedIpv4, ipv6Groups, isNonPublicAddress } from '../../src/net/address-policy.js';

// Issue 15 item 4: every IPv6 form that carries an IPv4 address is judged by the IPv4 it carries,
// or refused whole when the IPv4 part cannot be located. Each row names the rule it pins.
describe('IPv6 forms embedding IPv4 are unwrapped or refused', () => {
  it.each([
    // ::/96, IPv4-compatible (deprecated, still routed by some stacks)
    ['::127.0.0.1', true, '127.0.0.1'],
    ['::7f00:1', true, '127.0.0.1'],
    ['::a9fe:a9fe', true, '169.254.169.254'],
    ['::8.8.8.8', false, '8.8.8.8'],
    // ::ffff:0:0/96, IPv4-mapped, dotted and hex
    ['::ffff:127.0.0.1', true, '127.0.0.1'],
    ['::ffff:7f00:1', true, '127.0.0.1'],
    ['0:0:0:0:0:ffff:0a00:0001', true, '10.0.0.1'],
    ['::FFFF:C0A8:0101', true, '192.168.1.1'],
    ['::ffff:8.8.8.8', false, '8.8.8.8'],
    // ::ffff:0:0:0/96, IPv4-translated (the "::ffff:0:7f00:1")
    ['::ffff:0:7f00:1', true, '127.0.0.1'],
    ['::ffff:0:808:808', false, '8.8.8.8'],
    // 64:ff9b::/96, well-known NAT64
    ['64:ff9b::7f00:1', true, '127.0.0.1'],
    ['64:ff9b::169.254.169.254', true, '169.254.169.254'],
    ['64:ff9b::808:808', false, '8.8.8.8'],
    // 2002::/16, 6to4: the IPv4 address is groups 2 and 3
    ['2002:7f00:1::', true, '127.0.0.1'],
    ['2002:a9fe:a9fe:1:2:3:4:5', true, '169.254.169.254'],
    ['2002:0a00:0001::1', true, '10.0.0.1'],
    ['2002:808:808::1', false, '8.8.8.8'],
  ])('%s non-public: %s (carries %s)', (address, expected, v4) => {
    expect(embeddedIpv4(address)).toBe(v4);
    expect(isNonPublicAddress(address)).toBe(expected);
  });

  it.each([
    // 64:ff9b:1::/48 local-use NAT64: the operator chooses where the IPv4 sits, so the whole prefix is refused
    ['64:ff9b:1::808:808'],
    ['64:ff9b:1:ffff::1'],
    // Teredo 2001::/32 hides an obfuscated client IPv4: refused whole
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2'],
  ])('%s is refused whole', (address) => {
    expect(isNonPublicAddress(address)).toBe(true);
  });

  it('unwraps :: and ::1 to 0.0.0.0/8 and still refuses them', () => {
    expect(embeddedIpv4('::')).toBe('0.0.0.0');
    expect(isNonPublicAddress('::')).toBe(true);
    expect(isNonPublicAddress('::1')).toBe(true);
  });

  it('judges link-local with a zone id and ordinary public IPv6 as before', () => {
    expect(isNonPublicAddress('fe80::1%eth0')).toBe(true);
    expect(isNonPublicAddress('2606:4700::1111')).toBe(false);
    expect(isNonPublicAddress('2a00:1450:4001:82b::200e')).toBe(false);
  });

  it('expands every spelling of an address to the same eight groups', () => {
    const expected = [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1];
    for (const spelling of ['::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', '0000::FFFF:7F00:0001']) {
      expect(ipv6Groups(spelling)).toEqual(expected);
    }
    expect(ipv6Groups('not-an-ip')).toBeUndefined();
    expect(ipv6Groups('127.0.0.1')).toBeUndefined();
  });
});
