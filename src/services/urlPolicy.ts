/**
 * Where Switchyard may send requests on a tenant's or an operator's say-so (provider base URLs,
 * budget webhooks): not to loopback, link-local or cloud-metadata addresses, unless the operator
 * lists the host in SWITCHYARD_URL_ALLOWLIST (e.g. `127.0.0.1,localhost` for a local model).
 * Checked when the URL is set through the API, and again on the resolved address before a
 * webhook is called (a name can resolve somewhere else later).
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'metadata.azure.internal']);

/** The IPv4 address inside an IPv4-mapped IPv6 one (`::ffff:127.0.0.1`, which URLs write `::ffff:7f00:1`). */
function mappedV4(ip: string): string | undefined {
  const m = /^::ffff:(.+)$/i.exec(ip);
  if (!m) return undefined;
  if (net.isIPv4(m[1]!)) return m[1];
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(m[1]!);
  if (!hex) return undefined;
  const [hi, lo] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** Why an address may not be called; undefined when it may. */
function blockedAddress(ip: string): string | undefined {
  const v4 = net.isIPv4(ip) ? ip : mappedV4(ip);
  if (v4) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    if (a === 127 || a === 0) return 'a loopback address';
    if (a === 169 && b === 254) return 'a link-local (cloud metadata) address';
    if (a === 100 && b === 100) return 'a cloud metadata address'; // Alibaba 100.100.100.200
    return undefined;
  }
  const v6 = ip.toLowerCase();
  if (v6 === '::1' || v6 === '::') return 'a loopback address';
  if (/^fe[89ab]/.test(v6)) return 'a link-local address';
  if (v6.startsWith('fd00:ec2::')) return 'a cloud metadata address';
  return undefined;
}

type Resolve = (host: string) => Promise<Array<{ address: string }>>;

const hostOf = (u: URL) =>
  u.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();

export class UrlPolicy {
  private readonly allowed: Set<string>;

  constructor(
    allowlist: string[] = [],
    /** How names resolve (tests pass their own). */
    private readonly resolve: Resolve = (host) => lookup(host, { all: true }),
  ) {
    this.allowed = new Set(allowlist.map((h) => h.trim().toLowerCase()).filter(Boolean));
  }

  static fromEnv(value: string | undefined): UrlPolicy {
    return new UrlPolicy((value ?? '').split(','));
  }

  /** Why the URL may not be set; undefined when it may (the host as written, not yet resolved). */
  check(url: string): string | undefined {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return 'not a URL';
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'only http and https URLs';
    const host = hostOf(u);
    if (this.allowed.has(host)) return undefined;
    if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is a loopback address`;
    if (METADATA_HOSTS.has(host)) return `${host} is a cloud metadata host`;
    const why = net.isIP(host) ? blockedAddress(host) : undefined;
    return why ? `${host} is ${why}` : undefined;
  }

  /** As `check`, and on every address the host resolves to now (before calling it). */
  async checkResolved(url: string): Promise<string | undefined> {
    const first = this.check(url);
    if (first) return first;
    const host = hostOf(new URL(url));
    if (this.allowed.has(host) || net.isIP(host)) return undefined;
    const addresses = await this.resolve(host).catch(() => []);
    for (const a of addresses) {
      const why = this.allowed.has(a.address) ? undefined : blockedAddress(a.address);
      if (why) return `${host} resolves to ${a.address}, ${why}`;
    }
    return undefined;
  }
}

/** Every URL a configuration makes Switchyard call, with its path (for a 400 naming it). */
export function urlsOf(config: {
  catalog: { providers: Array<{ baseUrl?: string }> };
  tenants: Record<string, { budget?: { webhookUrl?: string } }>;
}): Array<{ path: string; url: string }> {
  return [
    ...config.catalog.providers.flatMap((p, i) =>
      p.baseUrl ? [{ path: `catalog.providers.${i}.baseUrl`, url: p.baseUrl }] : [],
    ),
    ...Object.entries(config.tenants).flatMap(([id, t]) =>
      t.budget?.webhookUrl ? [{ path: `tenants.${id}.budget.webhookUrl`, url: t.budget.webhookUrl }] : [],
    ),
  ];
}
