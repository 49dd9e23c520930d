/**
 * The steps of `callModel`, each called directly with a fake database (it records every statement,
 * a transaction's BEGIN and COMMIT included, and answers from a table), a fake breaker port, fake
 * metrics and a fake activity context; and the pipeline once, in `MockActivityEnvironment`.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure, type Logger } from '@temporalio/common';
import { createCallModelActivity } from '../../activities/callModel';
import { Bulkhead, checkBreaker, resolveTarget, resumeIfStarted } from '../../activities/callSteps/admit';
import type { Call, CallContext } from '../../activities/callSteps/call';
import { checkBatch, takeProbe } from '../../activities/callSteps/confirm';
import {
  DEFAULT_STREAM_LIMITS,
  heartbeating,
  invoke,
  malformedSkipped,
  openStream,
} from '../../activities/callSteps/invoke';
import { takeTurn, tokenEstimate } from '../../activities/callSteps/rateGate';
import { reserveAndRecord, startedAttempt } from '../../activities/callSteps/reserve';
import { settleAnswer, settleFailure, streamedSpend } from '../../activities/callSteps/settle';
import { finishAttempt, withdrawAttempt } from '../../activities/callSteps/transactions';
import type { ActivityDeps } from '../../activities/deps';
import type { CallOutput } from '../../activities/providerCall';
import type { StoredRequest } from '../../activities/storedRequest';
import type { Db, Queryable, SqlParam } from '../../src/db';
import type { BreakerSnapshot } from '../../src/domain/breaker';
import { TenantBudgetSchema } from '../../src/domain/budget';
import { CatalogSchema, costUsd, type Catalog, type Provider } from '../../src/domain/catalog';
import type { SwitchyardConfig } from '../../src/domain/config';
import type { StreamEvent } from '../../src/domain/stream';
import { failure } from '../../src/providers/errors';
import type { ChatCallOutput, ProviderAdapter } from '../../src/providers/types';
import type { HealthPort, Outcome } from '../../src/services/healthPort';
import { logSwallowedTo, type Metrics } from '../../src/services/metrics';
import { MemoryRelay, type StreamRelay } from '../../src/services/streamRelay';
import { callInput } from '../support/callInput';
import { unitModel } from '../support/catalog';

// ---- fakes ----

type Rows = Record<string, unknown>[];
/** Answers a statement: rows, or an error to throw. */
type Answer = (sql: string, params: SqlParam[]) => Rows | Error | undefined;

interface FakeDb extends Db {
  /** Each statement's first four words, in order; BEGIN, COMMIT and ROLLBACK for transactions. */
  log: string[];
  sent: Array<{ sql: string; params: SqlParam[] }>;
}

const head = (sql: string) => sql.replace(/\s+/g, ' ').trim().split(' ').slice(0, 4).join(' ');

function fakeDb(answer: Answer = () => undefined): FakeDb {
  const log: string[] = [];
  const sent: FakeDb['sent'] = [];
  const q: Queryable = {
    query: async <T>(sql: string, params: SqlParam[] = []) => {
      log.push(head(sql));
      sent.push({ sql, params });
      // The ledger's close answers whether it closed the reservation.
      const rows = answer(sql, params) ?? (sql.includes('budget_close') ? [{ closed: true }] : []);
      if (rows instanceof Error) throw rows;
      return { rows: rows as T[], rowCount: rows.length };
    },
    exec: async () => undefined,
  };
  return {
    kind: 'pglite',
    ...q,
    transaction: async (fn) => {
      log.push('BEGIN');
      try {
        const v = await fn(q);
        log.push('COMMIT');
        return v;
      } catch (err) {
        log.push('ROLLBACK');
        throw err;
      }
    },
    close: async () => undefined,
    log,
    sent,
  };
}

/** The attempt rows the database was sent (recordAttempt's `insert into request_attempts`), as records. */
const attemptRows = (db: FakeDb) =>
  db.sent
    .filter((s) => s.sql.startsWith('with recorded as (insert into request_attempts'))
    .map(({ params: p }) => ({
      outcome: p[5],
      errorType: p[6],
      errorMessage: p[7],
      status: p[8],
      inputTokens: p[11],
      outputTokens: p[12],
      costUsd: p[13],
    }));

function fakeHealth(snap?: Partial<BreakerSnapshot>, probeGranted = true) {
  const reports: Array<{ endpoint: string; outcome: Outcome }> = [];
  const probes: string[] = [];
  const health: HealthPort = {
    viewOf: async () => ({ open: new Set<string>() }) as unknown as Awaited<ReturnType<HealthPort['viewOf']>>,
    snapshot: async () => snap as BreakerSnapshot | undefined,
    requestProbe: async (endpoint) => {
      probes.push(endpoint);
      return probeGranted;
    },
    report: (endpoint, outcome) => reports.push({ endpoint, outcome }),
  };
  return { health, reports, probes };
}

function fakeMetrics() {
  const observed: Array<{ metric: string; labels: Record<string, string>; value: number }> = [];
  const histogram = (metric: string) => ({
    observe: (labels: Record<string, string>, value: number) => observed.push({ metric, labels, value }),
  });
  const metrics = {
    providerSeconds: histogram('providerSeconds'),
    rateLimitWaitSeconds: histogram('rateLimitWaitSeconds'),
  } as unknown as Metrics;
  return { metrics, observed };
}

