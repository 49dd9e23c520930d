/**
 * One spelling everywhere (issue 27, item 4), over real HTTP with the official clients:
 * - every answer names its model by the catalog's id (`provider/model`), never the provider's
 *   own name of it: chat whole, streamed and from the cache, Anthropic's Messages whole and
 *   streamed, the Responses API whole and streamed, embeddings, operations, an OpenAI batch's
 *   output lines and an operation batch's results;
 * - a summary's key points are `key_points` in the operation's answer as in its batch's results
 *   (`keyPoints` kept as a deprecated alias of the operation's answer);
 * - the workflow's details (the Temporal UI's summary) repeat no word.
 */
import { toFile, type OpenAI } from 'openai';
import type Anthropic from '@anthropic-ai/sdk';
import { until } from '../support/chaos';
import { anthropicClient, fakeCatalog, fakeModel, openaiClient, useTestStack } from '../support/stack';

let client: OpenAI;
let anthropic: Anthropic;

const stack = useTestStack(
  {
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'chat', { capabilities: ['chat', 'json'] }),
        fakeModel('an', 'claude', { inputPricePerMTok: 5, outputPricePerMTok: 20 }),
        fakeModel('oa', 'embed', { capabilities: ['embeddings'], outputPricePerMTok: 0 }),
      ]),
    cache: { chat: 60 },
  },
  { timeout: 120_000 },
);
beforeAll(() => {
  // Operations are answered as the simulator would (valid JSON of each operation's shape).
  stack.fakes.openai.setDefault('chat', { kind: 'ok', simulate: true });
  client = openaiClient(stack);
  anthropic = anthropicClient(stack);
});

