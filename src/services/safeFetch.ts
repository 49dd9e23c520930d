/**
 * Every call Switchyard makes to a URL a tenant or an operator gave it (budget and batch
 * webhooks) goes through here, because `fetch` cannot be made safe for it: it follows redirects
 * (an allowed host's 307 sends the POST and its body on to 127.0.0.1), and it resolves the name
 * again after any check (a name that answered a public address to the check answers 127.0.0.1 to
 * the connection: DNS rebinding). So:
 *  - the name is resolved once, by the URL policy, and every address it resolved to is checked;
 *  - the connection goes to those checked addresses only (node:http with a `lookup` that answers
 *    them; Node tries them in turn, families alternating, when a connection fails), keeping the
 *    Host header and the TLS server name of the URL;
 *  - a 3xx answer is a failure, never followed;
 *  - the whole call, name lookup included, has a deadline, and at most `maxResponseBytes` of the
 *    answer are read.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction, TcpNetConnectOpts } from 'node:net';
import { isIpLiteral } from '../domain/addresses';
import type { ResolvedAddress, UrlPolicy } from './urlPolicy';

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
  /** The whole call, name lookup to last byte read (default 10 s). */
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
  /** The address the connection went to (one of those checked). */
  address: string;
}

const familyOf = (a: ResolvedAddress) => a.family ?? (a.address.includes(':') ? 6 : 4);

/** A `lookup` that answers the checked addresses whatever it is asked (both callback shapes). */
function pinnedLookup(checked: ResolvedAddress[]): LookupFunction {
  const all = checked.map((a) => ({ address: a.address, family: familyOf(a) }));
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, all);
    else callback(null, all[0]!.address, all[0]!.family);
  }) as unknown as LookupFunction;
}

/** A connection error's text (when every address failed, Node's AggregateError has none of its own). */
const reasonOf = (err: Error & { errors?: Error[] }) =>
  err.message || err.errors?.map((e) => e.message).join('; ') || String(err);

/** Calls `url` as described above; throws SafeFetchError when nothing usable came back. */
export async function safeFetch(policy: UrlPolicy, url: string, opts: SafeFetchOptions = {}): Promise<SafeResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const started = Date.now();
  // The lookup counts against the call's deadline (and against the policy's own, when shorter).
  const checked = await policy.target(url, { timeoutMs, signal: opts.signal });
  if (!checked.ok) {
    if (checked.unresolved && opts.signal?.aborted)
      throw new SafeFetchError('timeout', `call to ${new URL(url).origin} aborted`);
    throw new SafeFetchError(checked.unresolved ? 'unresolved' : 'blocked', checked.why);
  }
  const { url: u, host, addresses } = checked.target;
  const left = Math.max(0, timeoutMs - (Date.now() - started));
  const maxBytes = opts.maxResponseBytes ?? 64 * 1024;
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const transport = u.protocol === 'https:' ? https : http;
  // Every address was checked: one that refuses or does not answer the connection gives way to
  // the next (never once connected, so a request is sent at most once). Node's types for
  // http.request lack these socket options, which it passes on to net.connect.
  const eachAddress: Pick<TcpNetConnectOpts, 'autoSelectFamily' | 'autoSelectFamilyAttemptTimeout'> = {
    autoSelectFamily: true,
    autoSelectFamilyAttemptTimeout: Math.max(250, Math.min(2_000, Math.floor(left / addresses.length))),
  };

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
      left,
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
        // The checked addresses, whatever the name resolves to now; no pooled socket from another call.
        lookup: pinnedLookup(addresses),
        agent: false,
        ...eachAddress,
        // TLS checks the certificate against the URL's name (SNI takes names, not addresses).
        ...(u.protocol === 'https:' && !isIpLiteral(host) && { servername: host }),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        // Which checked address answered (read now: the socket forgets it once closed).
        const address = res.socket.remoteAddress ?? addresses[0]!.address;
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
            address,
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
    req.on('error', (err) => finish(new SafeFetchError('network', `calling ${u.origin}: ${reasonOf(err)}`)));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}
