/**
 * Configuration that keeps every write (issue 28, findings 8 and 12), over real HTTP.
 *
 * 8. Writes were read-modify-write with no version check: simultaneous writes lost one another,
 *    and a tenant admin's policy write could replace an operator's exclusion it never saw.
 * 12. Nothing bounded a rule or the configuration, every version was kept, and every process
 *    re-read the whole document every second.
 */
import http from 'node:http';
import { upsertApiKey } from '../../src/db/apiKeys';
import { CONFIG_BOUNDS } from '../../src/domain/configBounds';
import { ConfigStore } from '../../src/services/configStore';
import { dbKinds, uniqueId } from '../support/db';
import { fakeCatalog, fakeModel, useTestStack } from '../support/stack';

jest.setTimeout(180_000);

/** Polls `check` until it holds or the deadline passes (no fixed sleeps). */
async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(dbKinds())('configuration writes on %s', (kind) => {
  const stack = useTestStack({
    db: kind,
    catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'small'), fakeModel('an', 'small')]),
  });
  /** A second tenant, with its own admin. */
  const tenantB = uniqueId('tenant-b');
  const adminB = `sk-sy-${uniqueId('admin-b')}`;

  beforeAll(async () => {
    await upsertApiKey(stack.db, tenantB, adminB, 'admin-b', 'admin');
  });

  const call = async (method: string, path: string, key: string, body?: unknown, headers = {}) => {
    const res = await fetch(`${stack.baseURL}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any, headers: res.headers };
  };
  const rows = async <T>(sql: string, params: unknown[] = []) => (await stack.db.query<T>(sql, params as never[])).rows;
  const latestVersion = async () =>
    Number((await rows<{ v: number }>('select max(version) as v from config_versions'))[0]!.v);

  it('15 simultaneous budget writes by two tenant admins (and another process) all land', async () => {
    const base = await latestVersion();
    // Another API process writing at the same time: its own store on the same database.
    const otherProcess = new ConfigStore(stack.db, { kind: 'default', read: () => ({}) as never });
    const writes = Array.from({ length: 15 }, (_, i) => {
      const [tenant, key] = i % 2 === 0 ? [stack.tenantId, stack.adminKey] : [tenantB, adminB];
      return { tenant, key, dailyUsd: i + 1 };
    });
    const [responses] = await Promise.all([
      Promise.all(writes.map((w) => call('PUT', `/admin/tenants/${w.tenant}/budget`, w.key, { dailyUsd: w.dailyUsd }))),
      Promise.all(
        [1, 2, 3].map((n) =>
          otherProcess.update((c) => ({
            ...c,
            tenants: { ...c.tenants, [`other-${n}`]: { excludedProviders: ['an'] } },
          })),
        ),
      ),
    ]);
    for (const r of responses) expect(r.status).toBe(200);
    const versions = responses.map((r) => r.body.config_version as number);
    expect(new Set(versions).size).toBe(15);
    // Every version is its predecessor plus one write: each tenant's budget in version v is that
    // of its last write at or before v, and the other process's three edits are all there.
    const history = await rows<{ version: number; tenants: Record<string, any> }>(
      "select version, config->'tenants' as tenants from config_versions where version > $1 order by version",
      [base],
    );
    expect(history.map((h) => h.version)).toEqual(Array.from({ length: 18 }, (_, i) => base + 1 + i));
    for (const h of history) {
      for (const tenant of [stack.tenantId, tenantB]) {
        const last = writes
          .map((w, i) => ({ ...w, version: versions[i]! }))
          .filter((w) => w.tenant === tenant && w.version <= h.version)
          .sort((a, b) => b.version - a.version)[0];
        expect(h.tenants[tenant]?.budget?.dailyUsd).toBe(last?.dailyUsd);
      }
    }
    const final = history[history.length - 1]!.tenants;
    for (const n of [1, 2, 3]) expect(final[`other-${n}`]).toMatchObject({ excludedProviders: ['an'] });
  });

  it("keeps an operator's exclusion whatever a tenant admin writes meanwhile (4 tries)", async () => {
    const tenant = stack.tenantId;
    const path = `/admin/tenants/${tenant}`;
    // The operator's API process: it stores the exclusion; this API process has not polled since.
    const operatorProcess = new ConfigStore(stack.db, { kind: 'default', read: () => ({}) as never });
    const exclude = () =>
      operatorProcess.update((c) => ({
        ...c,
        tenants: { ...c.tenants, [tenant]: { ...c.tenants[tenant]!, excludedProviders: ['an'] } },
      }));
    for (let i = 0; i < 4; i++) {
      expect((await call('PUT', path, stack.operatorKey, {})).status).toBe(200);
      // Tries 0 and 2: the exclusion lands through the other process just before the admin's
      // writes; tries 1 and 3: through this one, at the same time as them.
      if (i % 2 === 0) await exclude();
      const [op, policy, budget] = await Promise.all([
        i % 2 === 0 ? { status: 200 } : call('PUT', path, stack.operatorKey, { excludedProviders: ['an'] }),
        call('PUT', path, stack.adminKey, { strategy: 'cost' }),
        call('PUT', `${path}/budget`, stack.adminKey, { dailyUsd: 5 + i }),
      ]);
      // The exclusion is there, whoever wrote first.
      const after = await call('GET', path, stack.adminKey);
      expect(after.body.policy.excludedProviders).toEqual(['an']);
      expect(op.status).toBe(200);
      expect(budget.status).toBe(200);
      // The admin's policy write either came first (the operator's write then replaced it) or is
      // refused: it would lift the exclusion.
      expect([200, 403]).toContain(policy.status);
      if (i % 2 === 0) expect(policy.status).toBe(403);
      if (policy.status === 403)
        expect(policy.body.error).toMatchObject({ param: 'excludedProviders', code: 'policy_widening' });
    }
    // And the router agrees: `an` is filtered out for this tenant.
    const route = await stack.post('/route', { model: 'an/small', messages: [{ role: 'user', content: 'hi' }] });
    expect(route.status).toBe(200);
    expect(route.body.decision.rejected).toEqual(
      expect.arrayContaining([expect.objectContaining({ modelId: 'an/small', filter: 'excluded-provider' })]),
    );
    // A later admin write that drops the exclusion is refused, and stores nothing.
    const before = await latestVersion();
    const lift = await call('PUT', path, stack.adminKey, { strategy: 'quality' });
    expect(lift.status).toBe(403);
    expect(lift.body.error).toMatchObject({ param: 'excludedProviders', code: 'policy_widening' });
    expect(await latestVersion()).toBe(before);
  });

  it('a write naming the version it was computed from (If-Match) gets 409 when it is stale', async () => {
    const path = `/admin/tenants/${tenantB}/budget`;
    const read = await call('GET', path, adminB);
    const etag = read.headers.get('etag');
    expect(etag).toBe(`"${stack.configStore.current().version}"`);
    // Someone else writes in between.
    expect((await call('PUT', `/admin/tenants/${stack.tenantId}/budget`, stack.adminKey, { dailyUsd: 9 })).status).toBe(
      200,
    );
    const before = await latestVersion();
    const stale = await call('PUT', path, adminB, { dailyUsd: 77 }, { 'if-match': etag! });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'version_conflict', param: 'If-Match' });
    expect(stale.body.error.current_version).toBe(before);
    expect(await latestVersion()).toBe(before);
    const fresh = await call('PUT', path, adminB, { dailyUsd: 77 }, { 'if-match': `"${before}"` });
    expect(fresh.status).toBe(200);
    expect(fresh.body.config_version).toBe(before + 1);
    const bad = await call('PUT', path, adminB, { dailyUsd: 78 }, { 'if-match': 'yesterday' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: 'If-Match' });
  });

  it('refuses an oversized rule and one rule too many with a 4xx, storing nothing', async () => {
    const before = await latestVersion();
    const sizeBefore = Number(
      (await rows<{ n: string }>('select coalesce(sum(pg_column_size(config)), 0) as n from config_versions'))[0]!.n,
    );
    // A 3.5 MB rule, as in the finding.
    const huge = {
      id: 'huge',
      when: [
        { field: 'userId', op: 'in', value: Array.from({ length: 100_000 }, (_, i) => `user-${i}-${'x'.repeat(24)}`) },
      ],
      targets: [{ model: 'oa/small' }],
    };
    expect(JSON.stringify(huge).length).toBeGreaterThan(3_000_000);
    // Ten at once (the finding's attack), each sending only its first 64 KB: the answer must come
    // from the declared length (a server that read the rest would never answer). Meanwhile /health
    // answers within a second and another tenant's request completes.
    const hugeBody = Buffer.from(JSON.stringify(huge));
    const declared = () =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = http.request(
          `${stack.baseURL}/admin/rules`,
          {
            method: 'POST',
            headers: {
              authorization: `Bearer ${stack.adminKey}`,
              'content-type': 'application/json',
              'content-length': hugeBody.length,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              req.destroy();
              resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) });
            });
          },
        );
        req.on('error', reject);
        req.setTimeout(10_000, () => req.destroy(new Error('no answer from the declared length within 10 s')));
        req.write(hugeBody.subarray(0, 64 * 1024));
      });
    let settled = false;
    const attack = Promise.all(Array.from({ length: 10 }, declared)).finally(() => (settled = true));
    const other = call('POST', '/chat/completions', adminB, {
      model: 'oa/small',
      messages: [{ role: 'user', content: 'hi' }],
    });
    const healthMs: number[] = [];
    do {
      const started = performance.now();
      const health = await fetch(`${stack.baseURL.replace(/\/v1$/, '')}/health`);
      expect(health.status).toBe(200);
      healthMs.push(performance.now() - started);
    } while (!settled);
    const refused = await attack;
    expect(Math.max(...healthMs)).toBeLessThan(1_000);
    expect((await other).status).toBe(200);
    for (const big of refused) {
      expect(big.status).toBe(413);
      expect(big.body.error).toMatchObject({ type: 'invalid_request_error', code: 'rule_too_large', param: 'body' });
    }
    // One small enough to read, still past the bound: the field to shorten is named.
    const long = { ...huge, id: 'long', when: [{ ...huge.when[0]!, value: huge.when[0]!.value.slice(0, 2_000) }] };
    const readAndRefused = await call('POST', '/admin/rules', stack.adminKey, long);
    expect(readAndRefused.status).toBe(413);
    expect(readAndRefused.body.error).toMatchObject({ code: 'rule_too_large', param: 'when' });
    expect(await latestVersion()).toBe(before);
    const sizeAfter = Number(
      (await rows<{ n: string }>('select coalesce(sum(pg_column_size(config)), 0) as n from config_versions'))[0]!.n,
    );
    expect(sizeAfter).toBe(sizeBefore);

    // Up to the bound, a tenant's rules are stored; one more is refused.
    const rule = (i: number) => ({
      id: `r-${i}`,
      when: [{ field: 'userId', op: 'eq', value: `u${i}` }],
      targets: [{ model: 'oa/small' }],
    });
    for (let i = 0; i < CONFIG_BOUNDS.rulesPerTenant; i++)
      expect((await call('POST', '/admin/rules', stack.adminKey, rule(i))).status).toBe(201);
    const full = await latestVersion();
    const extra = await call('POST', '/admin/rules', stack.adminKey, rule(CONFIG_BOUNDS.rulesPerTenant));
    expect(extra.status).toBe(400);
    expect(extra.body.error).toMatchObject({ code: 'too_many_rules', param: 'rules' });
    expect(await latestVersion()).toBe(full);
    // Another tenant is not held back by this one's rules.
    expect((await call('POST', '/admin/rules', adminB, { ...rule(0), id: 'b-0' })).status).toBe(201);
  });

  it(`keeps the last ${CONFIG_BOUNDS.keepVersions} versions (and the file's), pruning older ones`, async () => {
    const path = `/admin/tenants/${tenantB}/budget`;
    const target = (await latestVersion()) + CONFIG_BOUNDS.keepVersions + 5;
    for (let i = 0; (await latestVersion()) < target; i++)
      expect((await call('PUT', path, adminB, { dailyUsd: 1000 + i })).status).toBe(200);
    const kept = await rows<{ version: number; source: string }>(
      'select version, source from config_versions order by version',
    );
    const latest = kept[kept.length - 1]!.version;
    const admin = kept.filter((k) => k.source === 'admin').map((k) => k.version);
    expect(admin).toEqual(
      Array.from({ length: CONFIG_BOUNDS.keepVersions }, (_, i) => latest - CONFIG_BOUNDS.keepVersions + 1 + i),
    );
    // The file's own version is kept (a restart compares the file with it: no spurious new version).
    expect(kept.filter((k) => k.source === 'file').map((k) => k.version)).toEqual([1]);
    expect(kept.length).toBe(CONFIG_BOUNDS.keepVersions + 1);
  });

  it('polls the version number only, and reads the document only when it changed', async () => {
    const POLL = 'select max(version) as version from config_versions';
    // (The counting database keeps each statement's first 60 characters.)
    const configStatements = () =>
      stack.db.statements().filter((s) => /config_versions|^select version, config\b/.test(s));
    const polls = () => configStatements().filter((s) => s === POLL).length;
    // Another API process, up to date before the idle cycles begin.
    const otherProcess = new ConfigStore(stack.db, { kind: 'default', read: () => ({}) as never });
    await otherProcess.refresh();
    stack.configStore.startPolling(50);
    try {
      stack.db.reset();
      await until(() => polls() >= 6);
      // Idle: every statement about the configuration is the version poll.
      expect(configStatements().every((s) => s === POLL)).toBe(true);
      expect(stack.db.statements().some((s) => /select \* from config_versions/.test(s))).toBe(false);
      // The other process writes: this one reads the new version once, then goes back to polling.
      stack.db.reset();
      const written = await otherProcess.update((c) => ({ ...c, routing: { ...c.routing, defaultStrategy: 'cost' } }));
      await until(() => stack.configStore.current().version === written.version);
      const seen = polls();
      await until(() => polls() >= seen + 6);
      const reads = configStatements().filter((s) => s.startsWith('select') && s !== POLL);
      expect(reads).toHaveLength(1);
      expect(reads[0]).toMatch(/^select version, config, source/);
      expect(stack.configStore.current().config.routing.defaultStrategy).toBe('cost');
    } finally {
      stack.configStore.stop();
    }
  });
});
