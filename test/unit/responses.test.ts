import type { Response, ResponseItem } from 'openai/resources/responses/responses';
import type { ResponseItemList } from 'openai/resources/responses/input-items';
import { createDocument } from 'zod-openapi';
import { fromZodError } from '../../src/api/errors';
import { ChatCompletionRequestSchema } from '../../src/domain/chat';
import {
  errorCodeOf,
  echoedParams,
  inputItemIdOf,
  inputItemsPage,
  InputItemsQuerySchema,
  normalizeInputItems,
  outputCallIdOf,
  outputMessageIdOf,
  parseItemId,
  prefixOf,
  referencedItem,
  refusalOf,
  responseIdOf,
  responseFactsOf,
  responseObject,
  ResponsesCreateSchema,
  statusOf,
  toChatRequest,
  type ResponseHead,
  type ResponseProgress,
} from '../../src/domain/responses';

const parse = (body: unknown) => ResponsesCreateSchema.parse(body);

/** The 400 the API answers for a body: a refusal's own code, or the usual invalid_value. */
function errorFor(body: unknown) {
  const parsed = ResponsesCreateSchema.safeParse(body);
  if (parsed.success) throw new Error('expected a validation error');
  const refusal = refusalOf(parsed.error);
  if (refusal) return refusal;
  const err = fromZodError(parsed.error);
  return { param: err.param, code: err.code, message: err.message };
}

/** The chat body, checked the way the activities re-read it. */
const chatOf = (...args: Parameters<typeof toChatRequest>) => ChatCompletionRequestSchema.parse(toChatRequest(...args));

const RID = '7c1e0d4a-1111-4222-8333-944455556666';

