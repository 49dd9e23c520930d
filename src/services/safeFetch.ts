/**
 * Every call Switchyard makes to a URL a tenant or an operator gave it (budget and batch
 * webhooks) goes through here, because `fetch` cannot be made safe for it: it follows redirects
 * (an allowed host's 307 sends the POST and its body on to 127.0.0.1), and it resolves the name
 * again after any check (a name that answered a public address to the check answers 127.0.0.1 to
 * the connection: DNS rebinding). So:
 *  - the name is resolved once, by the URL policy, and every address it resolved to is checked;
 *  - the connection goes to that checked address only (node:http with a `lookup` that answers
 *    it), keeping the Host header and the TLS server name of the URL;
 *  - a 3xx answer is a failure, never followed;
 *  - the whole call has a deadline, and at most `maxResponseBytes` of the answer are read.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIpLiteral } from '../domain/addresses';
import { UrlPolicy, type ResolvedAddress } from './urlPolicy';

export type SafeFetchFailure =
  /** The policy refused the URL or an address it resolves to: nothing was sent. */
  | 'blocked'
  /** The name did not resolve: nothing was sent (a later attempt may resolve it). */
  | 'unresolved'
  /** The answer was a redirect, which is not followed. */
  | 'redirect'
  | 'timeout'
  | 'network';

export class SafeFetchError extends Error {
  override name = 'SafeFetchError';
  constructor(
    readonly kind: SafeFetchFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface SafeFetchOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The whole call, connection to last byte read (default 10 s). */
  timeoutMs?: number;
  /** How much of the answer is read; the rest is dropped with the connection (default 64 KiB). */
  maxResponseBytes?: number;
  signal?: AbortSignal;
}

export interface SafeResponse {
  status: number;
  ok: boolean;
  headers: http.IncomingHttpHeaders;
  /** The answer's first `maxResponseBytes` bytes. */
  body: string;
  truncated: boolean;
  /** The address the connection went to (the one checked). */
  address: string;
}

const familyOf = (a: ResolvedAddress) => a.family ?? (a.address.includes(':') ? 6 : 4);

/** A `lookup` that answers the pinned address whatever it is asked (both callback shapes). */
function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  const family = familyOf(pinned);
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: pinned.address, family }]);
    else callback(null, pinned.address, family);
  }) as unknown as LookupFunction;
}

/** Calls `url` as described above; throws SafeFetchError when nothing usable came back. */
export async function safeFetch(policy: UrlPolicy, url: string, opts: SafeFetchOptions = {}): Promise<SafeResponse> {
  const checked = await policy.target(url);
  if (!checked.ok) throw new SafeFetchError(checked.unresolved ? 'unresolved' : 'blocked', checked.why);
  const { url: u, host, addresses } = checked.target;
  // Every address was checked; the first is the one called, and the only one.
  const pinned = addresses[0]!;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxBytes = opts.maxResponseBytes ?? 64 * 1024;
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const transport = u.protocol === 'https:' ? https : http;

  return new Promise<SafeResponse>((resolve, reject) => {
    let settled = false;
    const finish = (err: SafeFetchError | undefined, res?: SafeResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(res!);
    };
    const onAbort = () => finish(new SafeFetchError('timeout', `call to ${u.origin} aborted`));
    const timer = setTimeout(
      () => finish(new SafeFetchError('timeout', `no complete answer from ${u.origin} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const req = transport.request(
      {
        protocol: u.protocol,
        hostname: host,
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        method: opts.method ?? 'POST',
        headers: {
          ...opts.headers,
          ...(body && { 'content-length': String(body.length) }),
        },
        ...(u.username && { auth: `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` }),
        // The checked address, whatever the name resolves to now; no pooled socket from another call.
        lookup: pinnedLookup(pinned),
        agent: false,
        // TLS checks the certificate against the URL's name (SNI takes names, not addresses).
        ...(u.protocol === 'https:' && !isIpLiteral(host) && { servername: host }),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          res.resume();
          const to = res.headers.location ? ` to ${res.headers.location}` : '';
          return finish(
            new SafeFetchError(
              'redirect',
              `${u.origin} answered HTTP ${status}${to}; redirects are not followed`,
              status,
            ),
          );
        }
        const chunks: Buffer[] = [];
        let size = 0;
        const done = (truncated: boolean) =>
          finish(undefined, {
            status,
            ok: status >= 200 && status < 300,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            truncated,
            address: pinned.address,
          });
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = maxBytes - size;
          chunks.push(chunk.subarray(0, Math.max(0, room)));
          size += chunk.length;
          if (size > maxBytes) {
            // Enough: the rest of the answer is not read (the connection is dropped).
            done(true);
            res.destroy();
          }
        });
        res.on('end', () => done(false));
        res.on('error', (err) => finish(new SafeFetchError('network', `reading ${u.origin}'s answer: ${err.message}`)));
      },
    );
    req.on('error', (err) => finish(new SafeFetchError('network', `calling ${u.origin}: ${err.message}`)));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}

/** For processes built without a policy (tests): any address, still pinned and never redirected. */
export const ANYWHERE = UrlPolicy.anywhere();
