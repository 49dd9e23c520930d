/**
 * The database round trips of a one-attempt success, with a tenant budget and breakers on:
 * counted statement by statement (BEGIN and COMMIT included: each is a round trip to a server).
 * It was 17: the key read each time, the row read whole three times, budget windows read per
 * request, the answer, abandonment, attempt list and completion as four statements.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack({
  breakers: true,
  catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
});
beforeAll(async () => {
  const set = await fetch(`${stack.baseURL}/admin/tenants/${stack.tenantId}/budget`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ dailyUsd: 100 }),
  });
  expect(set.status).toBe(200);
});

// Read through per-process caches (at most once a second, single flight), not once per request.
const CACHED = [
  'select k.*, t.deleted_at is not null as tenant_deleted', // the API key's lookup
  'select * from budget_windows',
  'select snapshot from breaker_states', // the breakers' projection (src/clients/providerHealth.ts)
];
// A key's last use, written at most once a minute per key.
const TOUCH = 'update api_keys set last_used_at';
const cached = (s: string) => CACHED.some((c) => s.startsWith(c)) || s.startsWith(TOUCH);
const ask = (i: number) =>
  stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: `hello ${i}` }] });

it('a one-attempt success costs ten database round trips besides the cached reads', async () => {
  expect((await ask(0)).status).toBe(200);
  // The first request starts the endpoint's breaker entity, which writes its projection row on its
  // own time: wait for it, so a loaded machine does not count it against the next request.
  for (const end = Date.now() + 30_000; ;) {
    const rows = await stack.db.query<{ n: string }>('select count(*) as n from breaker_states');
    if (Number(rows.rows[0]!.n) > 0) break;
    if (Date.now() > end) throw new Error('the breaker entity never wrote its projection row');
    await new Promise((r) => setTimeout(r, 50));
  }
  stack.db.reset();
  const res = await ask(1);
  expect(res.status).toBe(200);
  expect(res.body.switchyard.attempts).toHaveLength(1);
  // Each is a round trip; the whole list, so a new one shows in the diff when this fails.
  expect(
    stack.db
      .statements()
      .filter((s) => !cached(s))
      .map((s) => s.split(' ').slice(0, 4).join(' ')),
  ).toEqual([
    'insert into requests (request_id,', // the API stores the body
    'select operation, body, created_at', // classify reads it
    'update requests set classification', // the decision, with its input
    'with res as (select', // the call reserves its worst case, puts the attempt on record as started, reads the body
    'BEGIN',
    'with recorded as (insert', // the attempt's outcome (and its usage event)
    'select budget_close($1, $2, $3::numeric)', // its reservation settled at the real cost
    'with abandoned as (', // the request completed with its answer; attempts returned
    'COMMIT',
    'select response, model, created_at', // the API reads the answer
  ]);
});

it('the API key, budget usage and breaker states are read once a second at most, not per request', async () => {
  stack.db.reset();
  const N = 50;
  const results = await Promise.all(Array.from({ length: N }, (_, i) => ask(100 + i)));
  expect(results.map((r) => r.status)).toEqual(Array(N).fill(200));
  const reads = stack.db.statements().filter(cached);
  const count = (prefix: string) => reads.filter((r) => r.startsWith(prefix)).length;
  // However slow the machine, far fewer than one per request (single flight, then a second's reuse).
  for (const c of CACHED) expect(count(c)).toBeLessThan(N / 5);
  expect(count(CACHED[1]!)).toBeGreaterThan(0); // budget usage is read, just not per request
});
