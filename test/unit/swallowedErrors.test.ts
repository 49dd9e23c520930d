/**
 * Errors the code goes on past are not silent: each is logged (warn, with its ids) and counted in
 * `switchyard_swallowed_errors_total{site}`. Driven through the real functions with a database or
 * a cache that fails; only the logger is a recorder.
 */
import type { Logger } from 'pino';
import { takeTurn } from '../../activities/callSteps/rateGate';
import type { CallContext } from '../../activities/callSteps/call';
import { remember } from '../../src/api/cached';
import type { Db, QueryResult, SqlParam } from '../../src/db';
import { CatalogSchema, defaultCatalog } from '../../src/domain/catalog';
import { configSource } from '../../src/services/configFile';
import { ConfigStore } from '../../src/services/configStore';
import { logSwallowedTo, Metrics, swallowedErrors, type SwallowedSite } from '../../src/services/metrics';
import type { ResponseCache } from '../../src/services/responseCache';
import { callInput } from '../support/callInput';
import { openTestDb } from '../support/db';
import { unitModel } from '../support/catalog';

const counted = async (site: SwallowedSite) =>
  (await swallowedErrors.get()).values.find((v) => v.labels.site === site)?.value ?? 0;

const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
beforeAll(() => {
  logSwallowedTo({
    warn: (fields: Record<string, unknown>, message: string) => void warnings.push({ fields, message }),
  } as unknown as Pick<Logger, 'warn'>);
});
beforeEach(() => (warnings.length = 0));

async function until(cond: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A database that answers until `down` is set, then throws on every statement. */
function failingDb(inner?: Db): Db & { down: boolean } {
  const fake = {
    kind: 'pglite' as const,
    down: false,
    query: async <T>(sql: string, params?: SqlParam[]): Promise<QueryResult<T>> => {
      if (fake.down || !inner) throw new Error('connection terminated');
      return inner.query<T>(sql, params);
    },
    exec: async (sql: string) => (inner ? inner.exec(sql) : undefined),
    transaction: async <T>(fn: (tx: Db) => Promise<T>): Promise<T> => fn(fake),
    close: async () => undefined,
  };
  return fake;
}

describe('swallowed errors are logged and counted', () => {
  it('the configuration refresh: a failing poll keeps the version, logs it and counts it', async () => {
    const db = await openTestDb('pglite');
    try {
      const flaky = failingDb(db);
      const store = new ConfigStore(
        flaky,
        configSource(undefined, () => defaultCatalog({ simulated: true })),
      );
      const { version } = await store.init();
      const before = await counted('config_refresh');
      flaky.down = true;
      store.startPolling(10);
      try {
        await until(async () => (await counted('config_refresh')) > before);
      } finally {
        store.stop();
      }
      expect(store.current().version).toBe(version);
      expect(warnings[0]).toMatchObject({
        fields: { site: 'config_refresh', version, err: expect.objectContaining({ message: 'connection terminated' }) },
        message: expect.stringContaining('configuration refresh failed'),
      });
    } finally {
      await db.close();
    }
  });

  it('the tpm adjustment: a failed correction is logged with the request and provider, and counted', async () => {
    const db = failingDb();
    // Tokens are taken (the insert answers a row) before the database goes down.
    db.query = async <T>(sql: string) => {
      if (db.down) throw new Error('connection terminated');
      return { rows: (sql.startsWith('insert into provider_tokens') ? [{ tokens: 1 }] : []) as T[], rowCount: 1 };
    };
    const catalog = CatalogSchema.parse({
      providers: [{ id: 'oa', tpm: 10_000 }],
      models: [unitModel('oa', 'm')],
    });
    const ctx: CallContext = {
      info: { attempt: 1, currentAttemptScheduledTimestampMs: Date.now() },
      cancellationSignal: new AbortController().signal,
      heartbeat: () => undefined,
      sleep: async () => undefined,
    };
    const input = callInput();
    const body = { model: 'auto', messages: [{ role: 'user', content: 'hello there' }] };
    const turn = await takeTurn(
      { db },
      ctx,
      input,
      { provider: catalog.providers[0]!, model: catalog.models[0]! },
      { operation: 'chat', body, createdAt: Date.now() },
      new Date(),
      { requestId: 'r1', candidateIndex: 0, attempt: 1 },
    );
    const before = await counted('tpm_adjust');
    db.down = true;
    turn!.settle(5);
    await until(async () => (await counted('tpm_adjust')) > before);
    expect(warnings[0]!.fields).toMatchObject({ site: 'tpm_adjust', requestId: 'r1', provider: 'oa' });
  });

  it('the cache write: the answer is not kept, the failure is logged with its request and counted', async () => {
    const refused = () => Promise.reject(new Error('redis gone'));
    const store: ResponseCache = { kind: 'redis', get: refused, set: refused, invalidate: refused, close: refused };
    const before = await counted('cache_write');
    const routed = {
      row: { response: {}, created_at: new Date() },
      result: { requestId: 'req-1', provider: 'oa', modelId: 'oa/m', model: 'm', finishReason: 'stop' },
    };
    await remember(
      { cache: { store, ttlSeconds: { chat: 60 } } } as unknown as Parameters<typeof remember>[0],
      { key: 'k', ttlMs: 60_000 },
      't1',
      { operation: 'chat' } as Parameters<typeof remember>[3],
      routed as unknown as Parameters<typeof remember>[4],
    );
    expect(await counted('cache_write')).toBe(before + 1);
    expect(warnings[0]!.fields).toMatchObject({ site: 'cache_write', requestId: 'req-1', tenant: 't1' });
  });

  it('the counter is served with the process metrics', async () => {
    expect(await new Metrics().registry.metrics()).toContain('switchyard_swallowed_errors_total{site="cache_write"}');
  });
});
