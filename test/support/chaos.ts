/** What the chaos tests do to a running stack and check afterwards, over its HTTP API. */
import fs from 'node:fs';
import path from 'node:path';
import type { FakeProvider } from './fakeProvider';

export const CHAOS_KEY = 'sk-sy-chaos-test-key-0123456789';

export interface RequestRecord {
  status: string;
  cost_usd: number;
  attempts: Array<{ attempt: number; outcome: string }>;
}

export interface ChatBody {
  choices: Array<{ message: { content: string } }>;
  switchyard: { request_id: string };
}

/** A config file giving the default tenant a daily budget, so reservations are made and checked. */
export function budgetConfig(dir: string): string {
  const file = path.join(dir, 'switchyard.yaml');
  fs.writeFileSync(file, 'tenants:\n  default:\n    budget:\n      dailyUsd: 100\n');
  return file;
}

/** Holds the fake's calls of `model` at the provider until the returned `release`, counting from now. */
export function holdCalls(fake: FakeProvider, model: string): () => void {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  fake.setDefault(model, { kind: 'ok', content: 'held', waitFor: held });
  return release;
}

/**
 * Every request `succeeded`, every call the fake saw of `model` is an attempt on record (and nothing
 * more), and nothing is left reserved; returns the records and the daily budget.
 */
export async function accountedFor(
  client: ReturnType<typeof chaosClient>,
  bodies: ChatBody[],
  fake: FakeProvider,
  model: string,
) {
  const records = await client.records(bodies);
  expect(new Set(records.map((r) => r.status))).toEqual(new Set(['succeeded']));
  expect(totalAttempts(records)).toBe(fake.callsFor(model).length);
  const daily = await client.dailyBudget();
  expect(daily.reserved_usd).toBe(0);
  return { records, daily };
}

export function chaosClient(apiPort: number, keyPrefix: string) {
  const base = `http://127.0.0.1:${apiPort}/v1`;
  const headers = (i: number) => ({
    authorization: `Bearer ${CHAOS_KEY}`,
    'content-type': 'application/json',
    'idempotency-key': `${keyPrefix}-${i}`,
  });
  const get = async <T>(p: string): Promise<T> =>
    (await (await fetch(`${base}${p}`, { headers: headers(0) })).json()) as T;
  return {
    /** One chat request; the same i always sends the same Idempotency-Key. */
    send: (i: number, model: string) =>
      fetch(`${base}/chat/completions`, {
        method: 'POST',
        headers: headers(i),
        body: JSON.stringify({ model: `openai/${model}`, messages: [{ role: 'user', content: `request ${i}` }] }),
      }),
    /** Each request's record, as the API keeps it. */
    records: (bodies: ChatBody[]) =>
      Promise.all(bodies.map((b) => get<RequestRecord>(`/requests/${b.switchyard.request_id}`))),
    dailyBudget: async () =>
      (
        await get<{ windows: Array<{ window: string; spent_usd: number; reserved_usd: number }> }>('/budgets')
      ).windows.find((w) => w.window === 'daily')!,
    breaker: async (model: string) =>
      (
        await get<{ data: Array<{ id: string; breaker: { status: string; abandonedCalls?: number } }> }>('/providers')
      ).data.find((p) => p.id === `openai/${model}`)!.breaker,
  };
}

export const totalAttempts = (records: RequestRecord[]) => records.reduce((n, r) => n + r.attempts.length, 0);
export const totalCost = (records: RequestRecord[]) => records.reduce((sum, r) => sum + r.cost_usd, 0);

export async function until(check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; !(await check());) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
