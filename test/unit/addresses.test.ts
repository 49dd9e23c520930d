/** The pure address decisions behind the URL policy (src/domain/addresses.ts). */
import { addressMatches, blockedAddress, embeddedIPv4, isIpLiteral } from '../../src/domain/addresses';
import ipaddr from 'ipaddr.js';

describe('blockedAddress', () => {
  it('allows public unicast only', () => {
    for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect([ip, blockedAddress(ip)]).toEqual([ip, undefined]);
    for (const ip of ['127.0.0.1', '10.0.0.1', '100.64.0.1', '169.254.169.254', '::1', 'fc00::1', 'fe80::1', 'ff02::1'])
      expect([ip, blockedAddress(ip)]).toEqual([ip, expect.any(String)]);
  });

  it('judges an embedded IPv4 by the IPv4 inside, and says which form it was', () => {
    expect(blockedAddress('::7f00:1')).toBe('an IPv6 form of 127.0.0.1 (IPv4-compatible), a loopback address');
    expect(blockedAddress('64:ff9b::a9fe:a9fe')).toContain('169.254.169.254 (NAT64), a link-local');
    expect(blockedAddress('2002:c0a8:101::1')).toContain('192.168.1.1 (6to4), a private');
    expect(blockedAddress('2001:0:5db8:d822:0:0:3f57:fefe')).toContain('192.168.1.1 (Teredo (client))');
    expect(blockedAddress('2001:0:a00:1::')).toContain('10.0.0.1 (Teredo (server))');
  });

  it('refuses what is not an address', () => {
    expect(blockedAddress('example.com')).toBe('not an IP address');
    expect(isIpLiteral('127.1')).toBe(false); // URLs normalise short forms before they get here
  });
});

describe('embeddedIPv4', () => {
  it('finds none in an ordinary IPv6 address', () => {
    expect(embeddedIPv4(ipaddr.IPv6.parse('2606:4700:4700::1111'))).toEqual([]);
    expect(embeddedIPv4(ipaddr.IPv6.parse('::1'))).toEqual([]);
  });
});

describe('addressMatches (allowlist entries)', () => {
  it('compares addresses as addresses, and networks by prefix', () => {
    expect(addressMatches('127.0.0.1', '::ffff:127.0.0.1')).toBe(true);
    expect(addressMatches('::1', '0:0:0:0:0:0:0:1')).toBe(true);
    expect(addressMatches('10.0.0.0/8', '10.200.1.1')).toBe(true);
    expect(addressMatches('10.0.0.0/8', '11.0.0.1')).toBe(false);
    expect(addressMatches('fd00::/8', '10.0.0.1')).toBe(false);
    expect(addressMatches('localhost', '127.0.0.1')).toBe(false);
    expect(addressMatches('not/a/cidr', '127.0.0.1')).toBe(false);
  });
});
