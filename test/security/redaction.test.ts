/**
 * A provider that echoes the key its call carried in any field of its error (the code, the type,
 * the param, a nested field, base64-encoded or space-separated in the message), on each wire
 * format and each database: nothing of the key reaches the client's response, the request's
 * record, any table, or the workflow's history; the provider code kept is a short identifier.
 * (`secretsInLogs.test.ts` runs the same provider against `npm start`'s own output.)
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { dbKinds } from '../support/db';
import { allRows, b64, echo, historyText, leaked, spaced } from '../support/leaks';
import { fakeCatalogProviders, fakeModel, providerSecret, useTestStack } from '../support/stack';

/** Where a provider puts the key it was sent: the error object's fields, built from the key. */
const ECHOES: Array<[string, (key: string) => Record<string, unknown>]> = [
  ['code', (key) => ({ message: 'Invalid request.', code: key })],
  ['type', (key) => ({ message: 'Invalid request.', type: key })],
  ['param', (key) => ({ message: 'Invalid request.', param: key })],
  ['message, base64', (key) => ({ message: `Bad credential ${b64(`Bearer ${key}`)}` })],
  ['message, space-separated', (key) => ({ message: `Incorrect API key provided: ${spaced(key)}` })],
  ['message, hex, and the code too', (key) => ({ message: `k=${Buffer.from(key).toString('hex')}`, code: b64(key) })],
  // No message: the SDKs then print the whole error object, nested fields included.
  ['nested details, no message', (key) => ({ message: undefined, details: [{ hint: key, raw: { b: b64(key) } }] })],
];

describe.each(dbKinds())('a provider echoing its key, on %s', (db) => {
  const stack = useTestStack(
    {
      db,
      catalog: (f) =>
        CatalogSchema.parse({
          providers: fakeCatalogProviders(f),
          models: [fakeModel('oa', 'primary'), fakeModel('an', 'claude')],
        }),
    },
    { timeout: 120_000 },
  );

  it.each(
    ECHOES.flatMap(([where, fields]) => [
      ['oa/primary', where, fields],
      ['an/claude', where, fields],
    ]),
  )('%s echoing it in its %s: not in the response, the rows or the history', async (model, _where, fields) => {
    const provider = model.split('/')[0]!;
    const key = providerSecret(provider);
    for (const fake of [stack.fakes.openai, stack.fakes.anthropic]) fake.setDefault('*', echo(fields));
    const res = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = await res.text();
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(600);
    // The provider did get the key, and did echo it.
    const fake = provider === 'oa' ? stack.fakes.openai : stack.fakes.anthropic;
    const sent = fake.calls.at(-1)!.headers;
    expect(String(sent.authorization ?? sent['x-api-key'])).toContain(key);
    expect(leaked(JSON.stringify(fields(key)), key)).toBeDefined();

    expect(leaked(body, key)).toBeUndefined();
    const requestId = res.headers.get('x-switchyard-request-id')!;
    expect(requestId).toBeTruthy();
    const record = await fetch(`${stack.baseURL}/requests/${requestId}`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    });
    expect(record.status).toBe(200);
    const recordText = await record.text();
    expect(recordText).toContain('"attempts"');
    expect(leaked(recordText, key)).toBeUndefined();
    const attempts = await stack.db.query<{ error_message: string | null }>(
      'select * from request_attempts where request_id = $1',
      [requestId],
    );
    expect(attempts.rows.length).toBeGreaterThan(0);
    expect(leaked(JSON.stringify(attempts.rows), key)).toBeUndefined();
    expect(leaked(await allRows(stack.db), key)).toBeUndefined();

    const history = await historyText(stack.env, res.headers.get('x-switchyard-workflow-id') ?? `req-${requestId}`);
    // The provider's failure is in it: an activity's failure, or on the fast path (a short call, the
    // default) the failure recorded on the local activity's marker.
    const events = (JSON.parse(history.text) as { events: Array<Record<string, { failure?: unknown }>> }).events;
    expect(
      events.some((e) => e.activityTaskFailedEventAttributes?.failure ?? e.markerRecordedEventAttributes?.failure),
    ).toBeTruthy();
    expect(leaked(history.text, key)).toBeUndefined();
    // The provider's code, when kept, is a short identifier.
    for (const code of history.codes) expect(code).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
  });
});
