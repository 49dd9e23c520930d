/**
 * Which IP addresses Switchyard may call on a tenant's or an operator's say-so: public unicast
 * only. Everything else (loopback, unspecified, link-local, private, CGNAT, ULA, multicast,
 * reserved, broadcast, cloud metadata) is refused, and so is every IPv6 form that carries an IPv4
 * address inside (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64, 6to4, Teredo), judged by
 * the IPv4 inside: `[::ffff:7f00:1]`, `[::7f00:1]`, `[64:ff9b::7f00:1]` and `[2002:7f00:1::]` all
 * reach 127.0.0.1 on a host that routes them. Pure: the URL policy resolves names and applies the
 * operator's allowlist around it.
 */
import ipaddr from 'ipaddr.js';

/** What the ranges ipaddr.js names are, in a refusal a person reads. */
const V4_RANGES: Record<string, string> = {
  unspecified: 'an unspecified (0.0.0.0/8) address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local (cloud metadata) address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT (100.64.0.0/10) address',
  private: 'a private (RFC 1918) address',
  reserved: 'a reserved address',
  as112: 'a reserved (AS112) address',
  amt: 'a reserved (AMT) address',
};
const V6_RANGES: Record<string, string> = {
  unspecified: 'an unspecified address',
  linkLocal: 'a link-local address',
  multicast: 'a multicast address',
  loopback: 'a loopback address',
  uniqueLocal: 'a unique local (fc00::/7) address',
  deprecatedSiteLocal: 'a site-local address',
  discard: 'a discard-only address',
  rfc6052: 'a NAT64 address',
  benchmarking: 'a benchmarking address',
  amt: 'a reserved (AMT) address',
  as112v6: 'a reserved (AS112) address',
  deprecatedOrchid: 'a reserved (ORCHID) address',
  orchid2: 'a reserved (ORCHID) address',
  droneRemoteIdProtocolEntityTags: 'a reserved address',
  segmentRouting: 'a segment-routing address',
  reserved: 'a reserved address',
};

/** Whether `host` is an IP literal (a URL's hostname, brackets removed, or a resolved address). */
export function isIpLiteral(host: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(host) || ipaddr.IPv6.isValid(host);
}

const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);

/**
 * The IPv4 addresses an IPv6 address carries, by form; none when it carries none. Teredo carries
 * two (its server, and its client obfuscated by XOR); both are judged.
 */
export function embeddedIPv4(addr: ipaddr.IPv6): Array<{ form: string; v4: ipaddr.IPv4 }> {
  const p = addr.parts;
  const range = addr.range();
  if (range === 'ipv4Mapped') return [{ form: 'IPv4-mapped', v4: v4(p[6]!, p[7]!) }];
  if (range === 'rfc6145') return [{ form: 'IPv4-translated', v4: v4(p[6]!, p[7]!) }];
  // 64:ff9b::/96 carries the IPv4 in its last 32 bits (64:ff9b:1::/48, local-use NAT64, is refused whole).
  if (addr.match(ipaddr.IPv6.parse('64:ff9b::'), 96)) return [{ form: 'NAT64', v4: v4(p[6]!, p[7]!) }];
  if (range === '6to4') return [{ form: '6to4', v4: v4(p[1]!, p[2]!) }];
  if (range === 'teredo')
    return [
      { form: 'Teredo (server)', v4: v4(p[2]!, p[3]!) },
      { form: 'Teredo (client)', v4: v4(p[6]! ^ 0xffff, p[7]! ^ 0xffff) },
    ];
  // IPv4-compatible `::a.b.c.d` (deprecated, still routed by some stacks): the first 96 bits zero.
  if (p.slice(0, 6).every((x) => x === 0) && range !== 'unspecified' && range !== 'loopback')
    return [{ form: 'IPv4-compatible', v4: v4(p[6]!, p[7]!) }];
  return [];
}

/** The IPv4 an address means when it is an IPv4-mapped IPv6 one (how dual-stack lookups answer). */
export function normalizeAddress(ip: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const a = ipaddr.parse(ip);
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
}

function blockedV4(a: ipaddr.IPv4): string | undefined {
  const range = a.range();
  if (range === 'unicast') return undefined;
  return V4_RANGES[range] ?? `a non-public (${range}) address`;
}

/**
 * Why Switchyard may not call this IP address; undefined when it may (public unicast).
 * Anything that does not parse as an address is refused.
 */
export function blockedAddress(ip: string): string | undefined {
  if (!isIpLiteral(ip)) return 'not an IP address';
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv4') return blockedV4(a as ipaddr.IPv4);
  const v6 = a as ipaddr.IPv6;
  const inside = embeddedIPv4(v6);
  for (const e of inside) {
    const why = blockedV4(e.v4);
    if (why) return `an IPv6 form of ${e.v4.toString()} (${e.form}), ${why}`;
  }
  if (inside.length) return undefined;
  const range = v6.range();
  if (range === 'unicast') return undefined;
  return V6_RANGES[range] ?? `a non-public (${range}) address`;
}

/**
 * An allowlist entry matches an address: the same address (an IPv4-mapped one equals its IPv4),
 * or one inside a CIDR entry (`10.1.0.0/16`).
 */
export function addressMatches(entry: string, ip: string): boolean {
  if (!isIpLiteral(ip)) return false;
  const addr = normalizeAddress(ip);
  try {
    if (entry.includes('/')) {
      const [net, bits] = ipaddr.parseCIDR(entry);
      return net.kind() === addr.kind() && addr.match(net, bits);
    }
    if (!isIpLiteral(entry)) return false;
    const e = normalizeAddress(entry);
    return e.kind() === addr.kind() && e.toString() === addr.toString();
  } catch {
    return false;
  }
}
