/**
 * Where Switchyard may send traffic (issue 28, finding 9, and its notes on base URLs and
 * image_url). The address policy is checked as decisions only: no call goes to any address it
 * judges, and names resolve through stubs, never real DNS. Every call these tests make goes to a
 * listener on 127.0.0.0/8: a webhook answering 307 to a second listener (never reached), a name
 * that resolves to 127.0.0.1 and then to 127.0.0.2 (the connection stays on the first), and the
 * API refusing a base URL change without a credential and a `file:` image. Name lookups have a
 * deadline: a resolver that never answers (a stub, or c-ares asking a silent UDP nameserver on
 * 127.0.0.1) costs a check or a call that long, and no threadpool thread.
 */
import { pbkdf2 } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { createBudgetWindowActivities } from '../../activities/budgetWindow';
import type { ActivityDeps } from '../../activities/deps';
import { ChatCompletionRequestSchema } from '../../src/domain/chat';
import { safeFetch, SafeFetchError } from '../../src/services/safeFetch';
import { systemResolver, UrlPolicy, type Resolve } from '../../src/services/urlPolicy';
import { until } from '../support/chaos';
import { dbKinds } from '../support/db';
import { fakeCatalog, fakeModel, useTestStack } from '../support/stack';

jest.setTimeout(180_000);

interface Hit {
  method: string;
  url: string;
  host: string | undefined;
  body: string;
}