function fakeCtx(scheduledAtMs = Date.now()) {
  const cancel = new AbortController();
  let beats = 0;
  const slept: number[] = [];
  const ctx: CallContext = {
    info: { attempt: 2, currentAttemptScheduledTimestampMs: scheduledAtMs },
    cancellationSignal: cancel.signal,
    heartbeat: () => void beats++,
    sleep: async (ms) => void slept.push(ms),
  };
  return { ctx, cancel, slept, beats: () => beats };
}

const catalog: Catalog = CatalogSchema.parse({
  providers: [{ id: 'oa' }],
  models: [unitModel('oa', 'm')],
});
const model = catalog.models[0]!;
const provider = catalog.providers[0]!;

const input = callInput;
const body = { model: 'auto', messages: [{ role: 'user', content: 'hello there' }] };
const request: StoredRequest = { operation: 'chat', body, createdAt: Date.now() - 100 };
const storedRow = { operation: 'chat', body, created_at: new Date(request.createdAt) };
const ref = { requestId: 'r1', candidateIndex: 0, attempt: 2 };
const started = startedAttempt(input(), 2, new Date());

const call = (over: Partial<Call> = {}): Call => ({
  input: input(),
  model,
  request,
  ref,
  started,
  startedAt: new Date(Date.now() - 50),
  probe: false,
  ...over,
});

const answer = (over: Partial<ChatCallOutput> = {}): ChatCallOutput => ({
  content: 'hi',
  finishReason: 'stop',
  inputTokens: 10,
  outputTokens: 4,
  providerModel: 'm-2026',
  ...over,
});

const output = (over: Partial<CallOutput> = {}): CallOutput =>
  ({
    usage: { inputTokens: 10, outputTokens: 4, finishReason: 'stop', providerModel: 'm-2026' },
    stored: { content: 'hi' },
    ...over,
  }) as CallOutput;

