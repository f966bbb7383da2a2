/**
 * isNonPublicAddress (src/net/address-policy.ts): an IPv4 address wrapped in IPv6 (IPv4-mapped
 * ::ffff:0:0/96, NAT64 64:ff9b::/96), in dotted or hex form, is judged as the IPv4 address it
 * carries; Node's BlockList alone knows the mapped form but not NAT64.
 */
import { describe, expect, it } from 'vitest';
import { isNonPublicAddress } from '../../src/net/address-policy.js';

describe('IPv4 inside IPv6 is judged as IPv4', () => {
  it.each<[string, boolean]>([
    ['64:ff9b::10.0.0.1', true],
    ['64:ff9b::127.0.0.1', true],
    ['64:ff9b::169.254.169.254', true],
    ['64:FF9B::192.168.10.20', true],
    ['64:ff9b::8.8.8.8', false],
    ['64:ff9b::a00:1', true],
    ['64:ff9b::a9fe:a9fe', true],
    ['64:ff9b::7f00:1', true],
    ['64:ff9b::808:808', false],
    ['::ffff:10.0.0.1', true],
    ['::ffff:169.254.169.254', true],
    ['::FFFF:A9FE:A9FE', true],
    ['::ffff:a00:1', true],
    ['::ffff:808:808', false],
    ['::ffff:8.8.8.8', false],
  ])('%s non-public: %s', (address, nonPublic) => {
    expect(isNonPublicAddress(address)).toBe(nonPublic);
  });

  it.each<[string, boolean]>([
    ['::1', true],
    ['fe80::1', true],
    ['fd12:3456::1', true],
    ['ff02::1', true],
    ['2001:db8::1', true],
    ['2606:4700:4700::1111', false],
    ['2a00:1450:4001::200e', false],
  ])('plain IPv6 %s non-public: %s', (address, nonPublic) => {
    expect(isNonPublicAddress(address)).toBe(nonPublic);
  });

  it.each(['', 'localhost', '10.0.0', '1.2.3.4.5', '[::1]'])('%j is not an IP literal: never public', (text) => {
    expect(isNonPublicAddress(text)).toBe(true);
  });
});
