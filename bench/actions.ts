/**
 * What one plain (not streamed) chat request costs: its routeRequest history (events by type,
 * workflow tasks, activities and local activities, timers, search-attribute upserts, signals,
 * updates), its Temporal Cloud billable actions by the published rules (bench/historyCount.ts
 * cites them), what it caused in other workflows (the breaker's signal), and its database
 * statements, listed. Runs the real stack (a Temporal dev server, the workers, the API over HTTP,
 * a fake OpenAI-format provider, PGlite or DATABASE_URL) as the integration tests assemble it,
 * with breakers on and a tenant budget, the setting of test/integration/roundTrips.test.ts.
 *
 *   npm run bench:actions                  (the path the configuration's defaults choose)
 *   FAST_PATH=on npm run bench:actions     (routing.fastPath.enabled: true, the default: a call
 *                                           bounded by maxCallMs, 60 s, runs as a local activity)
 *   FAST_PATH=off npm run bench:actions    (the regular path: the call as an activity)
 *   TIMEOUT_MS=… npm run bench:actions     (X-Switchyard-Timeout-Ms of the requests)
 *   REQUESTS=5 npm run bench:actions       (counts the last of five; the first warms up)
 */
import OpenAI from 'openai';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { countHistory, type HistoryCount } from './historyCount';
import { CatalogSchema } from '../src/domain/catalog';
import type { SwitchyardConfigInput } from '../src/domain/config';
import { fakeCatalogProviders, fakeModel, setDailyBudget, startTestStack, type TestStack } from '../test/support/stack';

type Event = temporal.api.history.v1.IHistoryEvent;
const T = temporal.api.enums.v1.EventType;

const REQUESTS = Math.max(2, Number(process.env.REQUESTS ?? 2));
const FAST_PATH = process.env.FAST_PATH;
if (FAST_PATH !== undefined && FAST_PATH !== 'on' && FAST_PATH !== 'off')
  throw new Error(`FAST_PATH: on or off, not ${FAST_PATH}`);
// The default per-attempt timeout (60 s) is longer than a fast-path call may be (30 s by default):
// a request asks for a short deadline to take it.
const TIMEOUT_MS = process.env.TIMEOUT_MS;

// Read through per-process caches (at most once a second), not once per request, and a key's last
// use (at most once a minute): as test/integration/roundTrips.test.ts sorts them.
const CACHED = [
  'select k.*, t.deleted_at is not null as tenant_deleted',
  'select * from budget_windows',
  'select snapshot from breaker_states',
  'update api_keys set last_used_at',
];
const isCached = (s: string) => CACHED.some((c) => s.startsWith(c));

/** Every workflow's events so far, by workflow and run id. */
async function allHistories(client: Client): Promise<Map<string, { id: string; type: string; events: Event[] }>> {
  const out = new Map<string, { id: string; type: string; events: Event[] }>();
  for await (const w of client.workflow.list()) {
    const h = await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
    out.set(`${w.workflowId}/${w.runId}`, { id: w.workflowId, type: w.type, events: h.events ?? [] });
  }
  return out;
}

/** No workflow task or activity is open: what the history will hold until something new arrives. */
function settled(events: Event[]): boolean {
  let open = 0;
  for (const e of events) {
    if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED || e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      open++;
    if (
      e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED ||
      e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_FAILED ||
      e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT ||
      e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED ||
      e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_FAILED ||
      e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT ||
      e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_CANCELED
    )
      open--;
  }
  return open <= 0;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !(await ok());) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function describe(c: HistoryCount): string[] {
  const las = c.localActivities.map((l) => `${l.type} (task ${l.workflowTask}, attempt ${l.attempt})`);
  return [
    `history events: ${c.events}`,
    '',
    '| event type | count |',
    '| --- | ---: |',
    ...Object.entries(c.byType).map(([t, n]) => `| ${t} | ${n} |`),
    '',
    `workflow tasks: ${c.workflowTasks.completed} completed, ${c.workflowTasks.failed} failed, ${c.workflowTasks.timedOut} timed out, ${c.workflowTasks.heartbeats} heartbeats`,
    `activities: ${c.activities.map((a) => `${a.type} (${a.attempts} attempt${a.attempts === 1 ? '' : 's'})`).join(', ') || 'none'}`,
    `local activities: ${las.join(', ') || 'none'}`,
    `timers: ${c.timers}; search-attribute upserts: ${c.upserts.length} (${c.upserts.filter((u) => u.billable).length} billable); signals: ${c.signals}; updates: ${c.updates}; child workflows: ${c.children}; patch markers: ${c.patches.join(', ') || 'none'}`,
  ];
}

const actionRows = (c: HistoryCount) => c.actions.map((a) => `| ${a.eventId} | ${a.what} | ${a.actions} |`);

