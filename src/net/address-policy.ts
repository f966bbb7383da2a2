import { BlockList, isIP } from 'node:net';

/**
 * Addresses an attacker-chosen URL must never reach: loopback, private, link-local (cloud
 * metadata lives at 169.254.169.254), carrier-grade NAT, multicast, reserved and documentation
 * ranges. IPv6 forms that carry an IPv4 address are unwrapped first (or refused whole when the
 * IPv4 part cannot be located), so they cannot smuggle a private v4 address past the v4 table.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  // RFC 8215 local-use NAT64: the operator picks where the v4 address sits, so it cannot be unwrapped.
  ['64:ff9b:1::', 48],
  // Teredo: the client's v4 address is obfuscated inside; a tunnel is never a registry or a PDS.
  ['2001::', 32],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 literal (zone id dropped), or undefined if it is not one. */
export function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (isIP(text) !== 6) return undefined;
  // A trailing dotted quad stands for the last two groups.
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(2).map(Number) as [number, number, number, number];
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

function v4From(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * The IPv4 address an IPv6 address carries, for the forms whose position is fixed:
 *   ::a.b.c.d        IPv4-compatible (::/96, deprecated; also covers :: and ::1)
 *   ::ffff:a.b.c.d   IPv4-mapped (::ffff:0:0/96)
 *   ::ffff:0:a.b.c.d IPv4-translated (::ffff:0:0:0/96, RFC 2765)
 *   64:ff9b::a.b.c.d well-known NAT64 prefix (64:ff9b::/96, RFC 6052)
 *   2002:AABB:CCDD:: 6to4 (2002::/16: the v4 address is bits 16-47)
 */
export function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (!g) return undefined;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 6)) return v4From(g[6]!, g[7]!);
  if (zero(0, 5) && g[5] === 0xffff) return v4From(g[6]!, g[7]!);
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return v4From(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4From(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4From(g[1]!, g[2]!);
  return undefined;
}

/** True when the IP literal is not a public unicast address. Non-IP input counts as not public. */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  const groups = ipv6Groups(address);
  if (groups) {
    const v4 = embeddedIpv4(address);
    if (v4 !== undefined && blocked.check(v4, 'ipv4')) return true;
    const canonical = groups.map((x) => x.toString(16)).join(':');
    return blocked.check(canonical, 'ipv6');
  }
  return true;
}
