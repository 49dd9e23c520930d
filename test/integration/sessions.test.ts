/**
 * Sessions that keep their provider's prompt cache (issue 23, item 3), over real HTTP with the
 * official `openai` SDK and fake providers: requests of one session stay on one provider where the
 * strategy would rotate them; an open breaker moves the session and the record says why; the pin
 * lives in `session_pins` (every worker and API process reads it there, so a restart keeps it);
 * a request without a session is unaffected and costs no statement more; the dry run says
 * "kept for session".
 */
import { CatalogSchema } from '../../src/domain/catalog';
import {
  anthropicClient,
  fakeCatalogProviders,
  fakeModel,
  openaiClient,
  setDailyBudget,
  useTestStack,
} from '../support/stack';

const stack = useTestStack({
  breakers: true,
  catalog: (f) =>
    CatalogSchema.parse({
      // The Anthropic-format instance keeps its prompt cache longer (its own lifetime, not the default).
      providers: fakeCatalogProviders(f).map((p) => (p.id === 'an' ? { ...p, promptCacheTtlSeconds: 900 } : p)),
      models: [fakeModel('oa', 'primary'), fakeModel('an', 'backup')],
    }),
  // Round-robin: without a session, consecutive requests go to either model.
  config: { routing: { defaultStrategy: 'round-robin' }, retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } } },
});

const MODELS = ['oa/primary', 'an/backup'];
const other = (id: string) => MODELS.find((m) => m !== id)!;

interface Extension {
  request_id: string;
  model: string;
  decision: string;
}

/** One chat completion through the SDK; `session`: its X-Switchyard-Session header. */
async function ask(opts: { session?: string; user?: string; text?: string; first?: string } = {}) {
  const client = openaiClient(stack);
  const messages = [
    { role: 'system' as const, content: 'You are a patient tutor.' },
    { role: 'user' as const, content: opts.first ?? 'Explain photosynthesis.' },
    ...(opts.text ? [{ role: 'user' as const, content: opts.text }] : []),
  ];
  const res = await client.chat.completions.create(
    { model: 'auto', messages, ...(opts.user && { user: opts.user }) },
    opts.session ? { headers: { 'X-Switchyard-Session': opts.session } } : undefined,
  );
  return (res as unknown as { switchyard: Extension }).switchyard;
}

const record = async (requestId: string) => {
  const res = await fetch(`${stack.baseURL}/requests/${requestId}`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  });
  return (await res.json()) as {
    decision: { session?: { outcome: string; modelId?: string; reason?: string }; notes: string[] };
    decision_input: { session?: { key: string }; context: Record<string, unknown> };
  };
};

const pins = async () =>
  (
    await stack.db.query<{ session_key: string; provider: string; model_id: string; expires_at: Date }>(
      'select session_key, provider, model_id, expires_at from session_pins where tenant_id = $1',
      [stack.tenantId],
    )
  ).rows;

const breaker = (id: string, action: 'open' | 'close') =>
  fetch(`${stack.baseURL}/providers/${id}/breaker`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(action === 'open' ? { action, reason: 'vendor incident' } : { action }),
  });

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met in time: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('without a session, round-robin spreads requests over both models', async () => {
  const served = new Set<string>();
  for (let i = 0; i < 10; i++) served.add((await ask()).model);
  expect([...served].sort()).toEqual([...MODELS].sort());
});

it('20 requests of one session stay on the model that answered the first, though the strategy rotates', async () => {
  const first = await ask({ session: 'conv-1' });
  expect(first.decision).not.toMatch(/kept for session/);
  const pinned = first.model;
  const before = { oa: stack.fakes.openai.calls.length, an: stack.fakes.anthropic.calls.length };
  for (let i = 0; i < 19; i++) {
    const r = await ask({ session: 'conv-1', text: `Follow-up question ${i}?` });
    expect(r.model).toBe(pinned);
    expect(r.decision).toMatch(new RegExp(`^${pinned} \\(kept for session`));
  }
  // Every call reached the pinned provider instance, none the other.
  const otherFake = pinned.startsWith('oa/') ? stack.fakes.anthropic : stack.fakes.openai;
  const pinnedFake = pinned.startsWith('oa/') ? stack.fakes.openai : stack.fakes.anthropic;
  expect(otherFake.calls.length).toBe(pinned.startsWith('oa/') ? before.an : before.oa);
  expect(pinnedFake.calls.length - (pinned.startsWith('oa/') ? before.oa : before.an)).toBe(19);
  // The pin is the tenant's row, with the provider instance and the model, for the provider's
  // prompt-cache lifetime (an: 900 s, its own) or the default (300 s).
  const row = (await pins()).find((p) => p.session_key === 'conv-1')!;
  expect(row).toMatchObject({ provider: pinned.split('/')[0], model_id: pinned });
  const lifetime = pinned.startsWith('an/') ? 900_000 : 300_000;
  const left = new Date(row.expires_at).getTime() - Date.now();
  expect(left).toBeGreaterThan(lifetime - 50_000);
  expect(left).toBeLessThanOrEqual(lifetime + 1_000);
});

