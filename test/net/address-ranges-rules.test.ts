/**
 * The address table of src/net/address-policy.ts at its edges: for every blocked range, the first
 * and last address are refused and the addresses just outside are public (unless a neighbouring
 * range takes them). An IPv4 address wrapped in any IPv6 form is judged exactly as the IPv4
 * address it carries; any other IPv6 address is public only inside 2000::/3 and outside the
 * special blocks there. Anything that is not an IP literal (odd IPv4 spellings included) is never public.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { embeddedIpv4, ipv6Groups, isNonPublicAddress } from '../../src/net/address-policy.js';

// [address, non-public]: just outside, first, last, just outside, for every IPv4 range.
const V4_EDGES: [string, boolean][] = [
  ['0.0.0.0', true], ['0.255.255.255', true], ['1.0.0.0', false],
  ['9.255.255.255', false], ['10.0.0.0', true], ['10.255.255.255', true], ['11.0.0.0', false],
  ['100.63.255.255', false], ['100.64.0.0', true], ['100.127.255.255', true], ['100.128.0.0', false],
  ['126.255.255.255', false], ['127.0.0.0', true], ['127.255.255.255', true], ['128.0.0.0', false],
  ['169.253.255.255', false], ['169.254.0.0', true], ['169.254.255.255', true], ['169.255.0.0', false],
  ['172.15.255.255', false], ['172.16.0.0', true], ['172.31.255.255', true], ['172.32.0.0', false],
  ['191.255.255.255', false], ['192.0.0.0', true], ['192.0.0.255', true], ['192.0.1.0', false],
  ['192.0.1.255', false], ['192.0.2.0', true], ['192.0.2.255', true], ['192.0.3.0', false],
  ['192.88.98.255', false], ['192.88.99.0', true], ['192.88.99.255', true], ['192.88.100.0', false],
  ['192.167.255.255', false], ['192.168.0.0', true], ['192.168.255.255', true], ['192.169.0.0', false],
  ['198.17.255.255', false], ['198.18.0.0', true], ['198.19.255.255', true], ['198.20.0.0', false],
  ['198.51.99.255', false], ['198.51.100.0', true], ['198.51.100.255', true], ['198.51.101.0', false],
  ['203.0.112.255', false], ['203.0.113.0', true], ['203.0.113.255', true], ['203.0.114.0', false],
  ['223.255.255.255', false], ['224.0.0.0', true], ['239.255.255.255', true], ['240.0.0.0', true], ['255.255.255.255', true],
];

const hex = (v4: string) => {
  const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)] as const;
};

/** Every IPv6 spelling that carries `v4` at a fixed position. */
function wrappings(v4: string): string[] {
  const [hi, lo] = hex(v4);
  return [
    `::${v4}`,
    `::${hi}:${lo}`,
    `::ffff:${v4}`,
    `::FFFF:${hi.toUpperCase()}:${lo.toUpperCase()}`,
    `0:0:0:0:0:ffff:${hi}:${lo}`,
    `::ffff:0:${v4}`,
    `::ffff:0:${hi}:${lo}`,
    `64:ff9b::${v4}`,
    `64:ff9b::${hi}:${lo}`,
    `2002:${hi}:${lo}::`,
    `2002:${hi}:${lo}:1:2:3:4:5`,
  ];
}

describe('IPv4: each range refused from its first to its last address, its neighbours public', () => {
  it.each(V4_EDGES)('%s non-public: %s', (address, nonPublic) => {
    expect(isNonPublicAddress(address)).toBe(nonPublic);
  });
});

describe('an IPv4 address inside IPv6 is exactly as public as the IPv4 address', () => {
  it.each(V4_EDGES)('every wrapping of %s: non-public %s', (v4, nonPublic) => {
    for (const address of wrappings(v4)) {
      expect({ address, carries: embeddedIpv4(address), nonPublic: isNonPublicAddress(address) }).toEqual({ address, carries: v4, nonPublic });
    }
  });

  it('holds for any IPv4 address (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        const nonPublic = isNonPublicAddress(v4);
        for (const address of wrappings(v4)) {
          expect(embeddedIpv4(address)).toBe(v4);
          expect(isNonPublicAddress(address)).toBe(nonPublic);
        }
      }),
    );
  });
});