async function api(path: string, init: RequestInit = {}) {
  const res = await fetch(`${stack.baseURL}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${stack.apiKey}`, ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

/** The workflow's details as the Temporal UI shows them (its "User Metadata"). */
async function detailsOf(workflowId: string): Promise<string> {
  const meta = await stack.env.client.workflow
    .getHandle(workflowId)
    .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return meta.currentDetails ?? '';
}

/** The words a line of the details says more than once ("chat, chat"; "strategy:cost (…, strategy cost)"). */
function repeatedIn(details: string, heading: string): string[] {
  const line = details.split('\n').find((l) => l.startsWith(`**${heading}:**`));
  if (line === undefined) throw new Error(`no ${heading} line in ${details}`);
  const words: string[] =
    line
      .slice(heading.length + 5)
      .toLowerCase()
      .match(/[a-z]+/g) ?? [];
  return words.filter((w, i) => words.indexOf(w) !== i);
}

describe('model ids as provider/model in every answer', () => {
  it('chat: whole, from the cache and streamed', async () => {
    const messages = [{ role: 'user' as const, content: 'Spell the model id the same way, please.' }];
    const { data: whole, response } = await client.chat.completions.create({ model: 'auto', messages }).withResponse();
    expect(whole.model).toBe('oa/chat');
    expect(response.headers.get('x-switchyard-model')).toBe('oa/chat');
    expect(response.headers.get('x-switchyard-cache')).toBe('miss');

    const { data: cached, response: again } = await client.chat.completions
      .create({ model: 'auto', messages })
      .withResponse();
    expect(again.headers.get('x-switchyard-cache')).toBe('hit');
    expect(cached.model).toBe('oa/chat');

    const stream = await client.chat.completions.create({
      model: 'auto',
      messages: [{ role: 'user', content: 'Stream it.' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const models = new Set<string>();
    for await (const chunk of stream) models.add(chunk.model);
    expect([...models]).toEqual(['oa/chat']);
  });

  it("Anthropic's Messages: whole and streamed", async () => {
    const message = await anthropic.messages.create({
      model: 'an/claude',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(message.model).toBe('an/claude');
    const events = await anthropic.messages.create({
      model: 'an/claude',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Hi, streamed' }],
      stream: true,
    });
    const started: string[] = [];
    for await (const ev of events) if (ev.type === 'message_start') started.push(ev.message.model);
    expect(started).toEqual(['an/claude']);
  });

  it('the Responses API: whole and streamed', async () => {
    const whole = await client.responses.create({ model: 'auto', input: 'Hi' });
    expect(whole.model).toBe('oa/chat');
    expect((await client.responses.retrieve(whole.id)).model).toBe('oa/chat');
    const stream = await client.responses.create({ model: 'auto', input: 'Hi, streamed', stream: true });
    let completed: string | undefined;
    for await (const ev of stream) if (ev.type === 'response.completed') completed = ev.response.model;
    expect(completed).toBe('oa/chat');
  });

  it('embeddings and operations', async () => {
    const embedded = await client.embeddings.create({ model: 'auto', input: 'a text', encoding_format: 'float' });
    expect(embedded.model).toBe('oa/embed');
    const sentiment = await stack.post('/operations/sentiment', { text: 'What a lovely, happy day.' });
    expect(sentiment.status).toBe(200);
    expect(sentiment.body.model).toBe('oa/chat');
  });

  it("an OpenAI batch's output lines and an operation batch's results", async () => {
    const line = { custom_id: 'one', method: 'POST', url: '/v1/chat/completions' };
    const file = await client.files.create({
      file: await toFile(
        Buffer.from(
          `${JSON.stringify({ ...line, body: { model: 'auto', messages: [{ role: 'user', content: 'Hi' }] } })}\n`,
        ),
        'batch.jsonl',
      ),
      purpose: 'batch',
    });
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    let batch = created;
    await until(async () => {
      batch = await client.batches.retrieve(created.id);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(batch.status);
    }, 60_000);
    expect(batch.status).toBe('completed');
    const [out] = jsonLines(await (await client.files.content(batch.output_file_id!)).text());
    expect(out.response.body.model).toBe('oa/chat');

    const sub = await api('/operations/sentiment/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documents: [{ id: 'd1', text: 'A calm and pleasant afternoon.' }] }),
    });
    expect(sub.status).toBe(201);
    const id = JSON.parse(sub.text).id as string;
    await until(async () => JSON.parse((await api(`/operations/sentiment/batches/${id}`)).text).status === 'completed');
    const [result] = jsonLines((await api(`/operations/sentiment/batches/${id}/results`)).text);
    expect(result).toMatchObject({ id: 'd1', models: ['oa/chat'], error: null });
  });
});

describe("a summary's key points: one spelling in the operation and its batch", () => {
  const text =
    'The river rose overnight. The bridge was closed at dawn. Crews cleared the road by noon. ' +
    'Schools opened late. The mayor thanked the volunteers.';

  it('answers key_points, with keyPoints as a deprecated alias, and its batch lines agree', async () => {
    const op = await stack.post('/operations/summarize', { text, maxWords: 40 });
    expect(op.status).toBe(200);
    const { result } = op.body;
    expect(Object.keys(result).sort()).toEqual(['keyPoints', 'key_points', 'summary']);
    expect(result.key_points.length).toBeGreaterThan(0);
    expect(result.keyPoints).toEqual(result.key_points);

    const sub = await api('/operations/summarize/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documents: [{ id: 'flood', text }], maxWords: 40 }),
    });
    expect(sub.status).toBe(201);
    const id = JSON.parse(sub.text).id as string;
    await until(async () => JSON.parse((await api(`/operations/summarize/batches/${id}`)).text).status === 'completed');
    const [line] = jsonLines((await api(`/operations/summarize/batches/${id}/results`)).text);
    // The same document, the same simulated model: the same summary, spelled the same way.
    expect(line).toMatchObject({ id: 'flood', summary: result.summary, key_points: result.key_points });
    expect(line).not.toHaveProperty('keyPoints');
  });
});

describe("the workflow's details (the Temporal UI's summary)", () => {
  it('name the operation once, and its task type only when it says more', async () => {
    const chat = await stack.post('/chat/completions', {
      model: 'auto',
      messages: [{ role: 'user', content: 'Hello there, how are you?' }],
    });
    expect(chat.status).toBe(200);
    const chatDetails = await detailsOf(chat.body.switchyard.workflow_id);
    expect(chatDetails).toMatch(/\*\*Task:\*\* chat, simple, \d+ input tokens/);
    expect(chatDetails).toContain('**Decided by:** strategy:cost (config version ');
    expect(repeatedIn(chatDetails, 'Task')).toEqual([]);
    expect(repeatedIn(chatDetails, 'Decided by')).toEqual([]);

    const summary = await stack.post('/operations/summarize', { text: 'One sentence to summarize here.' });
    expect(summary.status).toBe(200);
    const summaryDetails = await detailsOf(summary.body.switchyard.workflow_id);
    expect(summaryDetails).toMatch(/\*\*Task:\*\* summarize \(summarization\), simple, \d+ input tokens/);
    expect(repeatedIn(summaryDetails, 'Task')).toEqual([]);
    expect(repeatedIn(summaryDetails, 'Decided by')).toEqual([]);
  });
});
