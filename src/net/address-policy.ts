import { BlockList, isIP } from 'node:net';

/**
 * Addresses an attacker-chosen URL must never reach: loopback, private, link-local (cloud
 * metadata lives at 169.254.169.254), carrier-grade NAT, multicast, reserved and documentation
 * ranges. IPv6 forms that carry an IPv4 address are unwrapped first (or refused whole when the
 * IPv4 part cannot be located), so they cannot smuggle a private v4 address past the v4 table.
 * Any other IPv6 address is public only inside global unicast (2000::/3) and outside the
 * special-purpose blocks listed for it.
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
// Outside 2000::/3 nothing is public, which covers ::/128, ::1, 100::/64 (discard), 64:ff9b:1::/48
// (local-use NAT64: the operator picks where the v4 address sits, so it cannot be unwrapped), SRv6
// 5f00::/16, fc00::/7 (unique local), fe80::/10 (link-local), fec0::/10 (site-local) and ff00::/8.
for (const [net, prefix] of [
  // IETF protocol assignments: Teredo 2001::/32 (the client's v4 address is obfuscated inside; a
  // tunnel is never a registry or a PDS), benchmarking 2001:2::/48, ORCHID; none is a server of ours.
  ['2001::', 23],
  ['2001:db8::', 32],
  // Documentation (RFC 9637).
  ['3fff::', 20],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 literal (zone id dropped), or undefined if it is not one. */
export function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase().split('%')[0]!;
  if (isIP(text) !== 6) return undefined;
  // A trailing dotted quad stands for the last two groups (isIP allows a dot nowhere else).
  if (text.includes('.')) {
    const quadAt = text.lastIndexOf(':') + 1;
    const [a, b, c, d] = text.slice(quadAt).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, quadAt)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  // isIP has checked the syntax: at most one "::", and it stands for as many zero groups as are missing.
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
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
  if (isIP(address) === 4) return blocked.check(address, 'ipv4');
  const groups = ipv6Groups(address);
  if (!groups) return true;
  // An address that carries an IPv4 address is exactly as public as the address it carries.
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined) return blocked.check(v4, 'ipv4');
  if ((groups[0]! & 0xe000) !== 0x2000) return true;
  return blocked.check(groups.map((x) => x.toString(16)).join(':'), 'ipv6');
}
