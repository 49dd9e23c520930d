/**
 * Context fitting's pure part (issue 26): which turns `truncate` drops (the oldest; system
 * messages, the last user turn and tool-call/tool-result pairs kept), when it cannot help, the
 * target window, the summary's place, and the modes' precedence and schemas.
 */
import type { ChatMessage } from '../../src/domain/chat';
import { TenantPolicySchema } from '../../src/domain/config';
import {
  fitModeOf,
  fitNote,
  fitTarget,
  SUMMARY_PREFIX,
  transcriptOf,
  truncate,
  turnsOf,
  withSummary,
  type Truncation,
} from '../../src/domain/fit';
import { SwitchyardRequestExtensionSchema } from '../../src/domain/requestExtension';
import { countMessageTokens } from '../../src/domain/tokens';

// A counter easy to reason about: 10 tokens a message.
const tenEach = (ms: ChatMessage[]) => ms.length * 10;
const word = (n: number) => 'lorem '.repeat(n).trim();

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'u1' },
  { role: 'assistant', content: 'a1' },
  { role: 'user', content: 'u2' },
  { role: 'assistant', content: 'a2' },
  { role: 'user', content: 'u3' },
];

const ok = (r: ReturnType<typeof truncate>): Truncation => {
  if (!r.ok) throw new Error(`expected a fit: ${r.reason}`);
  return r;
};
const texts = (ms: ChatMessage[]) => ms.map((m) => `${m.role}:${typeof m.content === 'string' ? m.content : ''}`);

describe('truncate', () => {
  it('drops the fewest oldest turns, keeping the system message and the latest turns', () => {
    const t = ok(truncate(conversation, tenEach, 40));
    expect(texts(t.messages)).toEqual(['system:You are terse.', 'user:u2', 'assistant:a2', 'user:u3']);
    expect(texts(t.dropped)).toEqual(['user:u1', 'assistant:a1']);
    expect(t).toMatchObject({ tokensBefore: 60, keptTokens: 40, droppedTokens: 20, tokensSaved: 20, firstKept: 1 });
  });

  it('drops nothing when the conversation already fits', () => {
    const t = ok(truncate(conversation, tenEach, 60));
    expect(t.messages).toHaveLength(6);
    expect(t.dropped).toEqual([]);
    expect(t.tokensSaved).toBe(0);
  });

  it('keeps system messages wherever they are', () => {
    const ms: ChatMessage[] = [
      { role: 'user', content: 'u1' },
      { role: 'developer', content: 'rules' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'u2' },
    ];
    const t = ok(truncate(ms, tenEach, 20));
    expect(texts(t.messages)).toEqual(['developer:rules', 'user:u2']);
  });

  it('keeps an assistant tool call and its results together, and the kept turns start with a user message', () => {
    const call = (id: string) => ({
      role: 'assistant' as const,
      content: null,
      tool_calls: [{ id, type: 'function' as const, function: { name: 'look', arguments: '{}' } }],
    });
    const ms: ChatMessage[] = [
      { role: 'system', content: 's' },
      { role: 'user', content: 'u1' },
      call('c1'),
      { role: 'tool', tool_call_id: 'c1', content: 'r1' },
      { role: 'tool', tool_call_id: 'c1', content: 'r1b' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'u2' },
      call('c2'),
      { role: 'tool', tool_call_id: 'c2', content: 'r2' },
      { role: 'user', content: 'u3' },
    ];
    expect(turnsOf(ms)).toEqual([[1, 2, 3, 4, 5], [6, 7, 8], [9]]);
    // Room for 7 messages: the first turn (5) cannot be split, so it goes whole.
    const t = ok(truncate(ms, tenEach, 70));
    expect(texts(t.messages)).toEqual(['system:s', 'user:u2', 'assistant:', 'tool:r2', 'user:u3']);
    expect(t.dropped.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'tool', 'assistant']);
  });

  it('keeps everything from the last user message on (a tool loop in progress)', () => {
    const ms: ChatMessage[] = [
      { role: 'user', content: 'u1' },
      { role: 'user', content: 'u2' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'r' },
    ];
    const t = ok(truncate(ms, tenEach, 30));
    expect(texts(t.messages)).toEqual(['user:u2', 'assistant:', 'tool:r']);
  });

  it('cannot help when the system messages and the last user turn alone are too long (still a 400)', () => {
    const r = truncate(conversation, tenEach, 15);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.minimumTokens).toBe(20);
    expect(r.reason).toBe(
      'the system messages and the latest turn alone have 20 tokens, more than the 15 the largest window leaves for the prompt',
    );
  });

  it('leaves room for a summary when asked (`reserve`), and says so when there is none', () => {
    const t = ok(truncate(conversation, tenEach, 50, 10));
    expect(texts(t.messages)).toEqual(['system:You are terse.', 'user:u2', 'assistant:a2', 'user:u3']);
    const r = truncate(conversation, tenEach, 25, 10);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain('(10 more kept for a summary)');
  });

  it('fits with the real token counter, to the budget exactly counted', () => {
    const long: ChatMessage[] = [
      { role: 'system', content: 'Answer briefly.' },
      ...Array.from({ length: 20 }, (_, i): ChatMessage[] => [
        { role: 'user', content: `question ${i}: ${word(50)}` },
        { role: 'assistant', content: `answer ${i}: ${word(50)}` },
      ]).flat(),
      { role: 'user', content: 'And finally?' },
    ];
    const before = countMessageTokens(long);
    const t = ok(truncate(long, countMessageTokens, 500));
    expect(t.keptTokens).toBeLessThanOrEqual(500);
    expect(countMessageTokens(t.messages)).toBe(t.keptTokens);
    expect(t.tokensBefore).toBe(before);
    expect(t.messages[0]).toEqual({ role: 'system', content: 'Answer briefly.' });
    expect(t.messages.at(-1)).toEqual({ role: 'user', content: 'And finally?' });
    // The fewest dropped: one more turn back would not fit.
    expect(t.dropped.length + t.messages.length).toBe(long.length);
    expect(t.messages[1]!.role).toBe('user');
    const oneMore = [t.messages[0]!, ...t.dropped.slice(-2), ...t.messages.slice(1)];
    expect(countMessageTokens(oneMore)).toBeGreaterThan(500);
  });
});

