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
 *
 * Resolving has a deadline (3 s): a nameserver that never answers costs a submission or a webhook
 * that long, and holds no threadpool thread (see systemResolver).
 */
import { lookup, Resolver } from 'node:dns/promises';
import { addressMatches, blockedAddress, isIpLiteral } from '../domain/addresses';

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'metadata.azure.internal']);

/** How long a name may take to resolve before it is refused as unresolved (a webhook retries later). */
export const RESOLVE_TIMEOUT_MS = 3_000;

export interface ResolvedAddress {
  address: string;
  /** 4 or 6 (derived from the address when a resolver leaves it out). */
  family?: number;
}
/**
 * How names resolve: every address (tests pass their own). The policy bounds the wait and aborts
 * `signal` when it gives up, so a resolver that never answers only costs the deadline.
 */
export type Resolve = (host: string, signal?: AbortSignal) => Promise<ResolvedAddress[]>;

/**
 * The system's `dns.lookup` (getaddrinfo) holds one of libuv's four threadpool threads until it
 * answers, up to the resolver's own timeout and retries, and cannot be cancelled: the fallback
 * below runs at most this many at once, so zlib, fs and crypto always keep threads.
 */
const MAX_LOOKUPS = 2;
let lookups = 0;
const waitingLookups: Array<() => void> = [];

async function boundedLookup(host: string, signal?: AbortSignal): Promise<ResolvedAddress[]> {
  while (lookups >= MAX_LOOKUPS) {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener('abort', gaveUp);
        resolve();
      };
      const gaveUp = () => {
        const i = waitingLookups.indexOf(turn);
        if (i >= 0) waitingLookups.splice(i, 1);
        reject(signal!.reason as Error);
      };
      waitingLookups.push(turn);
      signal?.addEventListener('abort', gaveUp, { once: true });
    });
  }
  if (signal?.aborted) {
    // Woken, but given up meanwhile: the free slot goes to the next in line.
    waitingLookups.shift()?.();
    throw signal.reason as Error;
  }
  lookups++;
  try {
    return await lookup(host, { all: true, verbatim: true });
  } finally {
    lookups--;
    waitingLookups.shift()?.();
  }
}

/**
 * The default resolver: DNS queries through c-ares (`dns.Resolver`: A and AAAA, one try, a
 * timeout, cancelled when the policy gives up), which uses no threadpool thread. Names DNS does
 * not answer (`localhost`, /etc/hosts entries, single-label names that need the search domains)
 * fall back to the system's lookup, bounded as above; a nameserver that does not answer at all is
 * not asked again through getaddrinfo (it would hold a thread for its whole timeout).
 * `servers` replaces the system's nameservers (tests point it at a silent one on 127.0.0.1).
 */
export function systemResolver(opts: { servers?: string[]; timeoutMs?: number } = {}): Resolve {
  return async (host, signal) => {
    signal?.throwIfAborted();
    // RFC 6761: never asked of DNS; /etc/hosts answers it (the lookup reads the file first).
    if (host === 'localhost' || host.endsWith('.localhost')) return boundedLookup(host, signal);
    const resolver = new Resolver({ timeout: opts.timeoutMs ?? RESOLVE_TIMEOUT_MS, tries: 1 });
    if (opts.servers) resolver.setServers(opts.servers);
    const cancel = () => resolver.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
      const found = [
        ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
        ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
      ];
      if (found.length) return found;
      signal?.throwIfAborted();
      const failures = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason as NodeJS.ErrnoException] : []));
      const silent = failures.find((e) => e.code === 'ETIMEOUT' || e.code === 'ECANCELLED');
      if (silent) throw silent;
      return await boundedLookup(host, signal);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  };
}

const systemResolve = systemResolver();

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
  /** How long a name may take to resolve (RESOLVE_TIMEOUT_MS unless given). */
  readonly resolveTimeoutMs: number;

  constructor(
    allowlist: string[] = [],
    /** How names resolve (tests pass their own: a test never sends a lookup out). */
    readonly resolve: Resolve = systemResolve,
    opts: { resolveTimeoutMs?: number } = {},
  ) {
    this.resolveTimeoutMs = opts.resolveTimeoutMs ?? RESOLVE_TIMEOUT_MS;
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
    if (this.names.has(host)) return undefined;
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
   * is trusted wherever it resolves (the operator listed it). The lookup has a deadline
   * (`resolveTimeoutMs`, or `timeoutMs` when shorter: a caller's own deadline counts it) and ends
   * early when `signal` aborts; a name not resolved by then is refused as unresolved.
   */
  async target(url: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Checked> {
    const first = this.check(url);
    if (first) return { ok: false, why: first };
    const u = new URL(url);
    const host = hostOf(u);
    if (isIpLiteral(host)) return { ok: true, target: { url: u, host, addresses: [literal(host)] } };
    let addresses: ResolvedAddress[];
    try {
      addresses = await this.resolveWithin(
        host,
        Math.min(this.resolveTimeoutMs, opts.timeoutMs ?? Infinity),
        opts.signal,
      );
    } catch (err) {
      const why = `${host} does not resolve (${(err as { code?: string }).code ?? String(err)})`;
      return { ok: false, why, unresolved: true };
    }
    if (!addresses.length) return { ok: false, why: `${host} does not resolve (no addresses)`, unresolved: true };
    if (!this.names.has(host))
      for (const a of addresses) {
        if (this.allowedAddress(a.address)) continue;
        const why = blockedAddress(a.address);
        if (why) return { ok: false, why: `${host} resolves to ${a.address}, ${why}` };
      }
    return { ok: true, target: { url: u, host, addresses } };
  }

  /** `resolve`, given up after `ms` or when `outer` aborts (the resolver is told, through its signal). */
  private async resolveWithin(host: string, ms: number, outer?: AbortSignal): Promise<ResolvedAddress[]> {
    const ac = new AbortController();
    // The reason's code is what the refusal shows: "does not resolve (no answer within 3000 ms)".
    const giveUp = (why: string) => ac.abort(Object.assign(new Error(why), { code: why }));
    const timer = setTimeout(() => giveUp(`no answer within ${ms} ms`), ms);
    const onAbort = () => giveUp('aborted');
    outer?.addEventListener('abort', onAbort, { once: true });
    if (outer?.aborted) onAbort();
    try {
      const gaveUp = new Promise<never>((_, reject) => {
        if (ac.signal.aborted) reject(ac.signal.reason as Error);
        ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true });
      });
      return await Promise.race([this.resolve(host, ac.signal), gaveUp]);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
      // Ends whatever the resolver still has in flight (no-op when it answered).
      if (!ac.signal.aborted) ac.abort();
    }
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
  alerts?: { webhooks: Array<{ url: string }> };
}): Array<{ path: string; url: string }> {
  return [
    ...config.catalog.providers.flatMap((p, i) =>
      p.baseUrl ? [{ path: `catalog.providers.${i}.baseUrl`, url: p.baseUrl }] : [],
    ),
    ...Object.entries(config.tenants).flatMap(([id, t]) =>
      t.budget?.webhookUrl ? [{ path: `tenants.${id}.budget.webhookUrl`, url: t.budget.webhookUrl }] : [],
    ),
    ...(config.alerts?.webhooks ?? []).map((w, i) => ({ path: `alerts.webhooks.${i}.url`, url: w.url })),
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