async function main(): Promise<void> {
  const config: Omit<SwitchyardConfigInput, 'catalog'> | undefined =
    FAST_PATH === undefined
      ? undefined
      : // Unknown to a build without the fast path: its configuration is strict and says so.
        ({ routing: { fastPath: { enabled: FAST_PATH === 'on' } } } as Omit<SwitchyardConfigInput, 'catalog'>);
  let stack: TestStack;
  try {
    stack = await startTestStack({
      breakers: true,
      catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
      ...(config && { config }),
    });
  } catch (err) {
    if (FAST_PATH !== undefined)
      console.error(`FAST_PATH=${FAST_PATH}: this build's configuration has no routing.fastPath.enabled?`);
    throw err;
  }
  try {
    await setDailyBudget(stack, 100);
    const openai = new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 0 });
    const ask = async (i: number) => {
      const { data, response } = await openai.chat.completions
        .create(
          { model: 'auto', messages: [{ role: 'user', content: `hello ${i}` }] },
          { headers: TIMEOUT_MS ? { 'x-switchyard-timeout-ms': TIMEOUT_MS } : {} },
        )
        .withResponse();
      if (!data.choices[0]?.message.content) throw new Error('no answer');
      return response.headers.get('x-switchyard-workflow-id')!;
    };
    const client = stack.env.client;

    // Warm-up: the first request starts the endpoint's breaker entity and fills the caches.
    for (let i = 0; i < REQUESTS - 1; i++) await ask(i);
    await stack.health!.flush();
    await until('the breaker projection row', async () => {
      const rows = await stack.db.query<{ n: string }>('select count(*) as n from breaker_states');
      return Number(rows.rows[0]!.n) > 0;
    });
    await until('the other workflows to settle', async () =>
      [...(await allHistories(client)).values()].every((w) => settled(w.events)),
    );
    const before = await allHistories(client);
    const queries0 = stack.healthQueries();

    stack.db.reset();
    const workflowId = await ask(REQUESTS - 1);
    const statements = stack.db.statements();
    // The breaker hears of the call in a batch (every 2 s, or at once here).
    await stack.health!.flush();
    let after = await allHistories(client);
    await until('the other workflows to settle', async () => {
      after = await allHistories(client);
      return [...after.values()].every((w) => settled(w.events));
    });
    const later = stack.db.statements().slice(statements.length);

    const mine = [...after.values()].find((w) => w.id === workflowId)!;
    const c = countHistory(mine.events);
    const callAs = c.activities.some((a) => a.type === 'callModel')
      ? 'an activity (regular path)'
      : c.localActivities.some((l) => l.type === 'callModel')
        ? 'a local activity (fast path)'
        : 'neither?';

    const others = [...after.entries()]
      .filter(([, w]) => w.id !== workflowId)
      .map(([key, w]) => ({ w, slice: w.events.slice(before.get(key)?.events.length ?? 0) }))
      .filter((o) => o.slice.length > 0)
      .map((o) => ({ ...o, count: countHistory(o.slice) }));
    const queries = stack.healthQueries() - queries0;
    const otherActions = others.reduce((n, o) => n + o.count.totalActions, 0);
    const counted = statements.filter((s) => !isCached(s));

    const lines = [
      `bench:actions, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, FAST_PATH=${FAST_PATH ?? '(default)'}, X-Switchyard-Timeout-Ms: ${TIMEOUT_MS ?? '(none)'}, request ${REQUESTS} of ${REQUESTS}, ${new Date().toISOString()}`,
      '',
      `routeRequest ${workflowId}: the call ran as ${callAs}`,
      ...describe(c),
      '',
      `Temporal Cloud billable actions of the request's workflow: ${c.totalActions}`,
      '',
      '| event | what | actions |',
      '| ---: | --- | ---: |',
      ...actionRows(c),
      '',
      `other workflows the request touched: ${others.length ? '' : 'none'}`,
      ...others.flatMap((o) => [
        `- ${o.w.type} ${o.w.id}: ${o.slice.length} new events (${Object.entries(o.count.byType)
          .map(([t, n]) => `${t} ${n}`)
          .join(', ')}), ${o.count.totalActions} billable: ${o.count.actions.map((a) => a.what).join('; ') || '—'}`,
      ]),
      `workflow queries by the app's breaker client: ${queries} (each would be an action; they leave no event)`,
      '',
      `billable actions per request, all workflows: ${c.totalActions + otherActions + queries} (${c.totalActions} its own + ${otherActions} elsewhere + ${queries} queries)`,
      '  (breaker outcomes are batched per endpoint and worker: successes every 2 s, failures within 200 ms,',
      '   so under load the breaker signal is shared by all the requests of its batch)',
      '',
      `database statements until the answer: ${counted.length}, besides ${statements.length - counted.length} read through the per-process caches or the key's last-use touch`,
      ...statements.map((s, i) => `${String(i + 1).padStart(3)}. ${isCached(s) ? '(cached) ' : ''}${s}`),
      `database statements after the answer (the entities' own, this request's share): ${later.length}`,
      ...later.map((s, i) => `${String(i + 1).padStart(3)}. ${s}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