describe('withSummary', () => {
  it('puts the summary as a system message just before the kept turns', () => {
    const t = ok(truncate(conversation, tenEach, 40));
    const ms = withSummary(t, ' They greeted each other. ');
    expect(texts(ms)).toEqual([
      'system:You are terse.',
      `system:${SUMMARY_PREFIX}They greeted each other.`,
      'user:u2',
      'assistant:a2',
      'user:u3',
    ]);
  });
});

describe('fitTarget', () => {
  it("is the context-rejected model that takes the longest prompt once its output's room is kept", () => {
    const target = fitTarget(
      [
        { modelId: 'a', filter: 'context-window', contextWindow: 1000, neededTokens: 1500 + 100 },
        // A larger window, but its output room (the full 1,000 asked) leaves less for the prompt.
        { modelId: 'b', filter: 'context-window', contextWindow: 1050, neededTokens: 1500 + 1000 },
        { modelId: 'c', filter: 'capability', contextWindow: 9000, neededTokens: 1 },
      ],
      1500,
    );
    expect(target).toEqual({ modelId: 'a', window: 1000, inputBudget: 900 });
  });

  it('is none when no model was removed for its window', () => {
    expect(fitTarget([{ modelId: 'c', filter: 'residency' }], 10)).toBeUndefined();
  });
});

describe('modes', () => {
  it("take the request's, else the tenant's, else off", () => {
    expect(fitModeOf(undefined, undefined)).toBe('off');
    expect(fitModeOf(undefined, 'truncate')).toBe('truncate');
    expect(fitModeOf('off', 'summarize')).toBe('off');
    expect(fitModeOf('summarize', undefined)).toBe('summarize');
  });

  it('are validated in the body extension and the tenant policy', () => {
    expect(SwitchyardRequestExtensionSchema.parse({ fit: 'truncate' })).toEqual({ fit: 'truncate' });
    const bad = SwitchyardRequestExtensionSchema.safeParse({ fit: 'shorten' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['fit']);
    expect(TenantPolicySchema.parse({ fit: 'summarize' }).fit).toBe('summarize');
    expect(TenantPolicySchema.safeParse({ fit: 'yes' }).success).toBe(false);
  });
});

describe('records', () => {
  it('render the transcript of dropped turns with their tool calls', () => {
    expect(
      transcriptOf([
        { role: 'user', content: 'What is the weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }],
        },
        { role: 'tool', tool_call_id: 'c', content: 'rain' },
      ]),
    ).toBe('user: What is the weather?\n\nassistant: [called weather({"city":"Oslo"})]\n\ntool: rain');
  });

  it('note what was done', () => {
    const base = {
      target_model: 'oa/small',
      window: 1000,
      dropped_messages: 4,
      tokens_before: 1800,
      tokens_after: 700,
      tokens_saved: 1100,
    };
    expect(fitNote({ ...base, mode: 'truncate', summarized_messages: 0 })).toBe(
      "fit (truncate): dropped 4 earlier messages to fit oa/small's 1000-token window (1800 → 700 prompt tokens)",
    );
    expect(fitNote({ ...base, mode: 'summarize', summarized_messages: 4, cached: true })).toBe(
      "fit (summarize): summarized 4 earlier messages (cached summary) to fit oa/small's 1000-token window (1800 → 700 prompt tokens)",
    );
  });
});