/** An HTTP listener on a loopback address that records every request and answers with `answer`. */
async function listener(
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, r) => void r.writeHead(204).end(),
  host = '127.0.0.1',
  port = 0,
) {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ method: req.method!, url: req.url!, host: req.headers.host, body });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    hits,
    port: bound,
    url: (path = '/hook') => `http://${host}:${bound}${path}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A resolver from a fixed table; any other name fails as getaddrinfo does (ENOTFOUND). */
const table =
  (names: Record<string, string[]>): Resolve =>
  async (host) => {
    const found = names[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

/** A resolver that never answers (a nameserver that drops every query); `asked` records its calls. */
function silentResolver() {
  const asked: Array<{ host: string; signal?: AbortSignal }> = [];
  const resolve: Resolve = (host, signal) => {
    asked.push({ host, signal });
    return new Promise(() => undefined);
  };
  return { resolve, asked };
}

/**
 * A DNS server on 127.0.0.1 (UDP) that records each query and answers none, or answers every one
 * NXDOMAIN (a nameserver that does not know the name).
 */
async function nameserver(mode: 'silent' | 'nxdomain') {
  const socket = dgram.createSocket('udp4');
  const queries: Buffer[] = [];
  socket.on('message', (msg, from) => {
    queries.push(msg);
    if (mode === 'silent' || msg.length < 12) return;
    const answer = Buffer.from(msg);
    answer.writeUInt16BE(0x8183, 2); // a response, recursion available, NXDOMAIN; the question echoed
    socket.send(answer, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    /** Whether a query for `host` arrived (its labels as DNS writes them, in any case). */
    asked: (host: string) => {
      const labels = host
        .toLowerCase()
        .split('.')
        .map((l) => `${String.fromCharCode(l.length)}${l}`)
        .join('');
      return queries.some((q) => q.toString('latin1').toLowerCase().includes(labels));
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** Each form an attacker has used to reach a non-public address, and what the refusal names. */
const BLOCKED: Array<[string, string]> = [
  ['127.0.0.1', 'loopback'],
  ['2130706433', 'loopback'], // 127.0.0.1 as one number (URLs normalise it)
  ['0x7f.1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0.0.0.0', 'unspecified'],
  ['[::]', 'unspecified'],
  ['169.254.169.254', 'link-local'],
  ['[fe80::1]', 'link-local'],
  ['10.0.0.1', 'private'],
  ['172.16.5.4', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'carrier-grade NAT'],
  ['100.100.100.200', 'carrier-grade NAT'], // Alibaba's metadata service
  ['[fc00::1]', 'unique local'],
  ['[fd00:ec2::254]', 'unique local'], // AWS's IPv6 metadata service
  ['224.0.0.1', 'multicast'],
  ['[ff02::1]', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.0.192', 'reserved'], // Oracle Cloud's metadata service
  ['[::ffff:127.0.0.1]', 'IPv4-mapped'],
  ['[::ffff:a9fe:a9fe]', 'IPv4-mapped'], // 169.254.169.254
  ['[::ffff:0:7f00:1]', 'IPv4-translated'],
  ['[::7f00:1]', 'IPv4-compatible'],
  ['[::a00:1]', 'IPv4-compatible'], // 10.0.0.1
  ['[64:ff9b::7f00:1]', 'NAT64'],
  ['[64:ff9b::a9fe:a9fe]', 'NAT64'],
  ['[64:ff9b:1::1]', 'NAT64'], // local-use NAT64, refused whole
  ['[2002:7f00:1::]', '6to4'],
  ['[2002:a00:1::1]', '6to4'], // 10.0.0.1
  ['[2001:0:4136:e378:8000:63bf:80ff:fffe]', 'Teredo'], // client 127.0.0.1
  ['localhost', 'loopback'],
  ['api.localhost', 'loopback'],
  ['metadata.google.internal', 'metadata'],
];

describe('the address policy (decisions only: nothing is called)', () => {
  const policy = new UrlPolicy([], table({}));

  it.each(BLOCKED)('refuses %s as written (%s)', (host, why) => {
    expect(policy.check(`http://${host}/hook`)).toContain(why);
  });

  it.each(BLOCKED.filter(([h]) => !/[a-z]{3}/.test(h) || h.startsWith('[')))(
    'refuses a name that resolves to %s (%s)',
    async (host, why) => {
      const address = new URL(`http://${host}/`).hostname.replace(/^\[|\]$/g, '');
      const resolving = new UrlPolicy([], table({ 'hooks.example.com': ['93.184.216.34', address] }));
      expect(resolving.check('https://hooks.example.com/x')).toBeUndefined();
      // One bad address among good ones is enough: the connection could go to any of them.
      expect(await resolving.checkResolved('https://hooks.example.com/x')).toContain(why);
    },
  );

  it('allows public addresses, and embedded forms whose IPv4 is public (as a decision)', async () => {
    for (const host of [
      '93.184.216.34',
      '[2606:2800:220:1:248:1893:25c8:1946]',
      '[::ffff:93.184.216.34]',
      '[64:ff9b::5db8:d822]',
      '[2002:5db8:d822::1]',
    ])
      expect([host, policy.check(`https://${host}/x`)]).toEqual([host, undefined]);
    const named = new UrlPolicy([], table({ 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'] }));
    const t = await named.target('https://hooks.example.com/x');
    expect(t).toMatchObject({ ok: true, target: { host: 'hooks.example.com' } });
  });

  it('refuses a name whose lookup fails, and other schemes', async () => {
    expect(policy.check('https://hooks.invalid/x')).toBeUndefined(); // as written: a name
    const t = await policy.target('https://hooks.invalid/x');
    expect(t).toMatchObject({ ok: false, unresolved: true });
    expect(await policy.checkResolved('https://hooks.invalid/x')).toContain('does not resolve');
    const empty = new UrlPolicy([], async () => []);
    expect(await empty.checkResolved('https://hooks.example.com/x')).toContain('does not resolve');
    for (const url of ['file:///etc/passwd', 'gopher://127.0.0.1:70/', 'ftp://example.com/x', 'not a url'])
      expect(policy.check(url)).toBeDefined();
  });

  it('a name whose resolver never answers is refused within the deadline (3 s by default), many at once', async () => {
    const silent = silentResolver();
    const policy = new UrlPolicy(['127.0.0.1', 'models.corp'], silent.resolve);
    const started = performance.now();
    const refusals = await Promise.all(
      Array.from({ length: 8 }, (_, i) => policy.checkResolved(`https://hooks-${i}.example.com/x`)),
    );
    const elapsed = performance.now() - started;
    for (const why of refusals) expect(why).toContain('does not resolve (no answer within 3000 ms)');
    expect(elapsed).toBeLessThan(8_000);
    // The resolver was told to give up (the system resolver cancels its queries).
    expect(silent.asked).toHaveLength(8);
    expect(silent.asked.every((a) => a.signal?.aborted)).toBe(true);
    // As a target (a webhook about to be called): unresolved, which a webhook retries later.
    const quick = new UrlPolicy([], silent.resolve, { resolveTimeoutMs: 200 });
    expect(await quick.target('https://hooks.example.com/x')).toMatchObject({ ok: false, unresolved: true });
    // Allowlisted names and address literals do not wait on the resolver.
    expect(await policy.checkResolved('http://models.corp/v1')).toBeUndefined();
    expect(await policy.target('http://127.0.0.1:9/x')).toMatchObject({ ok: true });
    expect(silent.asked).toHaveLength(9);
  });

  it('the system resolver asks DNS off the threadpool with a deadline, and falls back to /etc/hosts', async () => {
    const silent = await nameserver('silent');
    const unknown = await nameserver('nxdomain');
    try {
      const policy = new UrlPolicy([], systemResolver({ servers: [silent.server] }), { resolveTimeoutMs: 500 });
      // Eight lookups against a nameserver that never answers, and work that needs the threadpool.
      let poolDone = 0;
      const pool = new Promise<void>((resolve, reject) =>
        pbkdf2('x', 'y', 1, 32, 'sha256', (err) => (err ? reject(err) : resolve(void (poolDone = performance.now())))),
      );
      const refusals = await Promise.all(
        Array.from({ length: 8 }, (_, i) => policy.checkResolved(`https://silent-${i}.example.com/x`)),
      );
      const checksDone = performance.now();
      await pool;
      for (const why of refusals) expect(why).toContain('no answer within 500 ms');
      expect(poolDone).toBeLessThan(checksDone); // the threadpool was free while the lookups waited
      for (let i = 0; i < 8; i++) expect(silent.asked(`silent-${i}.example.com`)).toBe(true);
      // localhost is never asked of DNS: /etc/hosts answers it, even with the nameserver silent.
      const local = await systemResolver({ servers: [silent.server] })('localhost');
      expect(local.map((a) => a.address)).toEqual(expect.arrayContaining([expect.stringMatching(/^(127\.|::1$)/)]));
      expect(silent.asked('localhost')).toBe(false);
      // A name DNS does not know but /etc/hosts does (a loopback entry here) resolves through the lookup.
      const hosts = readFileSync('/etc/hosts', 'utf8')
        .split('\n')
        .map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
        .filter(([ip, ...names]) => /^127\./.test(ip ?? '') && names.length)
        .flatMap(([, ...names]) => names)
        .filter((n) => n !== 'localhost' && !n.endsWith('.localhost'));
      if (hosts[0]) {
        const found = await systemResolver({ servers: [unknown.server] })(hosts[0]);
        expect(unknown.asked(hosts[0])).toBe(true);
        expect(found.map((a) => a.address)).toContainEqual(expect.stringMatching(/^127\./));
      }
    } finally {
      await Promise.all([silent.close(), unknown.close()]);
    }
  });

  it("the operator's allowlist still allows listed names, addresses and networks", async () => {
    const allow = new UrlPolicy(
      ['127.0.0.1', 'LocalHost', '10.1.0.0/16', '[::1]', 'models.corp'],
      table({ 'models.corp': ['10.9.9.9'], 'gpu.corp': ['10.1.2.3'], 'other.corp': ['10.2.0.1'] }),
    );
    expect(allow.check('http://127.0.0.1:11434/v1')).toBeUndefined();
    expect(allow.check('http://[::ffff:127.0.0.1]:11434/v1')).toBeUndefined(); // the same address
    expect(allow.check('http://localhost.:11434/v1')).toBeUndefined();
    expect(allow.check('http://[::1]:8080/v1')).toBeUndefined();
    expect(allow.check('http://10.1.200.3/v1')).toBeUndefined();
    expect(allow.check('http://10.2.0.1/v1')).toContain('private');
    expect(allow.check('http://127.0.0.2/v1')).toContain('loopback');
    expect(await allow.checkResolved('http://models.corp/v1')).toBeUndefined(); // a listed name, wherever it resolves
    expect(await allow.checkResolved('http://gpu.corp/v1')).toBeUndefined(); // resolves into a listed network
    expect(await allow.checkResolved('http://other.corp/v1')).toContain('10.2.0.1');
  });

  it('image_url: only https:, http: and data: URLs', () => {
    const body = (url: string) => ({
      model: 'auto',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }],
    });
    for (const url of ['https://example.com/a.png', 'http://example.com/a.png', 'data:image/png;base64,iVBORw0KGgo='])
      expect([url, ChatCompletionRequestSchema.safeParse(body(url)).success]).toEqual([url, true]);
    for (const url of [
      'file:///etc/passwd',
      'FILE:///etc/passwd',
      'ftp://example.com/a.png',
      ' file:///x',
      'gopher://x',
    ])
      expect([url, ChatCompletionRequestSchema.safeParse(body(url)).error?.issues[0]?.path.join('.')]).toEqual([
        url,
        'messages.0.content.0.image_url.url',
      ]);
  });
});