/** What an async step throws (fails the test if it does not). */
async function thrown(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    return err as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

/** Reads a request's events from a relay until its end or error. */
async function readAll(relay: StreamRelay, requestId: string): Promise<StreamEvent[]> {
  const stop = new AbortController();
  const out: StreamEvent[] = [];
  for await (const e of relay.subscribe(requestId, stop.signal)) {
    out.push(e);
    if (e.type !== 'delta') stop.abort();
  }
  return out;
}

// ---- the shared transactions ----

describe('withdrawAttempt and finishAttempt', () => {
  it('withdraws: forgets the attempt and releases its reservation, in one transaction', async () => {
    const db = fakeDb();
    await withdrawAttempt(db, { ...ref, reservation: 'r1:0:2' });
    expect(db.log).toEqual([
      'BEGIN',
      'delete from request_attempts where',
      'select budget_close($1, $2, $3::numeric)',
      'COMMIT',
    ]);
    expect(db.sent[0]!.params).toEqual(['r1', 0, 2]);
    expect(db.sent[1]!.params).toEqual(['r1:0:2', 'released', null]);
  });

  it('withdraws without a reservation: only the attempt', async () => {
    const db = fakeDb();
    await withdrawAttempt(db, ref);
    expect(db.log).toEqual(['BEGIN', 'delete from request_attempts where', 'COMMIT']);
  });

  it('finishes: the attempt, its reservation settled at its cost, then `then`, in one transaction', async () => {
    const db = fakeDb();
    const got = await finishAttempt(
      db,
      { ...ref, reservation: 'res' },
      { ...started, outcome: 'error', errorType: 'Timeout', latencyMs: 5, costUsd: 0.25 },
      async (tx) => (await tx.query('select 1 as then')).rowCount + 41,
    );
    expect(got).toBe(41);
    expect(db.log).toEqual([
      'BEGIN',
      'with recorded as (insert',
      'select budget_close($1, $2, $3::numeric)',
      'select 1 as then',
      'COMMIT',
    ]);
    expect(db.sent[1]!.params.slice(0, 2)).toEqual(['res', 'settled']);
    expect(Number(db.sent[1]!.params[2])).toBe(0.25);
  });

  it('finishes at no cost: the reservation released; a failure rolls the whole back', async () => {
    const db = fakeDb((sql) => (sql.includes('budget_close') ? new Error('ledger down') : undefined));
    const err = await thrown(
      finishAttempt(db, { ...ref, reservation: 'res' }, { ...started, outcome: 'error', latencyMs: 5 }),
    );
    expect((err as Error).message).toBe('ledger down');
    expect(db.log).toEqual([
      'BEGIN',
      'with recorded as (insert',
      'select budget_close($1, $2, $3::numeric)',
      'ROLLBACK',
    ]);
    expect(db.sent[1]!.params).toEqual(['res', 'released', null]);
  });
});

// ---- admit ----

describe('admit', () => {
  it('the bulkhead refuses a call past its cap with ProviderBusy, and frees its slot however a call ends', async () => {
    const b = new Bulkhead(1);
    let release!: () => void;
    const first = b.run('oa', () => new Promise<string>((r) => (release = () => r('done'))));
    expect(b.busy('oa')).toBe(1);
    const busy = await thrown(b.run('oa', async () => 'never'));
    expect(busy).toBeInstanceOf(ApplicationFailure);
    expect(busy.type).toBe('ProviderBusy');
    expect(busy.message).toBe('oa: 1 calls in flight on this worker, its limit (SWITCHYARD_MAX_CONCURRENT_CALLS)');
    expect(await b.run('an', async () => 'other provider')).toBe('other provider');
    release();
    expect(await first).toBe('done');
    await thrown(
      b.run('oa', async () => {
        throw new Error('boom');
      }),
    );
    expect(b.busy('oa')).toBe(0);
  });

  it('resolves the provider and model, or NotFound when the model left the catalog', () => {
    expect(resolveTarget(catalog, input())).toEqual({ provider, model });
    const f = (() => {
      try {
        resolveTarget(catalog, input({ modelId: 'oa/gone' }));
      } catch (err) {
        return err as ApplicationFailure;
      }
    })();
    expect(f?.type).toBe('NotFound');
    expect(f?.message).toBe("model 'oa/gone' left the catalog");
    expect(f?.details?.[0]).toMatchObject({ provider: 'oa', model: 'm' });
  });

  it('a stream not yet begun: nothing to resume, and no database read', async () => {
    const db = fakeDb();
    expect(await resumeIfStarted(db, new MemoryRelay(), input({ stream: true }))).toBeUndefined();
    expect(db.log).toEqual([]);
  });

  it('a stream begun whose answer is stored: ended normally from the stored answer and its winning attempt', async () => {
    const relay = new MemoryRelay();
    await relay.publish('r1', { type: 'delta', model: 'oa/m', from: '0.1', seq: 0, content: 'he' });
    const db = fakeDb((sql) =>
      sql.startsWith('select response')
        ? [
            {
              response: { content: 'he', finishReason: 'stop', providerModel: 'm-2026' },
              model: 'oa/m',
              created_at: new Date(),
            },
          ]
        : sql.startsWith('select * from request_attempts')
          ? [
              {
                request_id: 'r1',
                candidate_index: 0,
                attempt: 1,
                provider: 'oa',
                model: 'm',
                outcome: 'success',
                started_at: new Date(),
                latency_ms: 80,
                input_tokens: 10,
                output_tokens: 4,
                cost_usd: '0.000018',
              },
            ]
          : undefined,
    );
    const reading = readAll(relay, 'r1');
    const got = await resumeIfStarted(db, relay, input({ stream: true }));
    expect(got).toMatchObject({
      finishReason: 'stop',
      providerModel: 'm-2026',
      inputTokens: 10,
      outputTokens: 4,
      latencyMs: 80,
    });
    expect((await reading).at(-1)).toMatchObject({ type: 'end', from: '0.1', finishReason: 'stop', outputTokens: 4 });
  });

  it('a stream begun with no answer stored: StreamInterrupted, and the client gets the error event', async () => {
    const relay = new MemoryRelay();
    await relay.publish('r1', { type: 'delta', model: 'oa/m', from: '0.1', seq: 0, content: 'he' });
    await relay.publish('r1', { type: 'delta', model: 'oa/m', from: '0.1', seq: 1, content: 'llo' });
    const reading = readAll(relay, 'r1');
    const f = await thrown(resumeIfStarted(fakeDb(), relay, input({ stream: true })));
    expect(f.type).toBe('StreamInterrupted');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toBe(
      'interrupted after 2 chunks: the call streaming it stopped (its worker died or its attempt was given up)',
    );
    expect(f.details).toEqual([{ chunks: 2 }]);
    expect((await reading).at(-1)).toEqual({
      type: 'error',
      errorType: 'StreamInterrupted',
      message: f.message,
      chunks: 2,
    });
  });

  it('the breaker: open fails fast with BreakerOpen; half-open and closed pass, with their snapshot', async () => {
    const open = await thrown(checkBreaker(fakeHealth({ status: 'open', openUntil: 'T' }).health, input()));
    expect(open.type).toBe('BreakerOpen');
    expect(open.message).toBe('oa/m: breaker open until T');
    const forced = await thrown(checkBreaker(fakeHealth({ status: 'open' }).health, input()));
    expect(forced.message).toBe('oa/m: breaker open until an operator closes it');
    expect(await checkBreaker(fakeHealth({ status: 'half-open' }).health, input())).toMatchObject({
      status: 'half-open',
    });
    expect(await checkBreaker(fakeHealth().health, input())).toBeUndefined();
    expect(await checkBreaker(undefined, input())).toBeUndefined();
  });
});

// ---- reserve and record ----

describe('reserveAndRecord', () => {
  const noBudgets = { tenants: {} } as unknown as SwitchyardConfig;

  it('without a budget: the attempt starts and the body comes back in one statement', async () => {
    const db = fakeDb((sql) => (sql.startsWith('with started as') ? [storedRow] : undefined));
    const startedAt = new Date();
    const got = await reserveAndRecord(db, noBudgets, input(), startedAttempt(input(), 3, startedAt), startedAt);
    expect(db.log).toEqual(['with started as (insert']);
    expect(db.sent[0]!.params.slice(0, 6)).toEqual(['r1', 0, 3, 'oa', 'm', 'started']);
    expect(got.ref).toEqual({ requestId: 'r1', candidateIndex: 0, attempt: 3 });
    expect(got.request).toEqual({ operation: 'chat', body, createdAt: request.createdAt });
  });

  it("a local activity's attempt (fresh): recorded only if its number is free, else taken and nothing overwritten", async () => {
    const startedAt = new Date();
    const free = fakeDb((sql) => (sql.startsWith('with started as') ? [{ ...storedRow, written: 1 }] : undefined));
    const got = await reserveAndRecord(
      free,
      noBudgets,
      input(),
      startedAttempt(input(), 1, startedAt),
      startedAt,
      true,
    );
    expect(got).toMatchObject({ ref: { requestId: 'r1', candidateIndex: 0, attempt: 1 } });
    expect(free.sent[0]!.sql).toContain('do nothing');
    const used = fakeDb((sql) => (sql.startsWith('with started as') ? [{ ...storedRow, written: 0 }] : undefined));
    expect(
      await reserveAndRecord(used, noBudgets, input(), startedAttempt(input(), 1, startedAt), startedAt, true),
    ).toEqual({ taken: true });
    // A regular activity's retried task of the same attempt overwrites its own row.
    const regular = fakeDb((sql) => (sql.startsWith('with started as') ? [{ ...storedRow, written: 1 }] : undefined));
    await reserveAndRecord(regular, noBudgets, input(), startedAttempt(input(), 1, startedAt), startedAt);
    expect(regular.sent[0]!.sql).toContain('do update');
  });

  it('a tenant with no budget configured: no reservation, the attempt started on its own', async () => {
    const db = fakeDb((sql) => (sql.startsWith('with started as') ? [storedRow] : undefined));
    const got = await reserveAndRecord(
      db,
      noBudgets,
      input({ budget: { tenantId: 't1', reserveUsd: 0.5 } }),
      started,
      new Date(),
    );
    expect(got.ref.reservation).toBeUndefined();
    expect(db.log).toEqual(['with started as (insert']);
  });

  it('a budget that refuses: BudgetExceeded, nothing recorded', async () => {
    const config = {
      tenants: { t1: { budget: TenantBudgetSchema.parse({ perRequestUsd: 0.1 }) } },
    } as unknown as SwitchyardConfig;
    const db = fakeDb();
    const f = await thrown(
      reserveAndRecord(db, config, input({ budget: { tenantId: 't1', reserveUsd: 0.5 } }), started, new Date()),
    );
    expect(f.type).toBe('BudgetExceeded');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toBe('oa/m: worst case $0.500000 exceeds the per-request limit of $0.1');
    expect(f.details).toEqual([{ provider: 'oa', model: 'm', budget: undefined }]);
    expect(db.log).toEqual([]);
  });

  it('a request not in the database (the attempt has no row to reference): RequestNotFound', async () => {
    const fk = Object.assign(new Error('violates foreign key'), { code: '23503' });
    const f = await thrown(
      reserveAndRecord(
        fakeDb(() => fk),
        noBudgets,
        input(),
        started,
        new Date(),
      ),
    );
    expect(f.type).toBe('RequestNotFound');
    expect(f.message).toBe('request r1 is not in the database');
    const other = new Error('connection reset');
    expect(
      await thrown(
        reserveAndRecord(
          fakeDb(() => other),
          noBudgets,
          input(),
          started,
          new Date(),
        ),
      ),
    ).toBe(other);
  });
});

// ---- confirm: batch cancel and probe ----

describe('confirm', () => {
  it('a call outside a batch asks nothing', async () => {
    const db = fakeDb();
    await checkBatch(db, input(), ref);
    expect(db.log).toEqual([]);
  });

  it('a batch still running lets the call on; a cancelled one withdraws it: BatchCancelled', async () => {
    const running = fakeDb(() => [{ c: false }]);
    await checkBatch(running, input({ batchId: 'b1' }), ref);
    expect(running.log).toEqual(['select cancelled_at is not']);
    const cancelled = fakeDb((sql) => (sql.startsWith('select cancelled_at') ? [{ c: true }] : undefined));
    const f = await thrown(checkBatch(cancelled, input({ batchId: 'b1' }), { ...ref, reservation: 'res' }));
    expect(f.type).toBe('BatchCancelled');
    expect(f.message).toBe('batch b1 was cancelled');
    expect(f.nonRetryable).toBe(true);
    expect(cancelled.log).toEqual([
      'select cancelled_at is not',
      'BEGIN',
      'delete from request_attempts where',
      'select budget_close($1, $2, $3::numeric)',
      'COMMIT',
    ]);
  });

  it('a half-open breaker: the probe slot taken is this call; refused, the attempt is withdrawn: BreakerOpen', async () => {
    const db = fakeDb();
    const closed = fakeHealth();
    expect(await takeProbe(db, closed.health, undefined, input(), ref)).toBe(false);
    expect(closed.probes).toEqual([]);
    const granted = fakeHealth({ status: 'half-open' }, true);
    expect(await takeProbe(db, granted.health, { status: 'half-open' } as BreakerSnapshot, input(), ref)).toBe(true);
    expect(granted.probes).toEqual(['oa/m']);
    expect(db.log).toEqual([]);
    const taken = fakeHealth({ status: 'half-open' }, false);
    const f = await thrown(takeProbe(db, taken.health, { status: 'half-open' } as BreakerSnapshot, input(), ref));
    expect(f.type).toBe('BreakerOpen');
    expect(f.message).toBe('oa/m: breaker half-open and its probe is taken');
    expect(db.log).toEqual(['BEGIN', 'delete from request_attempts where', 'COMMIT']);
  });
});

// ---- rate gate ----

describe('takeTurn', () => {
  const limited = (over: Partial<Provider>): Provider => ({ ...provider, ...over });

  it('a provider without rate limits: no gate, nothing written', async () => {
    const db = fakeDb();
    const { ctx } = fakeCtx();
    expect(await takeTurn({ db }, ctx, input(), { provider, model }, request, new Date(), ref)).toBeUndefined();
    expect(db.log).toEqual([]);
  });

  it('rpm only: the wait in the queue (scheduled to started) goes on the attempt and the metric', async () => {
    const db = fakeDb();
    const { metrics, observed } = fakeMetrics();
    const startedAt = new Date();
    const { ctx } = fakeCtx(startedAt.getTime() - 1_500);
    const turn = await takeTurn(
      { db, metrics },
      ctx,
      input(),
      { provider: limited({ rpm: 60 }), model },
      request,
      startedAt,
      ref,
    );
    expect(db.log).toEqual(['update request_attempts set queued_ms']);
    expect(db.sent[0]!.params).toEqual(['r1', 0, 2, 1_500]);
    expect(observed).toEqual([{ metric: 'rateLimitWaitSeconds', labels: { provider: 'oa' }, value: 1.5 }]);
    turn!.settle(100);
    expect(db.log).toHaveLength(1); // no tokens were taken: nothing to adjust
  });

  it('tpm with room: takes the estimate from this minute and corrects it by what the call used', async () => {
    const db = fakeDb((sql) => (sql.startsWith('insert into provider_tokens') ? [{ tokens: 1 }] : undefined));
    const { ctx } = fakeCtx();
    const estimate = tokenEstimate(model, request);
    const turn = await takeTurn(
      { db },
      ctx,
      input(),
      { provider: limited({ tpm: 10_000 }), model },
      request,
      new Date(),
      ref,
    );
    expect(db.log).toEqual(['insert into provider_tokens (provider,', 'update request_attempts set queued_ms']);
    expect(db.sent[0]!.params.slice(2)).toEqual([estimate, 10_000]);
    turn!.settle(estimate - 900);
    expect(db.log.at(-1)).toBe('update provider_tokens set tokens');
    expect(db.sent.at(-1)!.params.at(-1)).toBe(-900);
  });

  it('tpm full for this minute: waits for the next with heartbeats, then takes it; the wait goes on record', async () => {
    let takes = 0;
    // This minute is full; the next has room.
    const db = fakeDb((sql) =>
      sql.startsWith('insert into provider_tokens') ? (++takes === 1 ? [] : [{ tokens: 1 }]) : undefined,
    );
    const { ctx, slept, beats } = fakeCtx();
    // The clock moves only when the gate sleeps.
    const realNow = Date.now;
    let offset = 0;
    Date.now = () => realNow() + offset;
    const sleep = ctx.sleep;
    ctx.sleep = async (ms) => {
      offset += ms;
      return sleep(ms);
    };
    try {
      const startedAt = new Date(Date.now());
      await takeTurn(
        { db },
        ctx,
        input(),
        { provider: limited({ tpm: 1_000, rateLimitWaitMs: 120_000 }), model },
        request,
        startedAt,
        ref,
      );
    } finally {
      Date.now = realNow;
    }
    const minutes = db.sent.filter((s) => s.sql.startsWith('insert into provider_tokens')).map((s) => s.params[1]);
    expect(minutes).toHaveLength(2);
    expect((minutes[1] as Date).getTime() - (minutes[0] as Date).getTime()).toBe(60_000);
    expect(beats()).toBe(slept.length);
    expect(slept.every((ms) => ms <= 2_000)).toBe(true);
    const queued = db.sent.at(-1)!;
    expect(queued.sql).toMatch(/^update request_attempts set queued_ms/);
    expect(queued.params[3]).toBeGreaterThanOrEqual(offset - 5);
  });

  it('tpm full and the next minute past the bound: the attempt withdrawn, RateLimited', async () => {
    const db = fakeDb();
    const { ctx } = fakeCtx();
    const f = await thrown(
      takeTurn(
        { db },
        ctx,
        input(),
        { provider: limited({ tpm: 1_000, rateLimitWaitMs: 100 }), model },
        request,
        new Date(),
        { ...ref, reservation: 'res' },
      ),
    );
    expect(f.type).toBe('RateLimited');
    expect(f.message).toMatch(/^oa: its tpm limit \(1000\) has no room for \d+ more tokens this minute/);
    expect(db.log.slice(-4)).toEqual([
      'BEGIN',
      'delete from request_attempts where',
      'select budget_close($1, $2, $3::numeric)',
      'COMMIT',
    ]);
    expect(db.log).not.toContain('update request_attempts set queued_ms');
  });
});

// ---- invoke ----

function fakeAdapter(onDeltas: Array<{ content: string }> = []) {
  const calls: Array<{ how: 'chat' | 'stream'; input: unknown; options: Record<string, unknown> }> = [];
  const adapter: ProviderAdapter = {
    providerId: 'oa',
    chat: async (i, options) => {
      calls.push({ how: 'chat', input: i, options: { ...options } });
      return answer();
    },
    chatStream: async (i, options, onDelta) => {
      calls.push({ how: 'stream', input: i, options: { ...options } });
      for (const d of onDeltas) onDelta(d);
      return answer({ content: onDeltas.map((d) => d.content).join('') });
    },
  };
  return { adapter, calls };
}

describe('invoke', () => {
  it('a whole answer: the call bounded by its timeout; under a budget, the output capped', async () => {
    const { adapter, calls } = fakeAdapter();
    const signal = new AbortController().signal;
    const out = await invoke(adapter, call({ input: input({ budget: { tenantId: 't', reserveUsd: 1 } }) }), signal, {
      firstTokenMs: 1,
      idleMs: 1,
    });
    expect(out).toMatchObject({ usage: { inputTokens: 10, outputTokens: 4, providerModel: 'm-2026' } });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.how).toBe('chat');
    expect(calls[0]!.options).toEqual({ signal, timeoutMs: 5_000 });
    expect(calls[0]!.input).toMatchObject({ model: 'm', maxOutputTokens: expect.any(Number) });
  });

  it('a stream: each piece to the relay; its first token capped by the call timeout', async () => {
    const { adapter, calls } = fakeAdapter([{ content: 'he' }, { content: 'llo' }]);
    const relay = new MemoryRelay();
    const stream = openStream(relay, input({ stream: true }), 2);
    const reading = readAll(relay, 'r1');
    await invoke(
      adapter,
      call({ input: input({ stream: true, timeoutMs: 3_000 }), stream }),
      new AbortController().signal,
      {
        firstTokenMs: 20_000,
        idleMs: 7_000,
      },
    );
    expect(calls[0]!.how).toBe('stream');
    expect(calls[0]!.options).toMatchObject({ limits: { firstTokenMs: 3_000, idleMs: 7_000 } });
    expect(calls[0]!.options.timeoutMs).toBeGreaterThan(3_000); // a stream's bound is STREAM_CALL_MAX_MS
    expect(stream.answer.content).toBe('hello');
    await stream.end({ finishReason: 'stop', inputTokens: 1, outputTokens: 2 });
    expect((await reading).map((e) => (e.type === 'delta' ? `${e.from}:${e.content}` : e.type))).toEqual([
      '0.2:he',
      '0.2:llo',
      'end',
    ]);
  });

  it('heartbeats while the work runs, and passes on its result or its failure', async () => {
    let beats = 0;
    let beat!: () => void;
    const beaten = new Promise<void>((r) => (beat = r));
    const ctx = {
      heartbeat: () => {
        beats++;
        beat();
      },
    };
    expect(await heartbeating(ctx, () => beaten.then(() => 'done'))).toBe('done');
    expect(beats).toBeGreaterThanOrEqual(1);
    const boom = new Error('boom');
    expect(await thrown(heartbeating(ctx, () => Promise.reject(boom)))).toBe(boom);
    expect(DEFAULT_STREAM_LIMITS).toEqual({ firstTokenMs: 20_000, idleMs: 30_000, maxMalformed: 3 });
  });
});