describe('ResponsesCreateSchema', () => {
  it('accepts what the AI SDK sends: system string, parts, an image without detail, calls, outputs, a typeless reference', () => {
    const body = parse({
      model: 'oa/chat',
      input: [
        { role: 'system', content: 'Be brief' },
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'what is this?' },
            { type: 'input_image', image_url: 'data:image/png;base64,AAAA' },
          ],
        },
        { type: 'item_reference', id: `msg_${RID}` },
        { id: `msg_${RID}` },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"temp":3}' },
      ],
      temperature: 0.5,
      top_p: 1,
      max_output_tokens: 100,
      text: { format: { type: 'json_schema', name: 'response', strict: true, schema: { type: 'object' } } },
      tools: [{ type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object' } }],
      tool_choice: 'auto',
      stream: true,
    });
    expect(body.input!.map((i) => i.type)).toEqual([
      'message',
      'message',
      'item_reference',
      'item_reference',
      'function_call',
      'function_call_output',
    ]);
  });

  it("accepts the Python client's `input += r.output` (echoed id, status, annotations, logprobs, phase) and the ignored fields", () => {
    const body = parse({
      model: 'oa/chat',
      input: [
        { role: 'user', content: 'hi' },
        {
          id: `msg_${RID}`,
          type: 'message',
          status: 'completed',
          role: 'assistant',
          phase: null,
          content: [{ type: 'output_text', text: 'Hello', annotations: [], logprobs: [] }],
        },
        {
          id: `fc_${RID}_0`,
          type: 'function_call',
          status: 'completed',
          call_id: 'call_1',
          name: 'f',
          arguments: '{}',
        },
        { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_text', text: 'ok' }] },
        { type: 'reasoning', id: 'rs_1', summary: [] },
      ],
      include: ['message.output_text.logprobs'],
      stream_options: { include_obfuscation: false },
      truncation: 'disabled',
      service_tier: 'auto',
      reasoning: { effort: 'low' },
      prompt_cache_key: 'k',
      prompt_cache_retention: '24h',
      safety_identifier: 's',
      max_tool_calls: 3,
      top_logprobs: 0,
      conversation: null,
      store: true,
      background: false,
      metadata: { a: 'b' },
      user: 'u',
      previous_response_id: null,
      parallel_tool_calls: false,
    });
    expect(normalizeInputItems(body.input)).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] },
      { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_1', output: 'ok' },
    ]);
  });

  it('refuses hosted tools, other tool choices, files, conversations and stored prompts, naming the param and code', () => {
    const input = 'hi';
    expect(
      errorFor({ model: 'm', input, tools: [{ type: 'function', name: 'f' }, { type: 'web_search_preview' }] }),
    ).toMatchObject({ param: 'tools[1].type', code: 'unsupported_tool' });
    expect(
      errorFor({ model: 'm', input, tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'file_search' } }),
    ).toMatchObject({ param: 'tool_choice.type', code: 'unsupported_tool_choice' });
    expect(errorFor({ model: 'm', input, conversation: 'conv_1' })).toMatchObject({
      param: 'conversation',
      code: 'unsupported_parameter',
    });
    expect(errorFor({ model: 'm', input, prompt: { id: 'pmpt_1' } })).toMatchObject({
      param: 'prompt',
      code: 'unsupported_parameter',
    });
    const file = { type: 'input_file', file_id: 'file_1' };
    expect(
      errorFor({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_text', text: 'x' }, file] }] }),
    ).toMatchObject({ param: 'input[0].content[1].type', code: 'unsupported_content' });
    const byFile = { type: 'input_image', file_id: 'file_1', detail: 'auto' };
    expect(errorFor({ model: 'm', input: [{ role: 'user', content: [byFile] }] })).toMatchObject({
      param: 'input[0].content[0].file_id',
      code: 'unsupported_content',
    });
    const image = { type: 'input_image', image_url: 'https://x/y.png' };
    expect(errorFor({ model: 'm', input: [{ role: 'system', content: [image] }] })).toMatchObject({
      param: 'input[0].content[0].type',
      code: 'unsupported_content',
    });
  });

  it('answers other problems as invalid values at their path, and unknown keys as chat does', () => {
    expect(errorFor({ model: 'm', input: 'x', max_token: 5 })).toMatchObject({
      param: 'max_token',
      code: 'unknown_parameter',
    });
    expect(errorFor({ model: 'm', input: [{ type: 'web_search_call', id: 'ws_1' }] })).toMatchObject({
      param: 'input[0].type',
      code: 'invalid_value',
    });
    expect(
      errorFor({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'file:///etc' }] }] }),
    ).toMatchObject({ param: 'input[0].content[0].image_url', code: 'invalid_value' });
    expect(
      errorFor({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_text', text: 1 }] }] }),
    ).toMatchObject({ param: 'input[0].content[0].text' });
    expect(errorFor({ model: 'm', input: 'x', text: { format: { type: 'json_schema', schema: {} } } })).toMatchObject({
      param: 'text.format.name',
    });
    expect(errorFor({ model: 'm', input: 'x', temperature: 3 })).toMatchObject({ param: 'temperature' });
    expect(errorFor({ model: 'm' })).toMatchObject({ param: 'input' });
    expect(errorFor({ model: 'm', input: [], instructions: 'x' })).toMatchObject({ param: 'input' });
    expect(errorFor({ model: 'm', input: 'x', background: true, store: false })).toMatchObject({
      param: 'background',
    });
    expect(errorFor({ model: 'm', input: 'x', tool_choice: 'required' })).toMatchObject({ param: 'tool_choice' });
    expect(
      errorFor({
        model: 'm',
        input: 'x',
        tools: [{ type: 'function', name: 'f' }],
        tool_choice: { type: 'function', name: 'g' },
      }),
    ).toMatchObject({ param: 'tool_choice' });
    // A previous response alone continues the chain.
    expect(parse({ model: 'm', previous_response_id: `resp_${RID}` }).input).toBeUndefined();
  });

  it('converts to an OpenAPI document (the route documents its body with it)', () => {
    const doc = createDocument({
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
      paths: {
        '/v1/responses': {
          post: {
            requestBody: { content: { 'application/json': { schema: ResponsesCreateSchema } } },
            responses: { 200: { description: 'ok' } },
          },
        },
      },
    });
    expect(JSON.stringify(doc)).toContain('previous_response_id');
  });
});