describe('calling a webhook (safeFetch)', () => {
  it('a 307 from an allowlisted receiver is not followed: the second listener is never reached', async () => {
    const second = await listener();
    const first = await listener((_req, res) => void res.writeHead(307, { location: second.url('/stolen') }).end());
    try {
      const policy = new UrlPolicy(['127.0.0.1'], table({}));
      const err = await safeFetch(policy, first.url(), { body: '{"secret":1}' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafeFetchError);
      expect(err).toMatchObject({ kind: 'redirect', status: 307 });
      expect((err as Error).message).toContain('not followed');
      expect(first.hits).toHaveLength(1);
      expect(second.hits).toEqual([]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('connects to the address checked, even when the name resolves elsewhere on a second lookup (rebinding)', async () => {
    // Two listeners on one port: 127.0.0.1 (allowlisted) and 127.0.0.2 (not).
    const checked = await listener();
    const other = await listener(undefined, '127.0.0.2', checked.port).catch(() => undefined);
    if (!other) throw new Error('cannot listen on 127.0.0.2 (this test needs the whole 127.0.0.0/8 on loopback)');
    let lookups = 0;
    const rebinding: Resolve = async () => [{ address: ++lookups === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    const policy = new UrlPolicy(['127.0.0.1'], rebinding);
    try {
      const url = `http://hooks.rebind.test:${checked.port}/hook`;
      for (let i = 0; i < 3; i++) {
        lookups = 0;
        const res = await safeFetch(policy, url, { body: '{}' });
        expect(res).toMatchObject({ status: 204, ok: true, address: '127.0.0.1' });
        expect(lookups).toBe(1); // resolved once: the connection asked nobody else
      }
      expect(checked.hits.map((h) => h.host)).toEqual(Array(3).fill(`hooks.rebind.test:${checked.port}`));
      expect(other.hits).toEqual([]);
      // And the other way round: a name that answers a refused address first is never called.
      lookups = 1;
      await expect(safeFetch(policy, url, { body: '{}' })).rejects.toMatchObject({ kind: 'blocked' });
      expect(other.hits).toEqual([]);
    } finally {
      await Promise.all([checked.close(), other.close()]);
    }
  });

  it("the name's lookup counts in the deadline: a resolver that never answers ends the call within timeoutMs", async () => {
    const silent = silentResolver();
    const policy = new UrlPolicy(['127.0.0.0/8'], silent.resolve);
    const started = performance.now();
    const err = await safeFetch(policy, 'http://hooks.silent.test/hook', { body: '{}', timeoutMs: 500 }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ kind: 'unresolved' });
    expect((err as Error).message).toContain('no answer within 500 ms');
    expect(performance.now() - started).toBeLessThan(2_500); // well before the policy's own 3 s
    expect(silent.asked[0]?.signal?.aborted).toBe(true);
  });

  it('tries each checked address in turn when a connection fails, and sends the request once', async () => {
    // Nothing listens on 127.0.0.1 at this port: the connection is refused there, then made to 127.0.0.2.
    const second = await listener(undefined, '127.0.0.2').catch(() => undefined);
    if (!second) throw new Error('cannot listen on 127.0.0.2 (this test needs the whole 127.0.0.0/8 on loopback)');
    const policy = new UrlPolicy(
      ['127.0.0.0/8'],
      table({ 'two.example': ['127.0.0.1', '127.0.0.2'], 'none.example': ['127.0.0.1', '127.0.0.3'] }),
    );
    try {
      const res = await safeFetch(policy, `http://two.example:${second.port}/hook`, { body: '{"n":1}' });
      expect(res).toMatchObject({ status: 204, address: '127.0.0.2' });
      expect(second.hits).toEqual([expect.objectContaining({ host: `two.example:${second.port}`, body: '{"n":1}' })]);
      // Every address refused: one network failure naming each.
      const err = await safeFetch(policy, `http://none.example:${second.port}/hook`, { body: '{}' }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ kind: 'network' });
      expect((err as Error).message).toContain(`127.0.0.1:${second.port}`);
      expect((err as Error).message).toContain(`127.0.0.3:${second.port}`);
      expect(second.hits).toHaveLength(1);
    } finally {
      await second.close();
    }
  });

  it('has a deadline, and reads at most maxResponseBytes of an answer', async () => {
    const stalled = await listener(() => undefined); // never answers
    const flood = await listener((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(64 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const policy = new UrlPolicy(['127.0.0.1'], table({}));
    try {
      await expect(safeFetch(policy, stalled.url(), { body: '{}', timeoutMs: 300 })).rejects.toMatchObject({
        kind: 'timeout',
      });
      const res = await safeFetch(policy, flood.url(), { body: '{}', maxResponseBytes: 1_000 });
      expect(res).toMatchObject({ status: 200, truncated: true });
      expect(res.body).toHaveLength(1_000);
    } finally {
      await Promise.all([stalled.close(), flood.close()]);
    }
  });
});

describe.each(dbKinds())('over real HTTP on %s', (kind) => {
  const known = table({
    'private-llm.example': ['10.0.0.7'],
    'rebound.example': ['93.184.216.34', '169.254.169.254'],
  });
  // silent.example: a nameserver that never answers.
  const names: Resolve = (host, signal) =>
    host === 'silent.example' ? new Promise(() => undefined) : known(host, signal);

  const stack = useTestStack({
    db: kind,
    // As `npm start` with SWITCHYARD_URL_ALLOWLIST=127.0.0.1,localhost; names resolve through the table.
    urlPolicy: new UrlPolicy(['127.0.0.1', 'localhost'], names),
    catalog: (f) =>
      fakeCatalog(f, [fakeModel('oa', 'primary'), fakeModel('oa', 'sum', { capabilities: ['chat', 'json'] })]),
  });
  beforeAll(() => {
    stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true });
  });

  async function call(key: string, method: string, path: string, body?: unknown) {
    const res = await fetch(`${stack.baseURL}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  it("a batch's webhook that answers 307 is called once; the listener it points to is never reached", async () => {
    const second = await listener();
    const first = await listener((_req, res) => void res.writeHead(307, { location: second.url('/stolen') }).end());
    try {
      const res = await fetch(
        `${stack.baseURL}/operations/summarize/batches?webhookUrl=${encodeURIComponent(first.url('/done'))}`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/x-ndjson' },
          body: `${JSON.stringify({ id: 'r1', text: 'A short document. It has two sentences.' })}\n`,
        },
      );
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      await until(async () => first.hits.length > 0, 120_000);
      // The redirect is final (not retried): the batch's workflow ends after its one attempt.
      const handle = stack.env.client.workflow.getHandle(`batch-${id}`);
      await until(async () => (await handle.describe()).status.name !== 'RUNNING', 60_000);
      expect(first.hits).toHaveLength(1);
      expect(JSON.parse(first.hits[0]!.body)).toMatchObject({ type: 'batch.finished', batch_id: id });
      expect(second.hits).toEqual([]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it("a batch's webhook URL is checked at submission: a name resolving to a private address, or not answering, is a 400", async () => {
    const submit = (webhookUrl: string) =>
      fetch(`${stack.baseURL}/operations/summarize/batches?webhookUrl=${encodeURIComponent(webhookUrl)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/x-ndjson' },
        body: `${JSON.stringify({ id: 'r1', text: 'A short document. It has two sentences.' })}\n`,
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));
    const ids = async () =>
      (await call(stack.apiKey, 'GET', '/operations/summarize/batches?limit=100')).body.data.map((b: any) => b.id);
    const before = await ids();
    const refused: Array<[string, string]> = [
      ['http://private-llm.example/done', '10.0.0.7'],
      ['https://rebound.example/done', '169.254.169.254'],
      ['http://169.254.169.254/latest', 'link-local'],
    ];
    for (const [url, says] of refused) {
      const res = await submit(url);
      expect([url, res.status, res.body.error?.code, res.body.error?.param]).toEqual([
        url,
        400,
        'url_blocked',
        'webhookUrl',
      ]);
      expect(res.body.error.message).toContain(says);
    }
    // A name whose nameserver never answers: refused within the lookup's deadline, and /health answers meanwhile.
    const started = performance.now();
    const pending = submit('http://silent.example/done').then((r) => ({ ...r, ms: performance.now() - started }));
    const health = await fetch(`${stack.baseURL.replace(/\/v1$/, '')}/health`, { signal: AbortSignal.timeout(10_000) });
    expect([health.status, performance.now() - started < 1_000]).toEqual([200, true]);
    const silent = await pending;
    expect([silent.status, silent.body.error?.code, silent.body.error?.param]).toEqual([
      400,
      'url_blocked',
      'webhookUrl',
    ]);
    expect(silent.body.error.message).toContain('does not resolve (no answer within 3000 ms)');
    expect(silent.ms).toBeLessThan(10_000);
    // Nothing was stored for the refused submissions.
    expect(await ids()).toEqual(before);
  });

  it('a budget alert: a redirect is not followed, and a refused webhook is not called', async () => {
    const second = await listener();
    const first = await listener((_req, res) => void res.writeHead(308, { location: second.url('/stolen') }).end());
    const alert = {
      scope: `tenant:${stack.tenantId}`,
      period: 'daily' as const,
      windowStart: new Date().toISOString(),
      tenantId: stack.tenantId,
      threshold: 0.5,
      limitUsd: 1,
      spentUsd: 0.6,
      raisedAt: new Date().toISOString(),
    };
    try {
      const activities = (policy: UrlPolicy) =>
        createBudgetWindowActivities({ db: stack.db, urlPolicy: policy } as unknown as ActivityDeps);
      const redirected = await activities(new UrlPolicy(['127.0.0.1'], names))
        .deliverBudgetAlert({ ...alert, webhookUrl: first.url() })
        .catch((e: unknown) => e);
      expect(redirected).toBeInstanceOf(ApplicationFailure);
      expect(redirected).toMatchObject({ type: 'WebhookRedirected', nonRetryable: true });
      expect(first.hits).toHaveLength(1);
      // Without the allowlist, 127.0.0.1 is refused before anything is sent.
      const refused = await activities(new UrlPolicy([], names))
        .deliverBudgetAlert({ ...alert, webhookUrl: first.url() })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ type: 'WebhookBlocked', nonRetryable: true });
      expect((refused as Error).message).toContain('loopback');
      // A worker given no policy at all refuses non-public addresses too (no allowlist).
      const unset = await createBudgetWindowActivities({ db: stack.db } as unknown as ActivityDeps)
        .deliverBudgetAlert({ ...alert, webhookUrl: first.url() })
        .catch((e: unknown) => e);
      expect(unset).toMatchObject({ type: 'WebhookBlocked', nonRetryable: true });
      expect((unset as Error).message).toContain('loopback');
      const rebound = await activities(new UrlPolicy(['127.0.0.1'], names))
        .deliverBudgetAlert({ ...alert, webhookUrl: 'http://rebound.example/hook' })
        .catch((e: unknown) => e);
      expect(rebound).toMatchObject({ type: 'WebhookBlocked' });
      expect(first.hits).toHaveLength(1);
      expect(second.hits).toEqual([]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it("a provider's base URL changed through the API must name its credential: the environment's key never follows it", async () => {
    const exported = (await call(stack.operatorKey, 'GET', '/admin/config')).body;
    const version = exported.config_version;
    const withProviders = (change: (providers: any[]) => void) => {
      const config = structuredClone(exported.config);
      change(config.catalog.providers);
      return config;
    };
    const refusals: Array<[string, any, string, string]> = [
      [
        'an existing provider pointed elsewhere',
        withProviders((p) => (p[0].baseUrl = 'http://localhost:9/v1')),
        'catalog.providers.0.credential',
        'credential',
      ],
      [
        "the environment's `openai` provider added with a base URL",
        withProviders((p) => p.push({ id: 'openai', wireFormat: 'openai', baseUrl: 'http://127.0.0.1:9/v1' })),
        'catalog.providers.2.credential',
        "environment's key",
      ],
      [
        'a credential naming a variable that is not a key',
        withProviders((p) =>
          p.push({
            id: 'extra',
            wireFormat: 'openai',
            baseUrl: 'http://127.0.0.1:9/v1',
            credential: 'env:DATABASE_URL',
          }),
        ),
        'catalog.providers.2.credential',
        '_API_KEY',
      ],
      [
        'a name that does not resolve',
        withProviders((p) =>
          p.push({ id: 'extra', wireFormat: 'openai', baseUrl: 'http://llm.invalid/v1', credential: 'none' }),
        ),
        'catalog.providers.2.baseUrl',
        'does not resolve',
      ],
      [
        'a name that resolves to a private address',
        withProviders((p) =>
          p.push({ id: 'extra', wireFormat: 'openai', baseUrl: 'http://private-llm.example/v1', credential: 'none' }),
        ),
        'catalog.providers.2.baseUrl',
        '10.0.0.7',
      ],
      [
        'an IPv4-compatible loopback literal',
        withProviders((p) =>
          p.push({ id: 'extra', wireFormat: 'openai', baseUrl: 'http://[::7f00:1]:9/v1', credential: 'none' }),
        ),
        'catalog.providers.2.baseUrl',
        'loopback',
      ],
    ];
    for (const [what, config, param, says] of refusals) {
      const res = await call(stack.operatorKey, 'PUT', '/admin/config', config);
      expect([what, res.status, res.body.error?.param]).toEqual([what, 400, param]);
      expect(res.body.error.message).toContain(says);
    }
    expect((await call(stack.operatorKey, 'GET', '/admin/config')).body.config_version).toBe(version);

    // Naming the credential makes the key explicit; the worker sends that one, and only that one.
    const lastKey = async () => {
      const chat = await call(stack.apiKey, 'POST', '/chat/completions', {
        model: 'oa/primary',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(chat.status).toBe(200);
      return stack.fakes.openai.callsFor('primary').at(-1)!.headers.authorization;
    };
    process.env.ADDR_TEST_API_KEY = 'sk-addrtest-0123456789abcdef';
    const named = withProviders((p) => (p[0] = { ...p[0], credential: 'env:ADDR_TEST_API_KEY' }));
    expect((await call(stack.operatorKey, 'PUT', '/admin/config', named)).status).toBe(200);
    expect(await lastKey()).toBe('Bearer sk-addrtest-0123456789abcdef');
    const none = withProviders((p) => (p[0] = { ...p[0], credential: 'none' }));
    expect((await call(stack.operatorKey, 'PUT', '/admin/config', none)).status).toBe(200);
    expect(await lastKey()).toBe('Bearer none');
    // Taking the credential away would imply the environment's key again: refused.
    const implied = await call(stack.operatorKey, 'PUT', '/admin/config', exported.config);
    expect([implied.status, implied.body.error?.param]).toEqual([400, 'catalog.providers.0.credential']);
    // A new base URL with its credential named is an operator's explicit choice.
    const moved = withProviders((p) => (p[0] = { ...p[0], baseUrl: 'http://localhost:9/v1', credential: 'none' }));
    expect((await call(stack.operatorKey, 'PUT', '/admin/config', moved)).status).toBe(200);
    expect((await call(stack.operatorKey, 'PUT', '/admin/config', none)).status).toBe(200);
  });

  it('image_url with a file: URL is a 400 naming the field, on both wire formats', async () => {
    const chat = await call(stack.apiKey, 'POST', '/chat/completions', {
      model: 'auto',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is in this file?' },
            { type: 'image_url', image_url: { url: 'file:///etc/passwd' } },
          ],
        },
      ],
    });
    expect(chat.status).toBe(400);
    expect(chat.body.error).toMatchObject({
      type: 'invalid_request_error',
      param: 'messages[0].content[1].image_url.url',
    });
    expect(chat.body.error.message).toContain('https:');
    const messages = await call(stack.apiKey, 'POST', '/messages', {
      model: 'auto',
      max_tokens: 10,
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'file:///etc/passwd' } }] }],
    });
    expect(messages.status).toBe(400);
    expect(messages.body.error.param).toBe('messages[0].content[0].source.url');
  });
});