// ---- settle ----

describe('settle', () => {
  const completed = (sql: string) =>
    sql.startsWith('with abandoned as')
      ? [{ attempts: [], abandoned: [{ candidate_index: 1, attempt: 1, provider: 'an', model: 'x' }] }]
      : undefined;

  it('a success: the attempt, the reservation settled and the request completed in one commit; breaker and metric told', async () => {
    const db = fakeDb(completed);
    const { health, reports } = fakeHealth();
    const { metrics, observed } = fakeMetrics();
    const adjusted: number[] = [];
    const got = await settleAnswer(
      { db, health, metrics },
      call({ ref: { ...ref, reservation: 'res' }, probe: true, tokens: { settle: (n) => adjusted.push(n) } }),
      output(),
    );
    expect(db.log).toEqual([
      'BEGIN',
      'with recorded as (insert',
      'select budget_close($1, $2, $3::numeric)',
      'with abandoned as (',
      "select budget_close(id, 'settled', amount_usd)", // the abandoned attempt's reservation spent
      'COMMIT',
    ]);
    const cost = costUsd(model, 10, 4);
    expect(attemptRows(db)).toEqual([
      {
        outcome: 'success',
        errorType: null,
        errorMessage: null,
        status: null,
        inputTokens: 10,
        outputTokens: 4,
        costUsd: cost,
      },
    ]);
    expect(got).toMatchObject({
      providerModel: 'm-2026',
      finishReason: 'stop',
      inputTokens: 10,
      outputTokens: 4,
      costUsd: cost,
    });
    expect(adjusted).toEqual([14]);
    expect(reports.map((r) => [r.endpoint, r.outcome.ok, r.outcome.type, r.outcome.probe])).toEqual([
      ['oa/m', true, undefined, true],
      ['an/x', false, 'Abandoned', undefined], // the attempt the request's completion found abandoned
    ]);
    expect(observed.map((o) => [o.metric, o.labels.outcome])).toEqual([['providerSeconds', 'success']]);
  });

  it('malformed events a stream skipped: counted by provider and model as they come, then on the attempt', async () => {
    const counted: Array<Record<string, string>> = [];
    const metrics = { malformedEvents: { inc: (labels: Record<string, string>) => counted.push(labels) } };
    const warned: unknown[] = [];
    logSwallowedTo({ warn: (o: unknown) => void warned.push(o) });
    const c = call();
    malformedSkipped(metrics as unknown as Metrics, c, { reason: 'not JSON', bytes: 12, count: 1 });
    malformedSkipped(metrics as unknown as Metrics, c, { reason: 'not JSON', bytes: 9, count: 2 });
    expect(counted).toEqual([
      { provider: 'oa', model: 'oa/m' },
      { provider: 'oa', model: 'oa/m' },
    ]);
    expect(warned).toEqual([
      { provider: 'oa', model: 'oa/m', requestId: 'r1', attempt: 2, reason: 'not JSON', bytes: 12, count: 1 },
      { provider: 'oa', model: 'oa/m', requestId: 'r1', attempt: 2, reason: 'not JSON', bytes: 9, count: 2 },
    ]);
    const db = fakeDb(completed);
    await settleAnswer({ db }, c, output());
    const row = db.sent.find((x) => x.sql.startsWith('with recorded as (insert into request_attempts'))!;
    expect(row.params[14]).toBe(2); // malformed_events
    const clean = fakeDb(completed);
    await settleAnswer({ db: clean }, call(), output());
    expect(
      clean.sent.find((x) => x.sql.startsWith('with recorded as (insert into request_attempts'))!.params[14],
    ).toBeNull();
  });

  it('a success streamed: the end event after the commit', async () => {
    const relay = new MemoryRelay();
    const stream = openStream(relay, input({ stream: true }), 2);
    stream.delta({ content: 'hi' });
    const reading = readAll(relay, 'r1');
    await settleAnswer({ db: fakeDb(completed) }, call({ stream }), output());
    expect((await reading).at(-1)).toMatchObject({ type: 'end', chunks: 1, finishReason: 'stop', outputTokens: 4 });
  });

  it('invalid output: paid for and recorded as InvalidOutput; the breaker still hears the endpoint was fine', async () => {
    const db = fakeDb();
    const { health, reports } = fakeHealth();
    const f = await thrown(
      settleAnswer(
        { db, health },
        call(),
        output({ invalid: 'oa/m returned invalid JSON in JSON mode', stored: undefined }),
      ),
    );
    expect(f.type).toBe('InvalidOutput');
    expect(f.message).toBe('oa/m returned invalid JSON in JSON mode');
    expect(attemptRows(db)).toEqual([
      {
        outcome: 'error',
        errorType: 'InvalidOutput',
        errorMessage: 'oa/m returned invalid JSON in JSON mode',
        status: null,
        inputTokens: 10,
        outputTokens: 4,
        costUsd: costUsd(model, 10, 4),
      },
    ]);
    expect(db.log).toEqual(['BEGIN', 'with recorded as (insert', 'COMMIT']);
    expect(reports.map((r) => r.outcome.ok)).toEqual([true]);
  });

  it('invalid output after pieces were streamed: the stream is interrupted (no fallback can mend it)', async () => {
    const relay = new MemoryRelay();
    const stream = openStream(relay, input({ stream: true }), 2);
    stream.delta({ content: '{"a":' });
    const reading = readAll(relay, 'r1');
    const db = fakeDb();
    const f = await thrown(settleAnswer({ db }, call({ stream }), output({ invalid: 'bad json', stored: undefined })));
    expect(f.type).toBe('StreamInterrupted');
    expect(f.message).toBe('interrupted after 1 chunks: bad json');
    expect(attemptRows(db)).toMatchObject([
      {
        errorType: 'StreamInterrupted',
        errorMessage: 'interrupted after 1 chunks: bad json (InvalidOutput)',
        inputTokens: 10,
      },
    ]);
    expect((await reading).at(-1)).toEqual({
      type: 'error',
      errorType: 'StreamInterrupted',
      message: f.message,
      chunks: 1,
    });
  });

  it('a provider failure: recorded with its type and status, the breaker told type and status only', async () => {
    const db = fakeDb();
    const { health, reports } = fakeHealth();
    const { metrics, observed } = fakeMetrics();
    const adjusted: number[] = [];
    const err = failure('RateLimited', 'oa said slow down, key sk-secret', { provider: 'oa', model: 'm', status: 429 });
    const f = await settleFailure(
      { db, health, metrics },
      call({ ref: { ...ref, reservation: 'res' }, probe: true, tokens: { settle: (n) => adjusted.push(n) } }),
      err,
      false,
    );
    expect(f).toBe(err);
    expect(adjusted).toEqual([0]);
    expect(attemptRows(db)).toEqual([
      {
        outcome: 'error',
        errorType: 'RateLimited',
        errorMessage: err.message,
        status: 429,
        inputTokens: null,
        outputTokens: null,
        costUsd: null,
      },
    ]);
    expect(db.log).toEqual(['BEGIN', 'with recorded as (insert', 'select budget_close($1, $2, $3::numeric)', 'COMMIT']);
    expect(reports).toEqual([
      {
        endpoint: 'oa/m',
        outcome: {
          ok: false,
          type: 'RateLimited',
          message: 'RateLimited (HTTP 429)',
          latencyMs: expect.any(Number),
          probe: true,
        },
      },
    ]);
    expect(observed.map((o) => o.labels)).toEqual([{ provider: 'oa', model: 'oa/m', outcome: 'RateLimited' }]);
  });

  it('an error that is not ours yet is mapped onto a failure type (a timeout)', async () => {
    const db = fakeDb();
    const f = await settleFailure(
      { db },
      call(),
      Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
      false,
    );
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(attemptRows(db)[0]!.errorType).toBe(f.type);
  });

  it('cancelled (the request gave up): recorded as Cancelled, the breaker not told', async () => {
    const db = fakeDb();
    const { health, reports } = fakeHealth();
    const { metrics, observed } = fakeMetrics();
    await settleFailure({ db, health, metrics }, call(), new Error('aborted'), true);
    expect(attemptRows(db)[0]).toMatchObject({ outcome: 'error', errorType: 'Cancelled' });
    expect(reports).toEqual([]);
    expect(observed.map((o) => o.labels.outcome)).toEqual(['Cancelled']);
  });

  it('a failure after pieces were streamed: interrupted, settled on what was sent', async () => {
    const relay = new MemoryRelay();
    const stream = openStream(relay, input({ stream: true }), 2);
    stream.delta({ content: 'hello wor' });
    const reading = readAll(relay, 'r1');
    const db = fakeDb();
    const err = failure('Overloaded', 'oa: 502', { provider: 'oa', model: 'm', status: 502 });
    const f = await settleFailure({ db }, call({ stream }), err, false);
    expect(f.type).toBe('StreamInterrupted');
    const spent = streamedSpend(call(), stream.answer);
    expect(spent.outputTokens).toBeGreaterThan(0);
    expect(attemptRows(db)).toEqual([
      {
        outcome: 'error',
        errorType: 'StreamInterrupted',
        errorMessage: `interrupted after 1 chunks: ${err.message} (Overloaded)`,
        status: 502,
        ...spent,
      },
    ]);
    expect((await reading).at(-1)).toMatchObject({ type: 'error', errorType: 'StreamInterrupted', chunks: 1 });
  });
});

