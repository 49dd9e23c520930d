/**
 * Issue 28, findings 3, 4, 6 and 7, over real HTTP: token counting that was quadratic on runs of
 * whitespace, a member's json_schema `pattern` and an admin's replayed `matches` that ran on V8's
 * backtracking RegExp, and one Ajv instance whose `$id`s were shared by every tenant. Each attack
 * runs while `/health` is probed: it must answer within 1 s throughout (on the landed main the
 * event loop was held for 4–34 s, or hours for 40 characters of `^(a+)+$`).
 */
import { dbKinds, uniqueId } from '../support/db';
import { fakeCatalog, fakeModel, useTestStack, type TestStack } from '../support/stack';

/** The stack of the `describe` running now (one per database), for the helpers below. */
let stack: TestStack;
/** A member key of a second tenant, created through the API. */
let memberB: string;

interface Res {
  status: number;
  body: any;
}

async function call(key: string, method: string, path: string, body?: unknown, headers = {}): Promise<Res> {
  const res = await fetch(`${stack.baseURL}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * Runs `attack` while probing `/health` (the probe waits 50 ms between answers, it is not a wait
 * for a condition); returns the attack's result and the slowest health answer.
 */
async function underProbe<T>(attack: () => Promise<T>): Promise<{ result: T; slowestHealthMs: number }> {
  let done = false;
  let slowest = 0;
  const probes = (async () => {
    const root = stack.baseURL.replace(/\/v1$/, '');
    do {
      const t = performance.now();
      const res = await fetch(`${root}/health`, { signal: AbortSignal.timeout(30_000) });
      expect(res.status).toBe(200);
      slowest = Math.max(slowest, performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    } while (!done);
  })();
  try {
    const result = await attack();
    done = true;
    await probes;
    return { result, slowestHealthMs: slowest };
  } finally {
    done = true;
    await probes.catch(() => undefined);
  }
}

const chat = (key: string, body: Record<string, unknown>, headers = {}) =>
  call(key, 'POST', '/chat/completions', { model: 'auto', ...body }, headers);

describe.each(dbKinds())('on %s', (kind) => {
  const onKind = useTestStack(
    {
      db: kind,
      catalog: (f) =>
        fakeCatalog(f, [
          fakeModel('oa', 'cheap', { capabilities: ['chat', 'json'], qualityTier: 1 }),
          fakeModel('oa', 'best', { capabilities: ['chat', 'json'], qualityTier: 4, inputPricePerMTok: 3 }),
        ]),
      config: { retry: { default: { maximumAttempts: 1, timeoutMs: 30_000 } } },
    },
    { timeout: 120_000 },
  );
  beforeAll(async () => {
    stack = onKind;
    const tenantB = uniqueId('pat-b').toLowerCase();
    expect((await call(stack.operatorKey, 'POST', '/tenants', { id: tenantB, name: 'Tenant B' })).status).toBe(201);
    const key = await call(stack.operatorKey, 'POST', '/keys', {
      name: 'b member',
      role: 'member',
      tenant_id: tenantB,
    });
    expect(key.status).toBe(201);
    memberB = key.body.key;
    // A first request builds what every process builds once (the tokenizer's rank table, ~0.5 s):
    // the probes below time the attacks, not a cold start.
    expect((await chat(stack.apiKey, { messages: [{ role: 'user', content: 'warm up' }] })).status).toBe(200);
  }, 180_000);

  describe('token counting (finding 3)', () => {
    it.each([
      ['6 KB of spaces', `Summarize this:${' '.repeat(6_000)}end`],
      ['2,000 × U+3000', `Summarize this:${'\u3000'.repeat(2_000)}end`],
      [
        // 20,000: what the test models' 16,000-token context holds (100,000 is in the unit test).
        '20,000 random letters',
        Array.from({ length: 20_000 }, (_, i) => 'qwertyuiopasdfghjklzxcvbnm'[(i * 7919) % 26]).join(''),
      ],
    ])('a prompt of %s is answered normally while /health answers within 1 s', async (_name, content) => {
      const { result, slowestHealthMs } = await underProbe(() =>
        chat(stack.apiKey, { messages: [{ role: 'user', content }] }),
      );
      expect(result.status).toBe(200);
      expect(result.body.usage.prompt_tokens).toBeGreaterThan(0);
      expect(slowestHealthMs).toBeLessThan(1_000);
    });

    it('the dry run and the Anthropic token count answer too', async () => {
      const messages = [{ role: 'user', content: ' '.repeat(6_000) }];
      const { result, slowestHealthMs } = await underProbe(() =>
        Promise.all([
          call(stack.apiKey, 'POST', '/route', { model: 'auto', messages }),
          call(stack.apiKey, 'POST', '/messages/count_tokens', { model: 'oa/cheap', messages }),
        ]),
      );
      const [route, counted] = result;
      expect(route.status).toBe(200);
      expect(route.body.classification.inputTokens).toBeGreaterThan(0);
      expect(counted.status).toBe(200);
      expect(counted.body.input_tokens).toBeGreaterThan(0);
      expect(slowestHealthMs).toBeLessThan(1_000);
    });
  });

  describe('a json_schema pattern against output the requester controls (finding 4)', () => {
    const format = (pattern: string) => ({
      type: 'json_schema',
      json_schema: {
        name: 'word',
        schema: { type: 'object', properties: { s: { type: 'string', pattern } }, required: ['s'] },
      },
    });

    it('^(a+)+$ against a 40-character hostile answer fails validation cleanly; the next model answers', async () => {
      stack.fakes.openai.script('cheap', { kind: 'ok', content: JSON.stringify({ s: `${'a'.repeat(40)}!` }) });
      stack.fakes.openai.script('best', { kind: 'ok', content: JSON.stringify({ s: 'aaaa' }) });
      const started = performance.now();
      const { result, slowestHealthMs } = await underProbe(() =>
        chat(stack.apiKey, {
          model: 'oa/cheap',
          messages: [{ role: 'user', content: 'say a' }],
          response_format: format('^(a+)+$'),
        }),
      );
      expect(performance.now() - started).toBeLessThan(20_000); // hours on V8's RegExp
      expect(result.status).toBe(200);
      expect(JSON.parse(result.body.choices[0].message.content)).toEqual({ s: 'aaaa' });
      expect(result.body.switchyard.attempts[0]).toMatchObject({
        errorType: 'InvalidOutput',
        errorMessage: expect.stringContaining('must match pattern'),
      });
      expect(slowestHealthMs).toBeLessThan(1_000);
      // Another tenant's request completes normally.
      expect((await chat(memberB, { messages: [{ role: 'user', content: 'hello' }] })).status).toBe(200);
    });

    it('a pattern RE2 cannot run (a backreference) is a 400 naming the schema, before any provider call', async () => {
      const calls = stack.fakes.openai.calls.length;
      const res = await chat(stack.apiKey, {
        messages: [{ role: 'user', content: 'x' }],
        response_format: format('(a)\\1'),
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'invalid_json_schema',
        param: 'response_format.json_schema.schema',
        message: expect.stringContaining('backreferences'),
      });
      expect(stack.fakes.openai.calls.length).toBe(calls);
    });
  });

  describe('schemas with the same $id from two tenants (finding 7)', () => {
    const withId = (name: string, required: string) => ({
      type: 'json_schema',
      json_schema: {
        name,
        schema: { $id: 'https://example.com/schemas/answer', type: 'object', required: [required] },
      },
    });

    it("each tenant's schema is its own: both validate correctly, in either order, again and again", async () => {
      for (let round = 0; round < 2; round++) {
        stack.fakes.openai.script('cheap', { kind: 'ok', content: '{"a": 1}' });
        const a = await chat(stack.apiKey, {
          model: 'oa/cheap',
          messages: [{ role: 'user', content: 'a' }],
          response_format: withId('a', 'a'),
        });
        expect(a.status).toBe(200);
        expect(a.body.switchyard.attempts).toHaveLength(1);

        // B's schema needs `b`: an answer with only `a` fails B's schema (not A's), the next model answers.
        stack.fakes.openai.script('cheap', { kind: 'ok', content: '{"a": 1}' });
        stack.fakes.openai.script('best', { kind: 'ok', content: '{"b": 2}' });
        const b = await chat(memberB, {
          model: 'oa/cheap',
          messages: [{ role: 'user', content: 'b' }],
          response_format: withId('b', 'b'),
        });
        expect(b.status).toBe(200);
        expect(JSON.parse(b.body.choices[0].message.content)).toEqual({ b: 2 });
        expect(b.body.switchyard.attempts[0]).toMatchObject({
          errorType: 'InvalidOutput',
          errorMessage: expect.stringContaining("must have required property 'b'"),
        });
      }
    });
  });

  describe("replayed and stored rules' matches (finding 6)", () => {
    const hostile = `${'a'.repeat(500)}!`;
    const redosRule = {
      id: 'redos',
      when: [{ field: 'metadata.topic', op: 'matches', value: '^(a+)+$' }],
      targets: [{ model: 'oa/best' }],
    };

    beforeAll(async () => {
      // Recorded requests whose attribute is the hostile input.
      for (let i = 0; i < 5; i++)
        expect(
          (await chat(stack.apiKey, { messages: [{ role: 'user', content: 'hi' }], metadata: { topic: hostile } }))
            .status,
        ).toBe(200);
    });

    it('an operator replaying a ReDoS pattern gets its result promptly; /health answers within 1 s', async () => {
      const started = performance.now();
      const { result, slowestHealthMs } = await underProbe(() =>
        call(stack.operatorKey, 'POST', '/policy/replay', { changes: { rules: [redosRule] }, limit: 1_000 }),
      );
      expect(performance.now() - started).toBeLessThan(20_000);
      expect(result.status).toBe(200);
      expect(result.body).toMatchObject({ object: 'policy.replay' });
      expect(result.body.evaluated).toBeGreaterThanOrEqual(5);
      expect(slowestHealthMs).toBeLessThan(1_000);
    });

    it("a tenant admin's replay is refused exactly as storing the rule is (matches is an operator's)", async () => {
      const stored = await call(stack.adminKey, 'POST', '/admin/rules', redosRule);
      const replayed = await call(stack.adminKey, 'POST', '/policy/replay', { changes: { rules: [redosRule] } });
      expect(stored.status).toBe(403);
      expect(replayed.status).toBe(403);
      expect(replayed.body.error).toMatchObject({ code: 'operator_required', param: 'changes.rules[0].when' });
      // A rule without a pattern replays as it stores.
      const plain = { ...redosRule, id: 'plain', when: [{ field: 'metadata.topic', op: 'eq', value: 'x' }] };
      expect((await call(stack.adminKey, 'POST', '/policy/replay', { changes: { rules: [plain] } })).status).toBe(200);
    });

    it('a backreference is a 400 naming the pattern, when stored and when replayed', async () => {
      const backref = { ...redosRule, id: 'backref', when: [{ field: 'subject', op: 'matches', value: '(a)\\1' }] };
      for (const key of [stack.operatorKey, stack.adminKey]) {
        const stored = await call(key, 'POST', '/admin/rules', backref);
        expect(stored.status).toBe(400);
        expect(stored.body.error.param).toMatch(/when.*0.*value/);
        expect(stored.body.error.message).toContain('backreferences');
        const replayed = await call(key, 'POST', '/policy/replay', { changes: { rules: [backref] } });
        expect(replayed.status).toBe(400);
        expect(replayed.body.error.param).toMatch(/rules.*0.*when.*0.*value/);
        expect(replayed.body.error.message).toContain('backreferences');
      }
      const look = { ...backref, when: [{ field: 'subject', op: 'matches', value: '(?<=a)b' }] };
      expect((await call(stack.operatorKey, 'POST', '/policy/replay', { changes: { rules: [look] } })).status).toBe(
        400,
      );
    });
  });
});