describe('toChatRequest', () => {
  it('instructions first, then the prefix, then a string input as a user message', () => {
    const prefix = [
      { role: 'user' as const, content: 'earlier' },
      { role: 'assistant' as const, content: 'reply' },
    ];
    expect(chatOf(parse({ model: 'oa/chat', input: 'Hello', instructions: 'Be brief' }), prefix)).toEqual({
      model: 'oa/chat',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'earlier' },
        { role: 'assistant', content: 'reply' },
        { role: 'user', content: 'Hello' },
      ],
    });
  });

  it('maps text and image parts (detail auto when absent or original), system and developer text', () => {
    const chat = chatOf(
      parse({
        model: 'm',
        input: [
          { role: 'developer', content: 'rules' },
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'look' },
              { type: 'input_image', image_url: 'https://x/a.png' },
              { type: 'input_image', image_url: 'https://x/b.png', detail: 'original' },
              { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' },
            ],
          },
        ],
      }),
    );
    expect(chat.messages).toEqual([
      { role: 'developer', content: 'rules' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'look' },
          { type: 'image_url', image_url: { url: 'https://x/a.png', detail: 'auto' } },
          { type: 'image_url', image_url: { url: 'https://x/b.png', detail: 'auto' } },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
        ],
      },
    ]);
  });

  it('merges consecutive function calls into the assistant text before them; outputs become tool messages', () => {
    const call = (id: string) => ({ type: 'function_call', call_id: id, name: 'f', arguments: `{"n":"${id}"}` });
    const chat = chatOf(
      parse({
        model: 'm',
        tools: [{ type: 'function', name: 'f', parameters: null }],
        input: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content: [{ type: 'output_text', text: 'Calling', annotations: [] }] },
          call('c1'),
          call('c2'),
          { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_text', text: 'one' }] },
          { type: 'function_call_output', call_id: 'c2', output: 'two' },
          call('c3'),
          { type: 'function_call_output', call_id: 'c3', output: 'three' },
        ],
      }),
    );
    const tc = (id: string) => ({ id, type: 'function', function: { name: 'f', arguments: `{"n":"${id}"}` } });
    expect(chat.messages).toEqual([
      { role: 'user', content: 'go' },
      { role: 'assistant', content: 'Calling', tool_calls: [tc('c1'), tc('c2')] },
      { role: 'tool', tool_call_id: 'c1', content: 'one' },
      { role: 'tool', tool_call_id: 'c2', content: 'two' },
      { role: 'assistant', content: null, tool_calls: [tc('c3')] },
      { role: 'tool', tool_call_id: 'c3', content: 'three' },
    ]);
    expect(chat.tools).toEqual([{ type: 'function', function: { name: 'f' } }]);
  });

  it('maps tools, tool_choice, text.format and the numbers; ignored fields are not carried', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    const chat = chatOf(
      parse({
        model: 'm',
        input: 'x',
        tools: [
          { type: 'function', name: 'f', description: 'F', parameters: { type: 'object' }, strict: true },
          { type: 'function', name: 'g', parameters: { type: 'object' } },
        ],
        tool_choice: { type: 'function', name: 'g' },
        parallel_tool_calls: false,
        text: { format: { type: 'json_schema', name: 'response', schema, strict: true }, verbosity: 'low' },
        max_output_tokens: 64,
        temperature: 0.2,
        top_p: 0.9,
        user: 'u1',
        metadata: { k: 'v' },
        stream: true,
        background: true,
        store: true,
        reasoning: { effort: 'low' },
        include: [],
      }),
    );
    expect(chat).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      max_completion_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      user: 'u1',
      metadata: { k: 'v' },
      tools: [
        {
          type: 'function',
          function: { name: 'f', description: 'F', parameters: { type: 'object' }, strict: true },
        },
        { type: 'function', function: { name: 'g', parameters: { type: 'object' } } },
      ],
      tool_choice: { type: 'function', function: { name: 'g' } },
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'response', schema, strict: true } },
      stream: true,
    });
    expect(
      chatOf(parse({ model: 'm', input: 'x', text: { format: { type: 'json_object' } } })).response_format,
    ).toEqual({ type: 'json_object' });
    // 'auto' with no tools says nothing to chat (whose schema refuses a tool_choice without tools).
    expect(chatOf(parse({ model: 'm', input: 'x', tool_choice: 'auto', tools: [] }))).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
    });
  });

  it('takes the resolved items, and refuses a reference left unresolved', () => {
    const params = parse({ model: 'm', input: [{ type: 'item_reference', id: `msg_${RID}` }] });
    expect(() => toChatRequest(params)).toThrow(/item_reference/);
    const resolved = referencedItem(parseItemId(`msg_${RID}`)!, {
      response: { content: 'Earlier answer', finishReason: 'stop', providerModel: 'x' },
      inputItems: [],
    })!;
    expect(chatOf(params, [], [resolved]).messages).toEqual([{ role: 'assistant', content: 'Earlier answer' }]);
  });
});