describe('IPv6: public only inside 2000::/3 and outside its special blocks', () => {
  it.each<[string, boolean]>([
    // 2000::/3 itself
    ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2000::', false],
    ['3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['4000::', true],
    // IETF protocol assignments 2001::/23 (Teredo, benchmarking, ORCHID)
    ['2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['2001::', true],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', true],
    ['2001:2::1', true],
    ['2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:200::', false],
    // documentation 2001:db8::/32
    ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['2001:db8::', true],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:db9::', false],
    // documentation 3fff::/20
    ['3fff::', true],
    ['3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['3fff:1000::', false],
    // 6to4 neighbours are ordinary global addresses
    ['2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['2003:7f00:1::', false],
    // outside 2000::/3: loopback, unspecified, discard, local NAT64, SRv6, ULA, link-local, site-local, multicast, unassigned
    ['::', true],
    ['::1', true],
    ['1::', true],
    ['100::', true],
    ['100::ffff:ffff:ffff:ffff', true],
    ['64:ff9b:1::808:808', true],
    ['64:ff9b:1:ffff::1', true],
    ['64:ff9b::1:808:808', true],
    ['5f00::1', true],
    ['fc00::1', true],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['fe80::1', true],
    ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['fec0::1', true],
    ['ff02::1', true],
    ['e000::1', true],
    // ordinary public addresses
    ['2606:4700:4700::1111', false],
    ['2a00:1450:4001:82b::200e', false],
  ])('%s non-public: %s', (address, nonPublic) => {
    expect(isNonPublicAddress(address)).toBe(nonPublic);
  });
});

describe('near misses of the embedded forms carry no IPv4 address', () => {
  it.each([
    ['2606:4700::ffff:7f00:1', false], // ::ffff:0:0/96 needs the 80 zero bits in front
    ['::1:7f00:1', true], // ::/96 needs the sixth group zero too
    ['::ffff:1:7f00:1', true], // ::ffff:0:0:0/96 needs a zero after ffff
    ['::5:0:7f00:1', true], // ... and ffff before it
    ['1::ffff:0:7f00:1', true], // ... and 64 zero bits in front
    ['65:ff9b::7f00:1', true], // 64:ff9b::/96 exactly
    ['64:ff9a::7f00:1', true],
    ['64:ff9b:0:0:0:1:7f00:1', true],
    ['2606:4700::1111', false],
  ])('%s carries nothing (non-public: %s)', (address, nonPublic) => {
    expect(embeddedIpv4(address)).toBeUndefined();
    expect(isNonPublicAddress(address)).toBe(nonPublic);
  });

  it.each(['8.8.8.8', 'not-an-ip', ''])('%j is no IPv6 address and carries nothing', (text) => {
    expect(embeddedIpv4(text)).toBeUndefined();
  });
});

describe('spellings', () => {
  it('a zone id is dropped before the address is read', () => {
    expect(isNonPublicAddress('::ffff:8.8.8.8%eth0')).toBe(false);
    expect(isNonPublicAddress('::ffff:127.0.0.1%eth0')).toBe(true);
    expect(isNonPublicAddress('2606:4700::1111%1')).toBe(false);
    expect(isNonPublicAddress('fe80::1%eth0')).toBe(true);
    expect(ipv6Groups('FE80::1%eth0')).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
  });

  it.each<[string, number[]]>([
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['1::', [1, 0, 0, 0, 0, 0, 0, 0]],
    ['1:2:3:4:5:6:7:8', [1, 2, 3, 4, 5, 6, 7, 8]],
    ['1:2:3:4:5:6:1.2.3.4', [1, 2, 3, 4, 5, 6, 0x102, 0x304]],
    ['::1.2.3.4', [0, 0, 0, 0, 0, 0, 0x102, 0x304]],
    ['1::8', [1, 0, 0, 0, 0, 0, 0, 8]],
  ])('%s expands to its eight groups', (address, groups) => {
    expect(ipv6Groups(address)).toEqual(groups);
  });

  it.each(['1:2:3:4:5:6:7:8z', '2606:4700:4700::1111x', '1:2:3:4:5:6:7:8:9', '0x7f.0.0.1', '127.1', '2130706433', '0177.0.0.1', '[::1]', ' 8.8.8.8'])(
    '%j is not an IP literal: never public, no groups',
    (text) => {
      expect(ipv6Groups(text)).toBeUndefined();
      expect(isNonPublicAddress(text)).toBe(true);
    },
  );
});
