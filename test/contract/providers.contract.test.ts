/**
 * The provider contract: every registered kind (`src/providers/kinds.ts`), over real HTTP
 * (the official `openai` client → Switchyard → the kind's official SDK → a fake server speaking
 * the kind's real wire format), answers, streams, calls tools, gives structured output, takes
 * images and embeds where it declares it can, and maps its rate limits, 5xx, context overflow,
 * content filter and bad key onto Switchyard's failures (fallback, no retry, 400 with the
 * provider's code, redaction).
 * A kind registered without a fixture in `./kinds/index.ts` fails the first test.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { KINDS } from '../../src/providers/kinds';
import { allRows, historyText, leaked } from '../support/leaks';
import { until } from '../support/rawUpload';
import {
  fakeModel,
  openaiClient,
  providerSecret,
  startTestStack,
  type TestStack,
  FAST_RETRIES,
} from '../support/stack';
import {
  CONTRACT_ANSWER,
  CONTRACT_EMBEDDING,
  CONTRACT_JSON,
  CONTRACT_PNG_BASE64,
  CONTRACT_SCHEMA,
  CONTRACT_TOOL,
  CONTRACT_TOOL_ARGS,
  type Fault,
  type KindFixture,
  type WireFake,
} from './fixture';
import { FIXTURES } from './kinds';

type Attempt = { provider: string; model: string; outcome: string; errorType?: string; attempt: number };

const kinds = Object.keys(KINDS);
// CONTRACT_KINDS=google,bedrock: only those kinds' cases (while working on one); CI runs every kind.
const only = process.env.CONTRACT_KINDS?.split(',');
const fixtures = kinds.flatMap((k) => (FIXTURES[k] && (!only || only.includes(k)) ? [FIXTURES[k]] : []));
const fakes = new Map<string, WireFake>();
let stack: TestStack;

/** The catalog id of a kind's instance, and of its twin that holds the wrong key. */
const good = (f: KindFixture) => `c-${f.kind}`;
const bad = (f: KindFixture) => `c-${f.kind}-badkey`;
/** A third instance of the kind, never called: its breaker shows whether another instance's failures reach it. */
const quiet = (f: KindFixture) => `c-${f.kind}-quiet`;

const capsOf = (f: KindFixture) => KINDS[f.kind]!.capabilities;

/** The code a kind's content filter reaches the client with, where it is not OpenAI's `content_filter`. */
const FILTER_CODES: Record<string, string> = { 'azure-openai': 'ResponsibleAIPolicyViolation', google: 'SAFETY' };