describe('prefixOf', () => {
  it("is the previous request's messages without its instructions, then its answer", () => {
    const body = {
      model: 'm',
      messages: [
        { role: 'system', content: 'old instructions' },
        { role: 'user', content: 'weather?' },
      ],
    };
    const response = {
      content: null,
      finishReason: 'tool_calls',
      providerModel: 'x',
      toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'w', arguments: '{}' } }],
    };
    expect(prefixOf({ body, hasInstructions: true, response })).toEqual([
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'w', arguments: '{}' } }],
      },
    ]);
    expect(prefixOf({ body, hasInstructions: false, response: null })).toEqual(body.messages);
  });
});

describe('ids', () => {
  it('every id parses back to its request and position', () => {
    for (const rid of [RID, 'idem-0123abcdef']) {
      expect(parseItemId(responseIdOf(rid))).toEqual({ kind: 'response', requestId: rid });
      expect(parseItemId(outputMessageIdOf(rid))).toEqual({ kind: 'output_message', requestId: rid });
      expect(parseItemId(outputCallIdOf(rid, 3))).toEqual({ kind: 'output_call', requestId: rid, index: 3 });
      for (const type of ['message', 'function_call', 'function_call_output'] as const)
        expect(parseItemId(inputItemIdOf(rid, type, 12))).toEqual({ kind: 'input', requestId: rid, index: 12, type });
    }
    expect(responseIdOf(RID)).toBe(`resp_${RID}`);
    expect(outputCallIdOf(RID, 0)).toBe(`fc_${RID}_0`);
    expect(inputItemIdOf(RID, 'function_call_output', 2)).toBe(`fco_${RID}_in2`);
    for (const bad of ['', 'resp_', `resp_${RID}_0`, `msg_${RID}_0`, `fco_${RID}_0`, `fc_${RID}`, 'call_1', `x_${RID}`])
      expect(parseItemId(bad)).toBeUndefined();
  });

  it('a reference resolves to the output message, an output call or an input item of the right type', () => {
    const response = {
      content: 'Hi',
      finishReason: 'tool_calls',
      providerModel: 'x',
      toolCalls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
    };
    const inputItems = [
      { type: 'message' as const, role: 'user' as const, content: [{ type: 'input_text' as const, text: 'q' }] },
    ];
    const source = { response, inputItems };
    expect(referencedItem(parseItemId(`fc_${RID}_0`)!, source)).toEqual({
      type: 'function_call',
      call_id: 'call_9',
      name: 'f',
      arguments: '{"a":1}',
    });
    expect(referencedItem(parseItemId(`fc_${RID}_1`)!, source)).toBeUndefined();
    expect(referencedItem(parseItemId(`msg_${RID}_in0`)!, source)).toEqual(inputItems[0]);
    expect(referencedItem(parseItemId(`fc_${RID}_in0`)!, source)).toBeUndefined();
    expect(referencedItem(parseItemId(`msg_${RID}`)!, { response: null, inputItems })).toBeUndefined();
  });
});

describe('statusOf and errorCodeOf', () => {
  const answer = (finishReason: string) => ({ content: 'x', finishReason, providerModel: 'p' });
  it('follows the status table', () => {
    expect(statusOf({ status: 'received' })).toBe('queued');
    expect(statusOf({ status: 'running' })).toBe('in_progress');
    expect(statusOf({ status: 'succeeded', response: answer('stop') })).toBe('completed');
    expect(statusOf({ status: 'succeeded', response: answer('tool_calls') })).toBe('completed');
    expect(statusOf({ status: 'succeeded', response: answer('length') })).toBe('incomplete');
    expect(statusOf({ status: 'succeeded', response: answer('content_filter') })).toBe('incomplete');
    expect(statusOf({ status: 'succeeded', response: answer('stop'), cancelledAt: new Date() })).toBe('completed');
    expect(statusOf({ status: 'failed', error: { type: 'Cancelled', message: 'm' }, cancelledAt: new Date() })).toBe(
      'cancelled',
    );
    // Cancelled by the client, its workflow not yet ended.
    expect(statusOf({ status: 'running', cancelledAt: new Date() })).toBe('cancelled');
    expect(statusOf({ status: 'failed', error: { type: 'Timeout', message: 'm' } })).toBe('failed');
  });

  it('maps failure types onto the Response error codes', () => {
    expect(errorCodeOf('BudgetExceeded')).toBe('rate_limit_exceeded');
    expect(errorCodeOf('AllRateLimited')).toBe('rate_limit_exceeded');
    expect(errorCodeOf('ContextLengthExceeded')).toBe('invalid_prompt');
    expect(errorCodeOf('Timeout')).toBe('server_error');
    expect(errorCodeOf(undefined)).toBe('server_error');
  });
});

