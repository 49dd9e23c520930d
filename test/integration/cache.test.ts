/**
 * The response cache over real HTTP with the official client, in process and in Redis: a repeat
 * of the same request (its keys in another order) is answered from the cache without
 * a provider call or budget, marked in the response and its record; `Cache-Control: no-cache`
 * bypasses it; another request misses; an operator drops entries by model, by tenant or all.
 */
import { fakeCatalog, fakeModel, openaiClient, useTestStack, setDailyBudget } from '../support/stack';

describe.each(['memory', 'redis'] as const)('response cache in %s', (where) => {
  const stack = useTestStack(
    {
      relay: where,
      cache: { chat: 60, sentiment: 60 },
      catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'm')]),
    },
    { timeout: 120_000 },
  );
  beforeAll(async () => {
    await setDailyBudget(stack, 10);
  });

  const spent = async () =>
    (
      (await (
        await fetch(`${stack.baseURL}/budgets`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
      ).json()) as { windows: Array<{ window: string; spent_usd: number }> }
    ).windows.find((w) => w.window === 'daily')!.spent_usd;
  const record = async (id: string) =>
    (await (
      await fetch(`${stack.baseURL}/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
    ).json()) as {
      status: string;
      cache_hit: boolean;
      cached_from: string | null;
      cost_usd: number;
      attempts: unknown[];
    };
  const invalidate = async (query: string, key = stack.operatorKey) =>
    fetch(`${stack.baseURL}/admin/cache${query}`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } });

  it('answers a repeat from the cache: no provider call, no budget, marked in the response and the record', async () => {
    const client = openaiClient(stack);
    const question = `What is a switchyard? (${where})`;
    const first = await client.chat.completions
      .create({ model: 'oa/m', temperature: 0, messages: [{ role: 'user', content: question }] })
      .withResponse();
    expect(first.response.headers.get('x-switchyard-cache')).toBe('miss');
    const calls = stack.fakes.openai.callsFor('m').length;
    const spentBefore = await spent();
    expect(spentBefore).toBeGreaterThan(0);

    // The same request, its keys in another order.
    const again = await client.chat.completions
      .create({ messages: [{ role: 'user', content: question }], temperature: 0, model: 'oa/m' })
      .withResponse();
    expect(again.response.headers.get('x-switchyard-cache')).toBe('hit');
    expect(again.data.choices[0]!.message.content).toBe(first.data.choices[0]!.message.content);
    const firstId = first.response.headers.get('x-switchyard-request-id')!;
    const hitId = again.response.headers.get('x-switchyard-request-id')!;
    expect(hitId).not.toBe(firstId);
    expect((again.data as unknown as { switchyard: { cache: unknown } }).switchyard.cache).toEqual({
      status: 'hit',
      cached_from: firstId,
    });
    expect(stack.fakes.openai.callsFor('m').length).toBe(calls);
    expect(await spent()).toBe(spentBefore);
    expect(await record(hitId)).toMatchObject({
      status: 'succeeded',
      cache_hit: true,
      cached_from: firstId,
      cost_usd: 0,
      attempts: [],
    });

    // Opted out: the provider answers again.
    const fresh = await client.chat.completions
      .create(
        { model: 'oa/m', temperature: 0, messages: [{ role: 'user', content: question }] },
        {
          headers: { 'cache-control': 'no-cache' },
        },
      )
      .withResponse();
    expect(fresh.response.headers.get('x-switchyard-cache')).toBe('bypass');
    expect(stack.fakes.openai.callsFor('m').length).toBe(calls + 1);

    // Another request misses; a streamed one is not cached.
    const other = await client.chat.completions
      .create({ model: 'oa/m', temperature: 0.5, messages: [{ role: 'user', content: question }] })
      .withResponse();
    expect(other.response.headers.get('x-switchyard-cache')).toBe('miss');
    const streamed = await client.chat.completions
      .create({ model: 'oa/m', temperature: 0, messages: [{ role: 'user', content: question }], stream: true })
      .withResponse();
    for await (const c of streamed.data) void c;
    expect(streamed.response.headers.get('x-switchyard-cache')).toBeNull();
  });

  it('an operator drops entries by model, by tenant or all; others may not', async () => {
    stack.fakes.openai.setDefault('m', { kind: 'ok', simulate: true });
    const ask = async () => {
      const r = await stack.post('/operations/sentiment', { text: `I love this railway yard (${where})` });
      expect(r.status).toBe(200);
      return r;
    };
    expect((await ask()).headers.get('x-switchyard-cache')).toBe('miss');
    expect((await ask()).headers.get('x-switchyard-cache')).toBe('hit');
    expect((await invalidate('?model=oa/m', stack.adminKey)).status).toBe(403);
    const byOther = await invalidate('?model=oa/other');
    expect(await byOther.json()).toMatchObject({ object: 'cache.invalidation', removed: 0 });
    expect((await ask()).headers.get('x-switchyard-cache')).toBe('hit');
    const byModel = await invalidate(`?model=oa/m&tenant=${stack.tenantId}&operation=sentiment`);
    expect(((await byModel.json()) as { removed: number }).removed).toBe(1);
    expect((await ask()).headers.get('x-switchyard-cache')).toBe('miss');
    expect((await invalidate(`?tenant=${stack.tenantId}`)).status).toBe(200);
    expect((await ask()).headers.get('x-switchyard-cache')).toBe('miss');
    const all = (await (await invalidate('')).json()) as { removed: number };
    expect(all.removed).toBeGreaterThanOrEqual(1);
    expect((await ask()).headers.get('x-switchyard-cache')).toBe('miss');
    expect((await invalidate('?colour=red')).status).toBe(400);
  });
});
