/**
 * Where Switchyard may send requests on a tenant's or an operator's say-so (provider base URLs,
 * budget and batch webhooks): public unicast addresses only (src/domain/addresses.ts says which),
 * unless the operator lists the host, the address or its network in SWITCHYARD_URL_ALLOWLIST
 * (e.g. `127.0.0.1,localhost` for a local model, `10.0.0.0/8` for a private network's).
 *
 * A URL set through the API is checked as written and on every address its name resolves to; a
 * name that does not resolve is refused (it could resolve anywhere later). A webhook is checked
 * again when called, and called on the very address checked (src/services/safeFetch.ts), so a
 * name that resolves elsewhere by then (DNS rebinding) changes nothing.
 */
import { lookup } from 'node:dns/promises';
import { addressMatches, blockedAddress, isIpLiteral } from '../domain/addresses';

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'metadata.azure.internal']);

export interface ResolvedAddress {
  address: string;
  /** 4 or 6 (derived from the address when a resolver leaves it out). */
  family?: number;
}
/** How names resolve: every address, as `dns.lookup(host, { all: true })` answers (tests pass their own). */
export type Resolve = (host: string) => Promise<ResolvedAddress[]>;

const systemResolve: Resolve = (host) => lookup(host, { all: true, verbatim: true });

/** A URL's host as it is compared: brackets and a trailing dot removed, lower case. */
export const hostOf = (u: URL) =>
  u.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();

/** Where a checked URL may be called: the addresses its host resolved to, each one checked. */
export interface CheckedTarget {
  url: URL;
  host: string;
  addresses: ResolvedAddress[];
}

/** A refusal says whether the name failed to resolve (a later attempt may succeed) or was refused. */
export type Checked = { ok: true; target: CheckedTarget } | { ok: false; why: string; unresolved?: boolean };

export class UrlPolicy {
  private readonly names: Set<string>;
  private readonly addresses: string[];
  /** Checks nothing (see `anywhere`). */
  private everywhere = false;

  constructor(
    allowlist: string[] = [],
    /** How names resolve (tests pass their own: a test never sends a lookup out). */
    readonly resolve: Resolve = systemResolve,
  ) {
    const entries = allowlist
      .map((h) =>
        h
          .trim()
          .toLowerCase()
          .replace(/^\[|\]$/g, ''),
      )
      .filter(Boolean);
    // Addresses and networks are compared as addresses (`::1` is `0:0::1`); the rest are names.
    this.addresses = entries.filter((e) => isIpLiteral(e) || e.includes('/'));
    this.names = new Set(entries.filter((e) => !this.addresses.includes(e)).map((e) => e.replace(/\.$/, '')));
  }

  static fromEnv(value: string | undefined, resolve?: Resolve): UrlPolicy {
    return new UrlPolicy((value ?? '').split(','), resolve);
  }

  /** Every http(s) URL allowed: for processes built without a policy (tests); `npm start` always has one. */
  static anywhere(resolve?: Resolve): UrlPolicy {
    const p = new UrlPolicy([], resolve);
    p.everywhere = true;
    return p;
  }

  private allowedAddress(ip: string): boolean {
    return this.addresses.some((e) => addressMatches(e, ip));
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
    if (this.everywhere || this.names.has(host)) return undefined;
    if (isIpLiteral(host)) {
      if (this.allowedAddress(host)) return undefined;
      const why = blockedAddress(host);
      return why ? `${host} is ${why}` : undefined;
    }
    if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is a loopback address`;
    if (METADATA_HOSTS.has(host)) return `${host} is a cloud metadata host`;
    return undefined;
  }

  /**
   * As `check`, then resolves the host once and checks every address it resolves to: the
   * addresses to call, or why not. A name that does not resolve is refused. An allowlisted name
   * is trusted wherever it resolves (the operator listed it).
   */
  async target(url: string): Promise<Checked> {
    const first = this.check(url);
    if (first) return { ok: false, why: first };
    const u = new URL(url);
    const host = hostOf(u);
    if (isIpLiteral(host)) return { ok: true, target: { url: u, host, addresses: [literal(host)] } };
    let addresses: ResolvedAddress[];
    try {
      addresses = await this.resolve(host);
    } catch (err) {
      const why = `${host} does not resolve (${(err as { code?: string }).code ?? String(err)})`;
      return { ok: false, why, unresolved: true };
    }
    if (!addresses.length) return { ok: false, why: `${host} does not resolve (no addresses)`, unresolved: true };
    if (!this.everywhere && !this.names.has(host))
      for (const a of addresses) {
        if (this.allowedAddress(a.address)) continue;
        const why = blockedAddress(a.address);
        if (why) return { ok: false, why: `${host} resolves to ${a.address}, ${why}` };
      }
    return { ok: true, target: { url: u, host, addresses } };
  }

  /**
   * Why the URL may not be set or called now (as written or as it resolves); undefined when it
   * may. An allowlisted name is not looked up: the operator vouches for it.
   */
  async checkResolved(url: string): Promise<string | undefined> {
    const first = this.check(url);
    if (first || this.names.has(hostOf(new URL(url)))) return first;
    const t = await this.target(url);
    return t.ok ? undefined : t.why;
  }
}

const literal = (host: string): ResolvedAddress => ({ address: host, family: host.includes(':') ? 6 : 4 });

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

/**
 * What a configuration change may not do: point at a URL the policy refuses (only URLs the change
 * introduces: one already stored, e.g. set by the operator's own file, does not block an
 * unrelated edit). Names are resolved, so this is asynchronous.
 */
export async function refusedUrls(
  policy: UrlPolicy,
  stored: Parameters<typeof urlsOf>[0] | undefined,
  next: Parameters<typeof urlsOf>[0],
): Promise<Array<{ path: string; message: string }>> {
  const before = new Set(stored ? urlsOf(stored).map((u) => u.url) : []);
  const fresh = urlsOf(next).filter((u) => !before.has(u.url));
  const checked = await Promise.all(fresh.map(async (u) => ({ path: u.path, why: await policy.checkResolved(u.url) })));
  return checked.flatMap((c) =>
    c.why ? [{ path: c.path, message: `${c.why}; not allowed (SWITCHYARD_URL_ALLOWLIST)` }] : [],
  );
}
