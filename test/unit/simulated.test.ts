import { OpenAIAdapter } from '../../src/providers/openai/adapter';
import { checkSchema } from '../../src/services/jsonSchema';
import {
  SIMULATED_EMBEDDING_DIMENSIONS,
  startSimulatedProvider,
  type SimulatedProvider,
  simulatedToolCall,
} from '../../src/providers/simulated';
import { toProviderFailure } from '../../src/providers/errors';

async function outcomes(sim: SimulatedProvider, n: number): Promise<string[]> {
  const adapter = new OpenAIAdapter({ providerId: 'simulated', apiKey: 'x', baseURL: sim.url, timeoutMs: 5000 });
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    try {
      await adapter.chat({ model: 'sim-mini', messages: [{ role: 'user', content: `hello ${i}` }] });
      out.push('ok');
    } catch (err) {
      out.push(toProviderFailure(err, 'simulated', 'sim-mini').type!);
    }
  }
  return out;
}

describe('simulated provider', () => {
  it('fails at the seeded rate, reproducibly (seed 42, 10%)', async () => {
    const a = await startSimulatedProvider({ failureRate: 0.1, seed: 42 });
    const b = await startSimulatedProvider({ failureRate: 0.1, seed: 42 });
    try {
      const first = await outcomes(a, 200);
      const second = await outcomes(b, 200);
      expect(second).toEqual(first);
      const failures = first.filter((o) => o !== 'ok');
      expect(failures.length).toBeGreaterThanOrEqual(10);
      expect(failures.length).toBeLessThanOrEqual(30);
      expect(new Set(failures)).toEqual(new Set(['Overloaded', 'RateLimited']));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('never fails at rate 0 and answers deterministically', async () => {
    const sim = await startSimulatedProvider();
    try {
      expect(new Set(await outcomes(sim, 20))).toEqual(new Set(['ok']));
      const adapter = new OpenAIAdapter({ providerId: 'simulated', apiKey: 'x', baseURL: sim.url, timeoutMs: 5000 });
      const one = await adapter.chat({ model: 'sim-large', messages: [{ role: 'user', content: 'same' }] });
      const two = await adapter.chat({ model: 'sim-large', messages: [{ role: 'user', content: 'same' }] });
      expect(two.content).toBe(one.content);
      expect(one.inputTokens).toBeGreaterThan(0);
    } finally {
      await sim.close();
    }
  });

  it('serves embeddings through the OpenAI adapter: unit vectors, equal for equal texts', async () => {
    const sim = await startSimulatedProvider();
    try {
      const adapter = new OpenAIAdapter({ providerId: 'simulated', apiKey: 'x', baseURL: sim.url, timeoutMs: 5000 });
      const out = await adapter.embed('sim-embed', ['alpha', 'beta', 'alpha']);
      expect(out.embeddings).toHaveLength(3);
      expect(out.embeddings[0]).toHaveLength(SIMULATED_EMBEDDING_DIMENSIONS);
      expect(out.embeddings[2]).toEqual(out.embeddings[0]);
      expect(out.embeddings[1]).not.toEqual(out.embeddings[0]);
      expect(Math.hypot(...out.embeddings[0]!)).toBeCloseTo(1, 6);
      expect(out.inputTokens).toBeGreaterThan(0);
    } finally {
      await sim.close();
    }
  });
});

describe('simulated tool calls', () => {
  const tools = [
    {
      type: 'function' as const,
      function: {
        name: 'book',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, nights: { type: 'integer' }, view: { enum: ['sea', 'park'] } },
          required: ['city', 'nights', 'view'],
        },
      },
    },
    { type: 'function' as const, function: { name: 'other' } },
  ];
  const user = [{ role: 'user' as const, content: 'Book it' }];

  it('calls the first (or the named) tool with arguments that fit its schema', () => {
    const call = simulatedToolCall(tools, undefined, user)!;
    expect(call.function.name).toBe('book');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'example', nights: 1, view: 'sea' });
    expect(simulatedToolCall(tools, { type: 'function', function: { name: 'other' } }, user)!.function).toEqual({
      name: 'other',
      arguments: '{}',
    });
  });

  it('answers in text after a tool result, or when tool_choice is none', () => {
    expect(simulatedToolCall(tools, 'none', user)).toBeUndefined();
    expect(
      simulatedToolCall(tools, 'auto', [...user, { role: 'tool' as const, tool_call_id: 'c', content: 'done' }]),
    ).toBeUndefined();
    expect(simulatedToolCall(undefined, undefined, user)).toBeUndefined();
  });
});

it('answers json_schema requests with JSON that fits the schema, and calls offered tools', async () => {
  const sim = await startSimulatedProvider();
  try {
    const adapter = new OpenAIAdapter({ providerId: 'simulated', apiKey: 'x', baseURL: sim.url, timeoutMs: 5000 });
    const schema = {
      type: 'object',
      properties: {
        label: { enum: ['yes', 'no'] },
        score: { type: 'number' },
        tags: { type: 'array', items: { type: 'string' } },
      },
      required: ['label', 'score', 'tags'],
    };
    const out = await adapter.chat({
      model: 'sim-mini',
      messages: [{ role: 'user', content: 'Classify' }],
      responseFormat: { type: 'json_schema', json_schema: { name: 'c', schema } },
    });
    expect(checkSchema(schema, JSON.parse(out.content!))).toEqual({ ok: true });
    const called = await adapter.chat({
      model: 'sim-mini',
      messages: [{ role: 'user', content: 'Weather?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ],
    });
    expect(called.finishReason).toBe('tool_calls');
    expect(called.toolCalls).toEqual([
      {
        id: expect.stringMatching(/^call_sim_/),
        type: 'function',
        function: { name: 'weather', arguments: '{"city":"example"}' },
      },
    ]);
  } finally {
    await sim.close();
  }
});