// §1.2's example, checked against the SDK's own type (all but `output_text`, which the SDKs compute).
const EXAMPLE = {
  id: `resp_${RID}`,
  object: 'response',
  created_at: 1765090000,
  status: 'completed',
  background: false,
  completed_at: 1765090001,
  error: null,
  incomplete_details: null,
  instructions: 'Be brief',
  max_output_tokens: null,
  model: 'oa/chat',
  parallel_tool_calls: true,
  previous_response_id: null,
  reasoning: null,
  store: true,
  temperature: null,
  text: { format: { type: 'text' } },
  tool_choice: 'auto',
  tools: [],
  top_p: null,
  truncation: 'disabled',
  user: null,
  metadata: {},
  output: [
    {
      id: `msg_${RID}`,
      type: 'message',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: 'Hello there', annotations: [] }],
    },
  ],
  usage: {
    input_tokens: 12,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 3,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 15,
  },
} satisfies Omit<Response, 'output_text' | 'user'> & { user: string | null; store: boolean };

const head = (over: Partial<ResponseHead> = {}): ResponseHead => ({
  requestId: RID,
  createdAt: new Date(1765090000_000),
  params: echoedParams(parse({ model: 'auto', input: 'Hi', instructions: 'Be brief' })),
  previousResponseId: null,
  background: false,
  store: true,
  ...over,
});

describe('responseObject', () => {
  it('is the example of §1.2 for a completed answer, and types as the SDK Response', () => {
    const progress: ResponseProgress = {
      status: 'succeeded',
      model: 'oa/chat',
      response: { content: 'Hello there', finishReason: 'stop', providerModel: 'chat-1' },
      inputTokens: 12,
      outputTokens: 3,
      completedAt: '2025-12-07T06:46:41.500Z',
    };
    const body = responseObject(head(), progress);
    expect(body).toEqual(EXAMPLE);
    // Compile time: our body is assignable to the SDK's Response (less what the SDK computes).
    const typed: Omit<Response, 'output_text' | 'usage' | 'user'> = body;
    expect(typed.id).toBe(`resp_${RID}`);
  });

  it('names output calls fc_<rid>_<i>, echoes tools, tool_choice, text and the chain', () => {
    const params = echoedParams(
      parse({
        model: 'auto',
        input: 'x',
        tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }],
        tool_choice: 'required',
        text: { format: { type: 'json_object' } },
        temperature: 0.3,
        metadata: { a: 'b' },
      }),
    );
    const body = responseObject(head({ params, previousResponseId: `resp_x`, background: true }), {
      status: 'succeeded',
      model: 'oa/chat',
      response: {
        content: null,
        finishReason: 'tool_calls',
        providerModel: 'p',
        toolCalls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        ],
      },
      inputTokens: 5,
      outputTokens: 7,
      completedAt: new Date(1765090002_000),
    });
    expect(body).toMatchObject({
      status: 'completed',
      background: true,
      previous_response_id: 'resp_x',
      instructions: null,
      tools: [
        { type: 'function', name: 'get_weather', description: null, parameters: { type: 'object' }, strict: null },
      ],
      tool_choice: 'required',
      text: { format: { type: 'json_object' } },
      temperature: 0.3,
      metadata: { a: 'b' },
      output: [
        {
          id: `fc_${RID}_0`,
          type: 'function_call',
          status: 'completed',
          call_id: 'call_1',
          name: 'get_weather',
          arguments: '{"city":"Oslo"}',
        },
      ],
      usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 },
      completed_at: 1765090002,
    });
  });

  it('incomplete, queued, in progress, failed and cancelled', () => {
    const cut = responseObject(head(), {
      status: 'succeeded',
      model: 'oa/chat',
      response: { content: 'Hel', finishReason: 'length', providerModel: 'p' },
      inputTokens: 1,
      outputTokens: 1,
      completedAt: new Date(),
    });
    expect(cut).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      output: [{ status: 'incomplete', content: [{ text: 'Hel' }] }],
    });
    expect(responseObject(head({ background: true }), { status: 'received' })).toMatchObject({
      status: 'queued',
      model: 'auto',
      output: [],
      usage: null,
      completed_at: null,
      error: null,
    });
    expect(responseObject(head(), { status: 'running', model: 'oa/chat' })).toMatchObject({
      status: 'in_progress',
      model: 'oa/chat',
      completed_at: null,
    });
    expect(
      responseObject(head(), {
        status: 'failed',
        error: { type: 'BudgetExceeded', message: 'over budget', candidates: [] },
        completedAt: new Date(1765090005_000),
      }),
    ).toMatchObject({
      status: 'failed',
      error: { code: 'rate_limit_exceeded', message: 'over budget' },
      output: [],
      usage: null,
      completed_at: 1765090005,
    });
    expect(responseObject(head(), { status: 'running', cancelledAt: new Date(1765090009_000) })).toMatchObject({
      status: 'cancelled',
      error: null,
      completed_at: 1765090009,
    });
  });
});