beforeAll(async () => {
  for (const f of fixtures) fakes.set(f.kind, await f.start(providerSecret(good(f))));
  stack = await startTestStack({
    breakers: true,
    catalog: (base) =>
      CatalogSchema.parse({
        providers: [
          // The fallback every case can land on: the stack's OpenAI fake, always healthy here.
          { id: 'backup', kind: 'openai', baseUrl: base.openai.url },
          ...fixtures.flatMap((f) => [good(f), bad(f), quiet(f)].map((id) => f.instance(id, fakes.get(f.kind)!))),
        ],
        models: [
          // The best tier: first in line after the model a request names (the strategy is quality).
          fakeModel('backup', 'backup', {
            capabilities: ['chat', 'json', 'tools', 'vision', 'embeddings'],
            qualityTier: 5,
            contextWindow: 32_000,
          }),
          ...fixtures.flatMap((f) => {
            const caps = capsOf(f);
            const chatCaps = [
              'chat',
              ...(caps.structuredOutput ? ['json'] : []),
              ...(caps.tools ? ['tools'] : []),
              ...(caps.vision ? ['vision'] : []),
            ];
            return [
              fakeModel(good(f), f.chatModel, { capabilities: chatCaps, qualityTier: 3, contextWindow: 32_000 }),
              // The wrong key's model comes last of all.
              fakeModel(bad(f), f.chatModel, { capabilities: chatCaps, qualityTier: 1, contextWindow: 32_000 }),
              fakeModel(quiet(f), f.chatModel, { capabilities: chatCaps, qualityTier: 1, contextWindow: 32_000 }),
              ...(f.embedModel && caps.embeddings
                ? [fakeModel(good(f), f.embedModel, { capabilities: ['embeddings'], qualityTier: 3 })]
                : []),
            ];
          }),
        ],
      }),
    config: {
      routing: { defaultStrategy: 'quality' },
      // Each case's faults are its own: a breaker opened by one case's failures would keep the next case's calls away.
      breakers: { failureThreshold: 1_000 },
      retry: FAST_RETRIES,
    },
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  for (const fake of fakes.values()) await fake.close();
});

beforeEach(() => {
  for (const fake of fakes.values()) fake.clear();
  stack.fakes.openai.reset();
});

it('every registered kind has a contract fixture', () => {
  expect(kinds.filter((k) => !FIXTURES[k])).toEqual([]);
  expect(Object.keys(FIXTURES).filter((k) => !KINDS[k])).toEqual([]);
});

const client = () => openaiClient(stack);
const attemptsOf = (res: { status: number; body: any }): Attempt[] =>
  res.status === 200 ? res.body.switchyard.attempts : res.body.error.attempts;

describe.each(fixtures.map((f) => [f.kind, f] as const))('%s', (_kind, f) => {
  const fake = () => fakes.get(f.kind)!;
  const model = () => `${good(f)}/${f.chatModel}`;
  const caps = capsOf(f);
  const ask = (body: Record<string, unknown>) =>
    stack.post('/chat/completions', { model: model(), messages: [{ role: 'user', content: 'Hello' }], ...body });

  it('a plain answer, with usage', async () => {
    const res = await client()
      .chat.completions.create({ model: model(), messages: [{ role: 'user', content: 'What is it?' }] })
      .withResponse();
    expect(res.data.choices[0]!.message.content).toBe(CONTRACT_ANSWER);
    expect(res.response.headers.get('x-switchyard-model')).toBe(model());
    expect(res.data.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(res.data.usage!.completion_tokens).toBeGreaterThan(0);
    expect(fake().callsFor(f.chatModel)).toHaveLength(1);
    expect(f.saw.key(fake().callsFor(f.chatModel)[0]!)).toBe(providerSecret(good(f)));
  });

  if (caps.stream)
    it('a stream, piece by piece', async () => {
      const stream = await client().chat.completions.create({
        model: model(),
        messages: [{ role: 'user', content: 'What is it?' }],
        stream: true,
      });
      const pieces: string[] = [];
      for await (const chunk of stream) {
        const c = chunk.choices[0]?.delta?.content;
        if (c) pieces.push(c);
      }
      expect(pieces.join('')).toBe(CONTRACT_ANSWER);
      expect(pieces.length).toBeGreaterThanOrEqual(2);
      expect(
        fake()
          .callsFor(f.chatModel)
          .map((c) => c.streamed),
      ).toEqual([true]);
    });

  if (caps.tools)
    it('a tool call', async () => {
      const res = await client().chat.completions.create({
        model: model(),
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [CONTRACT_TOOL],
      });
      const call = res.choices[0]!.message.tool_calls?.[0];
      expect(call?.type === 'function' && call.function.name).toBe('get_weather');
      expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual(CONTRACT_TOOL_ARGS);
      expect(res.choices[0]!.finish_reason).toBe('tool_calls');
      expect(f.saw.tools(fake().callsFor(f.chatModel)[0]!)).toEqual(['get_weather']);
    });
  else
    it('declares no tools: a tool request is not sent to it', async () => {
      const res = await ask({ tools: [CONTRACT_TOOL] });
      expect(res.status).toBe(200);
      expect(fake().callsFor(f.chatModel)).toHaveLength(0);
    });

  if (caps.structuredOutput)
    it('structured output against a JSON Schema', async () => {
      const res = await client().chat.completions.create({
        model: model(),
        messages: [{ role: 'user', content: 'The answer, as JSON' }],
        response_format: { type: 'json_schema', json_schema: CONTRACT_SCHEMA },
      });
      expect(JSON.parse(res.choices[0]!.message.content!)).toEqual(CONTRACT_JSON);
      expect(f.saw.schema(fake().callsFor(f.chatModel)[0]!)).toBe(true);
    });

  if (caps.vision)
    it('an image in the prompt', async () => {
      const res = await client().chat.completions.create({
        model: model(),
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in this image?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${CONTRACT_PNG_BASE64}` } },
            ],
          },
        ],
      });
      expect(res.choices[0]!.message.content).toBe(CONTRACT_ANSWER);
      expect(f.saw.image(fake().callsFor(f.chatModel)[0]!)).toBe(true);
    });
  else
    it('declares no vision: an image request is not sent to it', async () => {
      const res = await ask({
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${CONTRACT_PNG_BASE64}` } }],
          },
        ],
      });
      expect(res.status).toBe(200);
      expect(fake().callsFor(f.chatModel)).toHaveLength(0);
    });

  if (caps.embeddings)
    it('embeddings', async () => {
      expect(f.embedModel).toBeDefined();
      const res = await client().embeddings.create({ model: `${good(f)}/${f.embedModel}`, input: ['one', 'two'] });
      expect(res.data.map((d) => d.embedding)).toEqual([CONTRACT_EMBEDDING, CONTRACT_EMBEDDING]);
      expect(fake().callsFor(f.embedModel!)).toHaveLength(1);
    });
  else
    it('declares no embeddings: it has no embeddings model and its adapter none', () => {
      expect(f.embedModel).toBeUndefined();
      const adapter = KINDS[f.kind]!.create({
        providerId: 'p',
        apiKey: 'k',
        baseURL: 'http://127.0.0.1:9',
        apiVersion: 'v',
        region: 'us-east-1',
        timeoutMs: 1_000,
      });
      expect(adapter.embed).toBeUndefined();
    });

  const fallbacks: Array<[Fault, string, number]> = [
    // The fault, the failure it is read as, and the calls the kind gets (retried or not).
    ['rate-limit', 'RateLimited', 2],
    ['server-error', 'Overloaded', 2],
  ];
  it.each(fallbacks)('%s → %s → the fallback answers', async (fault, errorType, calls) => {
    fake().fail(f.chatModel, fault);
    const res = await ask({});
    expect(res.status).toBe(200);
    const attempts = attemptsOf(res);
    const mine = attempts.filter((a) => a.provider === good(f));
    expect(mine.map((a) => a.errorType)).toEqual(Array(calls).fill(errorType));
    expect(fake().callsFor(f.chatModel)).toHaveLength(calls);
    expect(res.headers.get('x-switchyard-model')).toBe('backup/backup');
    expect(res.body.choices[0].message.content).toBeTruthy();
  });

  it("content filter → 400 with the kind's own code, not retried, no fallback (fallback.onContentFilter is off)", async () => {
    fake().fail(f.chatModel, 'content-filter');
    const res = await ask({});
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request_error');
    // The provider's own code where it gives one, else OpenAI's for a filtered answer.
    expect(res.body.error.code).toBe(FILTER_CODES[f.kind] ?? 'content_filter');
    expect(fake().callsFor(f.chatModel)).toHaveLength(1);
    expect(stack.fakes.openai.callsFor('backup')).toHaveLength(0);
    expect(attemptsOf(res).map((a) => [a.provider, a.errorType])).toEqual([[good(f), 'ContentFiltered']]);
  });

  it('context too long → 400, not retried', async () => {
    fake().fail(f.chatModel, 'context-length');
    const res = await ask({});
    expect(res.status).toBe(400);
    // OpenAI's own code for it, so the SDKs read it as they do OpenAI's (src/api/routeFailure.ts).
    expect(res.body.error.code).toBe('context_length_exceeded');
    expect(fake().callsFor(f.chatModel)).toHaveLength(1);
    expect(
      attemptsOf(res)
        .filter((a) => a.provider === good(f))
        .map((a) => a.errorType),
    ).toEqual(['ContextLengthExceeded']);
  });

  it('a bad key: AuthFailed, not retried, other instances’ breakers untouched, the key nowhere', async () => {
    const wrongKey = providerSecret(bad(f));
    const breakerOf = async (id: string) => {
      const res = await fetch(`${stack.baseURL}/providers`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      const body = (await res.json()) as {
        data: Array<{ id: string; breaker: { errorRate: number; status: string } }>;
      };
      const b = body.data.find((d) => d.id === id)!.breaker;
      return { status: b.status, errorRate: b.errorRate };
    };
    // Not the good instance's: earlier cases' failures may still be reaching it.
    const breakerOfQuiet = () => breakerOf(`${quiet(f)}/${f.chatModel}`);
    const before = await breakerOfQuiet();
    expect(before).toEqual({ status: 'closed', errorRate: 0 });
    const res = await stack.post('/chat/completions', {
      model: `${bad(f)}/${f.chatModel}`,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(res.status).toBe(200);
    const attempts = attemptsOf(res);
    expect(attempts.filter((a) => a.provider === bad(f)).map((a) => a.errorType)).toEqual(['AuthFailed']);
    const sent = fake().callsFor(f.chatModel);
    expect(sent).toHaveLength(1);
    expect(f.saw.key(sent[0]!)).toBe(wrongKey);
    // Nothing of the key in the answer, the request's record, any row or the workflow's history.
    expect(leaked(JSON.stringify(res.body), wrongKey)).toBeUndefined();
    const requestId = res.headers.get('x-switchyard-request-id')!;
    const record = await fetch(`${stack.baseURL}/requests/${requestId}`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    });
    expect(leaked(await record.text(), wrongKey)).toBeUndefined();
    expect(leaked(await allRows(stack.db), wrongKey)).toBeUndefined();
    const history = await historyText(stack.env, res.headers.get('x-switchyard-workflow-id') ?? `req-${requestId}`);
    expect(history.text).toContain('AuthFailed');
    expect(leaked(history.text, wrongKey)).toBeUndefined();
    // Each instance has its own breaker: the bad key's failure reached the bad instance's (the
    // same model name on the same server), and another instance of the kind heard nothing of it.
    await until(10_000, 'the bad instance’s breaker hears of the failure', async () => {
      return (await breakerOf(`${bad(f)}/${f.chatModel}`)).errorRate > 0;
    });
    expect(await breakerOfQuiet()).toEqual(before);
  });
});