it("when the pinned model's breaker opens, the next request moves, the record says why, and the new model is kept", async () => {
  const pinned = (await pins()).find((p) => p.session_key === 'conv-1')!.model_id;
  expect((await breaker(pinned, 'open')).status).toBe(200);
  try {
    const moved = await until(
      () => ask({ session: 'conv-1', text: 'And then?' }),
      (r) => r.model !== pinned,
    );
    expect(moved.model).toBe(other(pinned));
    expect(moved.decision).toContain(`session moved: breaker open on ${pinned} (breaker forced open: vendor incident)`);
    const rec = await record(moved.request_id);
    expect(rec.decision.session).toEqual({
      outcome: 'moved',
      modelId: pinned,
      reason: `breaker open on ${pinned} (breaker forced open: vendor incident)`,
    });
    expect(rec.decision.notes.some((n) => n.startsWith('session moved: breaker open on'))).toBe(true);
    // The answer moved the pin, with the new provider's lifetime: the session stays on its new model.
    const row = (await pins()).find((p) => p.session_key === 'conv-1')!;
    expect(row.model_id).toBe(other(pinned));
    const left = new Date(row.expires_at).getTime() - Date.now();
    expect(left > 600_000).toBe(other(pinned).startsWith('an/'));
  } finally {
    expect((await breaker(pinned, 'close')).status).toBe(200);
  }
  // Closed again, the session does not flap back: its cache is on the new model now.
  const after = await ask({ session: 'conv-1', text: 'One more?' });
  expect(after.model).toBe(other(pinned));
  expect(after.decision).toMatch(/kept for session/);
});

it('the pin lives in the table, not in a worker: a pin left by an earlier worker is followed', async () => {
  // As a worker that has since stopped would have left it (the table is all a new worker reads).
  for (const model of MODELS) {
    const key = `restart-${model}`;
    await stack.db.query(
      `insert into session_pins (tenant_id, session_key, provider, model_id, expires_at)
       values ($1, $2, $3, $4, now() + interval '5 minutes')`,
      [stack.tenantId, key, model.split('/')[0]!, model],
    );
    for (let i = 0; i < 3; i++) {
      const r = await ask({ session: key, text: `turn ${i}` });
      expect(r.model).toBe(model);
      expect(r.decision).toMatch(/kept for session/);
    }
  }
  // A second worker set (its own connection, its own health client: another process in effect)
  // serves some of the next requests; every one follows the same pin.
  const second = await stack.addWorkers();
  try {
    const served = new Set<string>();
    for (let i = 0; i < 8; i++) served.add((await ask({ session: 'restart-an/backup', text: `more ${i}` })).model);
    expect([...served]).toEqual(['an/backup']);
  } finally {
    await second.stop();
  }
  // An expired pin is no pin.
  await stack.db.query(
    `update session_pins set expires_at = now() - interval '1 second' where tenant_id = $1 and session_key = $2`,
    [stack.tenantId, 'restart-oa/primary'],
  );
  const fresh = await ask({ session: 'restart-oa/primary', text: 'later' });
  expect(fresh.decision).not.toMatch(/kept for session/);
  expect((await record(fresh.request_id)).decision.session).toEqual({ outcome: 'new' });
});