describe('inputItemsPage', () => {
  const params = parse({
    model: 'm',
    input: [
      {
        role: 'user',
        content: [
          { type: 'input_text', text: 'a' },
          { type: 'input_image', image_url: 'https://x/i.png' },
        ],
      },
      { role: 'assistant', content: 'b' },
      { type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' },
      { type: 'function_call_output', call_id: 'c', output: 'r' },
    ],
  });
  const items = normalizeInputItems(params.input);
  const ids = [`msg_${RID}_in0`, `msg_${RID}_in1`, `fc_${RID}_in2`, `fco_${RID}_in3`];

  it('lists newest first by default, with ids, statuses and the SDK item shapes', () => {
    const page = inputItemsPage(RID, items)!;
    expect(page.data.map((i) => i.id)).toEqual([...ids].reverse());
    expect(page).toMatchObject({ object: 'list', first_id: ids[3], last_id: ids[0], has_more: false });
    expect(page.data.slice().reverse()).toEqual([
      {
        id: ids[0],
        type: 'message',
        role: 'user',
        status: 'completed',
        content: [
          { type: 'input_text', text: 'a' },
          { type: 'input_image', image_url: 'https://x/i.png', detail: 'auto', file_id: null },
        ],
      },
      {
        id: ids[1],
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'b', annotations: [] }],
      },
      { id: ids[2], type: 'function_call', call_id: 'c', name: 'f', arguments: '{}', status: 'completed' },
      { id: ids[3], type: 'function_call_output', call_id: 'c', output: 'r', status: 'completed' },
    ]);
    // Compile time: the page is the SDK's list of items.
    const typed: Omit<ResponseItemList, 'first_id' | 'last_id' | 'data'> & { data: ResponseItem[] } = page;
    expect(typed.object).toBe('list');
  });

  it('pages with order, after and limit; an unknown `after` is undefined', () => {
    const q = (raw: Record<string, string>) => InputItemsQuerySchema.parse(raw);
    const first = inputItemsPage(RID, items, q({ order: 'asc', limit: '2' }))!;
    expect(first.data.map((i) => i.id)).toEqual(ids.slice(0, 2));
    expect(first.has_more).toBe(true);
    const second = inputItemsPage(RID, items, q({ order: 'asc', limit: '2', after: first.last_id! }))!;
    expect(second.data.map((i) => i.id)).toEqual(ids.slice(2));
    expect(second.has_more).toBe(false);
    const desc = inputItemsPage(RID, items, q({ after: ids[2]! }))!;
    expect(desc.data.map((i) => i.id)).toEqual([ids[1], ids[0]]);
    expect(inputItemsPage(RID, items, q({ after: 'msg_other_in0' }))).toBeUndefined();
    expect(inputItemsPage(RID, [], q({}))).toEqual({
      object: 'list',
      data: [],
      first_id: null,
      last_id: null,
      has_more: false,
    });
    expect(InputItemsQuerySchema.safeParse({ limit: '101' }).success).toBe(false);
  });
});

describe('responseFactsOf', () => {
  it('builds the Response from a stored row (the columns getResponse reads)', () => {
    const params = echoedParams(parse({ model: 'auto', input: 'Hi', instructions: 'Be brief' }));
    const row = {
      id: `resp_${RID}`,
      request_id: RID,
      previous_response_id: null,
      background: false,
      store: true,
      params: JSON.parse(JSON.stringify(params)) as unknown,
      cancelled_at: null,
      status: 'succeeded' as const,
      model: 'oa/chat',
      response: { content: 'Hello there', finishReason: 'stop', providerModel: 'chat-1' },
      input_tokens: 12,
      output_tokens: 3,
      error: null,
      created_at: new Date(1765090000_000),
      completed_at: new Date(1765090001_000),
      workflow_id: 'w',
    };
    expect(responseObject(...responseFactsOf(row))).toEqual(EXAMPLE);
    expect(() => responseFactsOf({ ...row, params: {} })).toThrow();
  });
});