// ---- the pipeline, in an activity context ----

describe('callModel', () => {
  // The mock environment logs each failed activity as a warning: these fail on purpose.
  const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  function deps(db: FakeDb, adapter: ProviderAdapter, health?: HealthPort): ActivityDeps {
    const config = { catalog, tenants: {} } as unknown as SwitchyardConfig;
    return {
      db,
      config: () => ({ version: 1, config, source: 'test' }) as ReturnType<ActivityDeps['config']>,
      adapters: { get: async () => adapter } as unknown as ActivityDeps['adapters'],
      health,
    };
  }
  const answering = (sql: string) =>
    sql.startsWith('with started as')
      ? [storedRow]
      : sql.startsWith('with abandoned as')
        ? [{ attempts: [], abandoned: [] }]
        : undefined;

  it('a success: the attempt started with the body read, then one transaction (the round trips of roundTrips.test)', async () => {
    const db = fakeDb(answering);
    const { adapter, calls } = fakeAdapter();
    const { health, reports } = fakeHealth();
    const env = new MockActivityEnvironment({ attempt: 1 }, { logger: quiet });
    const { callModel } = createCallModelActivity(deps(db, adapter, health));
    const got = await env.run(callModel, input());
    expect(got).toMatchObject({ providerModel: 'm-2026', inputTokens: 10, outputTokens: 4 });
    expect(calls).toHaveLength(1);
    expect(db.log).toEqual([
      'with started as (insert',
      'BEGIN',
      'with recorded as (insert',
      'with abandoned as (',
      'COMMIT',
    ]);
    expect(db.sent[0]!.params[2]).toBe(1); // the attempt number is Temporal's
    expect(reports.map((r) => r.outcome.ok)).toEqual([true]);
  });

  it('a provider failure: thrown as its failure type after the attempt is on record', async () => {
    const db = fakeDb(answering);
    const err = failure('Overloaded', 'oa: 500', { provider: 'oa', model: 'm', status: 500 });
    const adapter: ProviderAdapter = { ...fakeAdapter().adapter, chat: () => Promise.reject(err) };
    const { callModel } = createCallModelActivity(deps(db, adapter));
    const f = await thrown(new MockActivityEnvironment(undefined, { logger: quiet }).run(callModel, input()));
    expect(f.type).toBe('Overloaded');
    expect(attemptRows(db)).toMatchObject([{ outcome: 'error', errorType: 'Overloaded', status: 500 }]);
  });

  it('a half-open breaker whose probe is taken: no call, the attempt withdrawn', async () => {
    const db = fakeDb(answering);
    const { adapter, calls } = fakeAdapter();
    const { callModel } = createCallModelActivity(deps(db, adapter, fakeHealth({ status: 'half-open' }, false).health));
    const f = await thrown(new MockActivityEnvironment(undefined, { logger: quiet }).run(callModel, input()));
    expect(f.type).toBe('BreakerOpen');
    expect(calls).toEqual([]);
    expect(db.log).toEqual(['with started as (insert', 'BEGIN', 'delete from request_attempts where', 'COMMIT']);
  });
});