it('a request without a session is unaffected and reads or writes no pin', async () => {
  stack.db.reset();
  const plain = await ask();
  const rec = await record(plain.request_id);
  expect(rec.decision.session).toBeUndefined();
  expect(rec.decision_input.session).toBeUndefined();
  expect(rec.decision.notes.join(' ')).not.toMatch(/session/);
  expect(stack.db.statements().filter((s) => /session_pins/.test(s))).toEqual([]);

  // With a session: one read (the decision) and one upsert (the answer), nothing more.
  stack.db.reset();
  await ask({ session: 'counted' });
  const touching = stack.db.statements().filter((s) => /session_pins/.test(s));
  expect(touching).toHaveLength(2);
  expect(touching[0]).toMatch(/^select provider, model_id, expires_at from session_pins/);
  expect(touching[1]).toMatch(/^with swept as \(delete from session_pins/);
});

it("the body's user and the conversation's first messages name a session; only a hash of them is kept", async () => {
  const a = await ask({ user: 'student-42' });
  const b = await ask({ user: 'student-42', text: 'A second turn, a different last message.' });
  expect(b.model).toBe(a.model);
  expect(b.decision).toMatch(/kept for session/);
  const rec = await record(b.request_id);
  const key = rec.decision_input.session!.key;
  expect(key).toMatch(/^user:student-42:[0-9a-f]{32}$/);
  expect(JSON.stringify(rec.decision_input)).not.toContain('photosynthesis');
  // Another conversation of the same user (other first message) is another session.
  const c = await ask({ user: 'student-42', first: 'What is a prime number?' });
  expect((await record(c.request_id)).decision_input.session!.key).not.toBe(key);
  // The header names the session instead of the user's conversation.
  const d = await ask({ user: 'student-42', session: 'explicit' });
  expect((await record(d.request_id)).decision_input.session!.key).toBe('explicit');
});

it('an invalid X-Switchyard-Session is a 400 that names it', async () => {
  const body = { model: 'auto', messages: [{ role: 'user', content: 'hi' }] };
  for (const bad of ['x'.repeat(129), 'tab\there', ' ']) {
    const res = await stack.post('/chat/completions', body, { 'X-Switchyard-Session': bad });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'X-Switchyard-Session', code: 'invalid_value' });
  }
  expect((await stack.post('/chat/completions', body, { 'X-Switchyard-Session': 'x'.repeat(128) })).status).toBe(200);
});

it('the dry run shows "kept for session"', async () => {
  const pinned = (await ask({ session: 'dry' })).model;
  const res = await stack.post(
    '/route',
    { model: 'auto', messages: [{ role: 'user', content: 'Explain photosynthesis.' }] },
    { 'X-Switchyard-Session': 'dry' },
  );
  expect(res.status).toBe(200);
  expect(res.body.decision.summary).toMatch(new RegExp(`^${pinned} \\(kept for session`));
  expect(res.body.decision.session).toEqual({ outcome: 'kept', modelId: pinned });
  expect(res.body.decision.candidates[0].modelId).toBe(pinned);
});

it('under a budget (the call reserves and starts in one statement) the answer still moves the pin', async () => {
  await setDailyBudget(stack, 100);
  const first = await ask({ session: 'budgeted' });
  expect((await pins()).find((p) => p.session_key === 'budgeted')?.model_id).toBe(first.model);
  const next = await ask({ session: 'budgeted', text: 'again' });
  expect(next.model).toBe(first.model);
  expect(next.decision).toMatch(/kept for session/);
});

it("/v1/messages: metadata.user_id and the conversation's first messages name a session, as `user` does for chat", async () => {
  const client = anthropicClient(stack);
  type Turn = {
    role: 'user' | 'assistant';
    content: string | Array<{ type: 'text'; text: string; cache_control?: { type: 'ephemeral' } }>;
  };
  // Anthropic's incremental caching: the newest user turn is sent as a text block marked
  // `cache_control`, earlier turns as they were (here: strings).
  const cached = (text: string) => [{ type: 'text' as const, text, cache_control: { type: 'ephemeral' as const } }];
  const turn = async (messages: Turn[]) => {
    const res = await client.messages.create({
      model: 'auto',
      max_tokens: 64,
      system: 'You are a patient tutor.',
      metadata: { user_id: 'student-77' },
      messages,
    });
    return (res as unknown as { switchyard: Extension }).switchyard;
  };
  const a = await turn([{ role: 'user', content: cached('Explain photosynthesis.') }]);
  const rec = await record(a.request_id);
  const key = rec.decision_input.session?.key;
  expect(key).toMatch(/^user:student-77:[0-9a-f]{32}$/);
  expect(rec.decision_input.context.userId).toBe('student-77');
  expect(JSON.stringify(rec.decision_input)).not.toContain('photosynthesis');
  const history: Turn[] = [
    { role: 'user', content: 'Explain photosynthesis.' },
    { role: 'assistant', content: 'Light, water and carbon dioxide become sugar.' },
  ];
  for (let i = 0; i < 4; i++) {
    const b = await turn([...history, { role: 'user', content: cached(`Follow-up ${i}?`) }]);
    expect(b.model).toBe(a.model);
    expect(b.decision).toMatch(/kept for session/);
    expect((await record(b.request_id)).decision_input.session?.key).toBe(key);
  }
  // The same conversation through chat completions is the same session.
  const viaChat = await ask({ user: 'student-77' });
  expect((await record(viaChat.request_id)).decision_input.session?.key).toBe(key);
});
