/**
 * The sixteen provider faults of issue 29 (an independent lab's failover scorecard), as scenarios
 * run against a test stack: each injects its fault into the fake providers, drives the official
 * `openai` client over real HTTP, and grades what the caller got and what the providers saw
 * (attempt count and spacing) as pass / partial / safe / fail, from the issue's "what a correct
 * gateway does". Shared by `test/integration/faults.test.ts` (short profile) and
 * `bench/failover.ts` (full profile: the waits the issue names, the shipped limits).
 *
 * Grades: pass, what a correct gateway does; partial, the caller is served but the gateway does
 * it worse than it should (hammers, retries what should not be retried, hides the provider's
 * reason); safe, a clear error (never a hang, never a truncated answer presented as success);
 * fail, anything else.
 */
import OpenAI from 'openai';
import type { StackOptions, TestStack } from './stack';
import { fakeCatalog, fakeModel } from './stack';
import type { Behaviour, RecordedCall } from './fakeProvider';
import { prefillOf } from './fakeProvider';
import { until } from './chaos';
import type { SwitchyardConfigInput } from '../../src/domain/config';
import { CapabilitySchema } from '../../src/domain/catalog';

export type Grade = 'pass' | 'partial' | 'safe' | 'fail';

export interface Profile {
  name: 'short' | 'full';
  /** The retry policy (undefined: the shipped default) and the values grading uses. */
  retry?: NonNullable<SwitchyardConfigInput['retry']>['default'];
  attempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  /** Streamed calls' limits (undefined: the shipped 20 s / 30 s). */
  streamLimits?: { firstTokenMs: number; idleMs: number };
  firstTokenMs: number;
  idleMs: number;
  /** S01's Retry-After, in seconds. */
  retryAfterS: number;
  /** S07: when the slow provider's first token comes. */
  slowFirstTokenMs: number;
  /** S15: how long the primary is down, the breaker settings, and the time between its twenty requests. */
  downMs: number;
  breakers?: Record<string, number>;
  spacingMs: number;
  /** The client's own timeout: a caller still waiting then got a hang. */
  clientTimeoutMs: number;
}

/** The shipped settings and the issue's waits (Retry-After 2 s, first token at 20 s, down 60 s). */
export const FULL: Profile = {
  name: 'full',
  attempts: 3,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 20_000,
  firstTokenMs: 20_000,
  idleMs: 30_000,
  retryAfterS: 2,
  slowFirstTokenMs: 20_000,
  downMs: 60_000,
  spacingMs: 6_000,
  clientTimeoutMs: 300_000,
};

/** The same faults with waits scaled down for `npm test` (same attempts, shorter intervals and limits). */
export const SHORT: Profile = {
  name: 'short',
  retry: {
    maximumAttempts: 3,
    initialIntervalMs: 200,
    backoffCoefficient: 2,
    maximumIntervalMs: 1_000,
    timeoutMs: 5_000,
  },
  attempts: 3,
  initialIntervalMs: 200,
  backoffCoefficient: 2,
  maximumIntervalMs: 1_000,
  streamLimits: { firstTokenMs: 1_500, idleMs: 1_500 },
  firstTokenMs: 1_500,
  idleMs: 1_500,
  retryAfterS: 1,
  slowFirstTokenMs: 1_500,
  downMs: 4_000,
  breakers: { cooldownMs: 1_500, windowMs: 10_000 },
  spacingMs: 400,
  clientTimeoutMs: 60_000,
};

/** Sixty tokens, one piece each when streamed. */
export const CONTENT = Array.from({ length: 60 }, (_, i) => `tok${String(i + 1).padStart(2, '0')}`).join(' ');
export const FALLBACK_ANSWER = 'the fallback answers';
export const PRIMARY = 'oa/primary';
export const FALLBACK = 'an/fallback';
export const BACKUP = 'an/backup';

// A model that can continue a cut stream declares it, once the catalog has such a capability
// (issue 29 item 1); until then the scenarios run on today's catalog unchanged.
const continuation = CapabilitySchema.options.filter((c) => (c as string) === 'continuation');

/**
 * The stack the scenarios run on: a primary (OpenAI wire format, 16k window, the best tier) and two
 * fallbacks on the other provider (Anthropic wire format, 200k windows), ranked by quality so a
 * request for the primary falls back to `an/fallback`, then `an/backup`. Breakers only for S15:
 * elsewhere one scenario's failures must not open the primary's breaker for the next.
 */
export function faultStackOptions(profile: Profile, breakers = false): StackOptions {
  return {
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'primary', { qualityTier: 5 }),
        fakeModel('an', 'fallback', {
          qualityTier: 4,
          contextWindow: 200_000,
          capabilities: ['chat', ...continuation],
        }),
        fakeModel('an', 'backup', { qualityTier: 3, contextWindow: 200_000, capabilities: ['chat', ...continuation] }),
      ]),
    config: {
      routing: { defaultStrategy: 'quality' },
      ...(profile.retry && { retry: { default: profile.retry } }),
      ...(breakers && profile.breakers && { breakers: profile.breakers }),
    },
    breakers,
    ...(profile.streamLimits && { streamLimits: profile.streamLimits }),
    requestTimeoutMs: profile.clientTimeoutMs,
  };
}

export interface Verdict {
  id: string;
  grade: Grade;
  /** What the caller got and what the providers saw, in a line. */
  observed: string;
  /** The pass conditions that did not hold (empty on a pass). */
  unmet: string[];
}

type Cond = [label: string, holds: boolean];

/** The first tier whose conditions all hold (pass, partial, safe), else fail. */
function grade(id: string, observed: string, tiers: { pass: Cond[]; partial?: Cond[]; safe?: Cond[] }): Verdict {
  const holds = (cs?: Cond[]) => cs !== undefined && cs.every(([, ok]) => ok);
  const g: Grade = holds(tiers.pass) ? 'pass' : holds(tiers.partial) ? 'partial' : holds(tiers.safe) ? 'safe' : 'fail';
  return { id, grade: g, observed, unmet: tiers.pass.filter(([, ok]) => !ok).map(([l]) => l) };
}

interface Ctx {
  stack: TestStack;
  profile: Profile;
  client: OpenAI;
}

const primaryCalls = (c: Ctx) => c.stack.fakes.openai.callsFor('primary');
const fallbackCalls = (c: Ctx) => c.stack.fakes.anthropic.callsFor('fallback');
const backupCalls = (c: Ctx) => c.stack.fakes.anthropic.callsFor('backup');
/** Milliseconds between consecutive calls the provider saw. */
const gaps = (calls: RecordedCall[]) => calls.slice(1).map((c, i) => c.at - calls[i]!.at);
/** The retry policy's wait before attempt i+2 (i from 0). */
const backoff = (p: Profile, i: number) =>
  Math.min(p.initialIntervalMs * p.backoffCoefficient ** i, p.maximumIntervalMs);
/** Every gap at least (nearly) the policy's backoff: no hammering. */
const spaced = (p: Profile, calls: RecordedCall[]) => gaps(calls).every((g, i) => g >= 0.9 * backoff(p, i));

interface Answer {
  status: number;
  text?: string;
  model?: string;
  usage?: { prompt_tokens: number; completion_tokens: number };
  error?: { status?: number; code?: string | null; type?: string; message: string };
  requestId?: string | null;
  servedBy?: string | null;
  elapsedMs: number;
  hung: boolean;
}

const HELLO = [{ role: 'user' as const, content: 'Hello' }];

function errorOf(err: unknown): Pick<Answer, 'status' | 'error' | 'hung' | 'requestId'> {
  if (err instanceof OpenAI.APIConnectionTimeoutError)
    return { status: 0, hung: true, error: { message: 'the client timed out' } };
  if (err instanceof OpenAI.APIError)
    return {
      status: err.status ?? 0,
      hung: false,
      requestId: err.headers?.get('x-switchyard-request-id'),
      error: { status: err.status, code: err.code, type: err.type, message: err.message },
    };
  return { status: 0, hung: false, error: { message: err instanceof Error ? err.message : String(err) } };
}

/** A plain chat completion for the primary. */
async function ask(c: Ctx): Promise<Answer> {
  const started = Date.now();
  try {
    const { data, response } = await c.client.chat.completions
      .create({ model: PRIMARY, messages: HELLO })
      .withResponse();
    return {
      status: response.status,
      text: data.choices[0]?.message.content ?? '',
      model: data.model,
      usage: data.usage,
      requestId: response.headers.get('x-switchyard-request-id'),
      servedBy: response.headers.get('x-switchyard-model'),
      elapsedMs: Date.now() - started,
      hung: false,
    };
  } catch (err) {
    return { ...errorOf(err), elapsedMs: Date.now() - started };
  }
}

interface Streamed extends Answer {
  text: string;
  finish?: string | null;
  /** The stream ended normally (no error thrown by the SDK). */
  ended: boolean;
}

/** A streamed chat completion for the primary, read to its end or its error. */
async function stream(c: Ctx): Promise<Streamed> {
  const started = Date.now();
  const out: Streamed = { status: 0, text: '', ended: false, elapsedMs: 0, hung: false };
  try {
    const { data, response } = await c.client.chat.completions
      .create({ model: PRIMARY, messages: HELLO, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    out.status = response.status;
    out.requestId = response.headers.get('x-switchyard-request-id');
    out.servedBy = response.headers.get('x-switchyard-model');
    for await (const chunk of data) {
      out.text += chunk.choices[0]?.delta.content ?? '';
      out.finish = chunk.choices[0]?.finish_reason ?? out.finish;
      if (chunk.usage) out.usage = chunk.usage;
    }
    out.ended = true;
  } catch (err) {
    const e = errorOf(err);
    Object.assign(
      out,
      { error: e.error, hung: e.hung },
      out.status ? {} : { status: e.status, requestId: e.requestId },
    );
  }
  out.elapsedMs = Date.now() - started;
  return out;
}

interface RequestRecord {
  status: string;
  cost_usd: number | null;
  attempts: Array<{ provider: string; model: string; outcome: string; errorType?: string; costUsd?: number }>;
}

/** The request's record once its workflow has finished. */
async function recordOf(c: Ctx, id: string): Promise<RequestRecord> {
  const get = async () =>
    (await (
      await fetch(`${c.stack.baseURL}/requests/${id}`, { headers: { authorization: `Bearer ${c.stack.apiKey}` } })
    ).json()) as RequestRecord;
  let r = await get();
  await until(async () => !['running', 'received'].includes((r = await get()).status), 30_000);
  return r;
}

const brief = (a: Answer) =>
  a.hung
    ? 'the client timed out'
    : a.error
      ? `error ${a.status || 'mid-stream'} ${a.error.code ?? ''} "${a.error.message.slice(0, 120)}"`
      : `${a.status} from ${a.servedBy ?? a.model}`;
const saw = (c: Ctx) =>
  `primary saw ${primaryCalls(c).length} call(s)${gaps(primaryCalls(c)).length ? ` ${gaps(primaryCalls(c)).join('/')} ms apart` : ''}, fallback ${fallbackCalls(c).length}, backup ${backupCalls(c).length}`;
/** A clear error: the caller was told, in time, and nothing was presented as a success. */
const clearError = (a: Answer): Cond => ['a clear error, in time', !!a.error && !a.hung];
/** What a streamed caller got is the start of the real answer: nothing wrong leaked. */
const noLeak = (s: Streamed): Cond => ['nothing but the answer leaked', CONTENT.startsWith(s.text)];

/** A mid-stream fault (S08, S09, S10, S14): the whole answer, or a clear error and nothing partial presented as whole. */
function midStream(
  id: string,
  c: Ctx,
  s: Streamed,
  extra: { pass?: Cond[]; safe?: Cond[] } = {},
  seen = saw(c),
): Verdict {
  return grade(id, `${brief(s)}, ${s.text.split(' ').filter(Boolean).length} of 60 tokens; ${seen}`, {
    pass: [
      ['the whole answer', s.text === CONTENT],
      ['a normal end', s.ended && s.finish === 'stop'],
      ...(extra.pass ?? []),
    ],
    safe: [clearError(s), noLeak(s), ...(extra.safe ?? [])],
  });
}

export interface Scenario {
  id: string;
  title: string;
  /** Runs on the stack with breakers (S15). */
  breakers?: boolean;
  run(c: Ctx): Promise<Verdict>;
}

const ok = (content = FALLBACK_ANSWER, extra: Partial<Extract<Behaviour, { kind: 'ok' }>> = {}): Behaviour => ({
  kind: 'ok',
  content,
  ...extra,
});
/** Both fallbacks answer; for mid-stream faults they continue a prefill (when one is sent). */
function fallbacksAnswer(c: Ctx, continuing = false) {
  const b = continuing ? ok(CONTENT, { continues: true }) : ok();
  c.stack.fakes.anthropic.setDefault('fallback', b);
  c.stack.fakes.anthropic.setDefault('backup', b);
}

/**
 * A primary that keeps failing with `fault` (S02, S04, S05): the fallback answers, the primary
 * called within the retry budget, its calls spaced by the backoff. `notHammered`: a clear error
 * is safe only if the primary was not hammered either.
 */
function failsOver(id: string, fault: Behaviour, opts: { notHammered?: boolean } = {}): Scenario['run'] {
  return async (c) => {
    c.stack.fakes.openai.setDefault('primary', fault);
    fallbacksAnswer(c);
    const a = await ask(c);
    const calls = primaryCalls(c);
    const budget: Cond = [`at most ${c.profile.attempts} calls to the primary`, calls.length <= c.profile.attempts];
    const backedOff: Cond = ['calls spaced by the backoff', spaced(c.profile, calls)];
    return grade(id, `${brief(a)}; ${saw(c)}`, {
      pass: [['200 from the fallback', a.status === 200 && a.servedBy === FALLBACK], budget, backedOff],
      partial: [['answered', a.status === 200]],
      safe: [clearError(a), ...(opts.notHammered ? [['not hammered', budget[1] && backedOff[1]] as Cond] : [])],
    });
  };
}

/** The primary's stream breaks mid-way with `fault` (S08, S10); the fallbacks continue a prefill. */
function breaksMidStream(id: string, fault: Partial<Extract<Behaviour, { kind: 'ok' }>>): Scenario['run'] {
  return async (c) => {
    c.stack.fakes.openai.setDefault('primary', ok(CONTENT, fault));
    fallbacksAnswer(c, true);
    return midStream(id, c, await stream(c));
  };
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'S01',
    title: '429 with Retry-After once → honoured, retried after it',
    async run(c) {
      const ra = c.profile.retryAfterS;
      c.stack.fakes.openai.script('primary', {
        kind: 'error',
        status: 429,
        message: 'Rate limit reached for requests',
        headers: { 'retry-after': String(ra) },
      });
      c.stack.fakes.openai.setDefault('primary', ok('the primary answers'));
      fallbacksAnswer(c);
      const a = await ask(c);
      const gap = gaps(primaryCalls(c))[0] ?? 0;
      return grade('S01', `${brief(a)}; ${saw(c)}`, {
        pass: [
          ['200 from the primary', a.status === 200 && a.servedBy === PRIMARY],
          ['the primary called twice', primaryCalls(c).length === 2],
          [`the retry ~${ra} s later`, gap >= ra * 1_000 - 50 && gap <= ra * 1_000 + 5_000],
        ],
        partial: [['answered', a.status === 200]],
        safe: [clearError(a)],
      });
    },
  },
  {
    id: 'S02',
    title: '429 without Retry-After, persistent → backed off, failed over, not hammered',
    run: failsOver('S02', { kind: 'error', status: 429, message: 'Rate limit reached' }, { notHammered: true }),
  },
  {
    id: 'S03',
    title: '500 once → the same provider retried once',
    async run(c) {
      c.stack.fakes.openai.script('primary', { kind: 'error', status: 500, message: 'The server had an error' });
      c.stack.fakes.openai.setDefault('primary', ok('the primary answers'));
      fallbacksAnswer(c);
      const a = await ask(c);
      const calls = primaryCalls(c);
      return grade('S03', `${brief(a)}; ${saw(c)}`, {
        pass: [
          ['200 from the primary', a.status === 200 && a.servedBy === PRIMARY],
          ['the primary called twice', calls.length === 2],
          ['the retry after the backoff', spaced(c.profile, calls)],
          ['no fallback called', fallbackCalls(c).length + backupCalls(c).length === 0],
        ],
        partial: [['answered', a.status === 200]],
        safe: [clearError(a)],
      });
    },
  },
  {
    id: 'S04',
    title: '503 persistent → failed over within the retry budget',
    run: failsOver('S04', { kind: 'error', status: 503, message: 'Service Unavailable' }),
  },
  {
    id: 'S05',
    title: 'TCP reset before headers → retried or failed over',
    run: failsOver('S05', { kind: 'reset' }),
  },
  {
    id: 'S06',
    title: 'no response at all (streamed, no headers) → timed out once, failed over',
    async run(c) {
      c.stack.fakes.openai.setDefault('primary', { kind: 'hang' });
      fallbacksAnswer(c);
      const s = await stream(c);
      return grade('S06', `${brief(s)} after ${s.elapsedMs} ms; ${saw(c)}`, {
        pass: [
          ["the fallback's whole answer", s.ended && s.text === FALLBACK_ANSWER && s.servedBy === FALLBACK],
          ['the primary called once (failed over after the first timeout)', primaryCalls(c).length === 1],
        ],
        partial: [['answered', s.ended && s.text === FALLBACK_ANSWER]],
        safe: [clearError(s)],
      });
    },
  },
  {
    id: 'S07',
    title: 'first token after the first-token limit → answered (by the slow provider or the fallback)',
    async run(c) {
      c.stack.fakes.openai.setDefault('primary', ok(CONTENT, { firstPieceDelayMs: c.profile.slowFirstTokenMs }));
      fallbacksAnswer(c);
      const s = await stream(c);
      const whole = s.ended && (s.text === CONTENT || s.text === FALLBACK_ANSWER);
      return grade('S07', `${brief(s)} after ${s.elapsedMs} ms; ${saw(c)}`, {
        pass: [
          ['a whole answer', whole],
          ['the primary called once', primaryCalls(c).length === 1],
        ],
        partial: [['a whole answer', whole]],
        safe: [clearError(s)],
      });
    },
  },
  {
    id: 'S08',
    title: 'stream cut after 40 of 60 tokens → the whole answer, or a clear error',
    run: breaksMidStream('S08', { cutAfter: 40 }),
  },
  {
    id: 'S09',
    title: 'stream stalls with the connection open → detected in a bounded window; still healthy',
    async run(c) {
      c.stack.fakes.openai.setDefault('primary', ok(CONTENT, { stallAfter: 20 }));
      fallbacksAnswer(c, true);
      const s = await stream(c);
      const seen = saw(c);
      // Still healthy: the next request is answered.
      c.stack.fakes.openai.setDefault('primary', ok('the primary answers'));
      const next = await ask(c);
      const bound = c.profile.idleMs * 1.5 + 10_000;
      const inTime: Cond = [`over within ${bound} ms`, s.elapsedMs <= bound];
      const healthy: Cond = ['the next request answered', next.status === 200];
      return midStream('S09', c, s, { pass: [inTime, healthy], safe: [inTime, healthy] }, seen);
    },
  },
  {
    id: 'S10',
    title: 'malformed chunk mid-stream → skipped, or a clear error',
    run: breaksMidStream('S10', { malformedAfter: 20 }),
  },
  {
    id: 'S11',
    title: 'stream ends without [DONE] → finished promptly, usage reported',
    async run(c) {
      c.stack.fakes.openai.setDefault('primary', ok(CONTENT, { noDone: true }));
      fallbacksAnswer(c);
      const s = await stream(c);
      const prompt = Math.max(c.profile.idleMs, 10_000);
      return grade('S11', `${brief(s)} after ${s.elapsedMs} ms, usage ${JSON.stringify(s.usage ?? null)}; ${saw(c)}`, {
        pass: [
          ['the whole answer, a normal end', s.ended && s.text === CONTENT && s.finish === 'stop'],
          ['usage reported', (s.usage?.completion_tokens ?? 0) > 0],
          [`over within ${prompt} ms`, s.elapsedMs < prompt],
          ['the primary called once', primaryCalls(c).length === 1],
        ],
        partial: [['the whole answer', s.ended && s.text === CONTENT]],
        safe: [clearError(s), noLeak(s)],
      });
    },
  },
  {
    id: 'S12',
    title: '400 context_length_exceeded → not retried, routed to a larger model',
    async run(c) {
      c.stack.fakes.openai.setDefault('primary', {
        kind: 'error',
        status: 400,
        code: 'context_length_exceeded',
        message:
          "This model's maximum context length is 16000 tokens. However, your messages resulted in 17000 tokens.",
      });
      fallbacksAnswer(c);
      const a = await ask(c);
      return grade('S12', `${brief(a)}; ${saw(c)}`, {
        pass: [
          ['200 from the larger model', a.status === 200 && a.servedBy === FALLBACK],
          ['the primary called once', primaryCalls(c).length === 1],
        ],
        partial: [['answered', a.status === 200]],
        safe: [clearError(a), ['the primary called once', primaryCalls(c).length === 1]],
      });
    },
  },
  {
    id: 'S13',
    title: "400 content policy → not retried, the provider's reason propagated",
    async run(c) {
      const reason = 'Your request was rejected as a result of our safety system.';
      c.stack.fakes.openai.setDefault('primary', {
        kind: 'error',
        status: 400,
        code: 'content_policy_violation',
        message: reason,
      });
      fallbacksAnswer(c);
      const a = await ask(c);
      const once: Cond = ['the primary called once', primaryCalls(c).length === 1];
      return grade('S13', `${brief(a)}; ${saw(c)}`, {
        pass: [
          ['a 400', a.status === 400],
          [
            "the provider's reason and code",
            !!a.error?.message.includes(reason) && a.error.code === 'content_policy_violation',
          ],
          once,
          ['no fallback called', fallbackCalls(c).length + backupCalls(c).length === 0],
        ],
        partial: [['answered', a.status === 200], once],
        safe: [clearError(a), once],
      });
    },
  },
  {
    id: 'S14',
    title: 'stream cut, the fallback rejects the prefill → continued where possible; the real error never masked',
    async run(c) {
      c.stack.fakes.openai.setDefault('primary', ok(CONTENT, { cutAfter: 40 }));
      c.stack.fakes.anthropic.setDefault('fallback', ok(CONTENT, { rejectPrefill: true }));
      c.stack.fakes.anthropic.setDefault('backup', ok(CONTENT, { continues: true }));
      const s = await stream(c);
      const notMasked: Cond = ['the prefill refusal not shown', !/prefill/i.test(s.error?.message ?? '')];
      const refused = fallbackCalls(c).filter((x) => prefillOf(x.body) !== undefined).length;
      const v = midStream('S14', c, s, { pass: [notMasked], safe: [notMasked] });
      return { ...v, observed: `${v.observed}; prefills refused ${refused}` };
    },
  },
  {
    id: 'S15',
    title: 'primary down, then healthy; twenty requests → the fallback serves, the primary is probed and returns',
    breakers: true,
    async run(c) {
      const upAt = Date.now() + c.profile.downMs;
      c.stack.fakes.openai.setDefault('primary', {
        kind: 'until',
        untilMs: upAt,
        before: { kind: 'error', status: 503, message: 'Service Unavailable' },
        after: ok('the primary answers'),
      });
      fallbacksAnswer(c);
      const answers: Answer[] = [];
      const started = Date.now();
      for (let i = 0; i < 20; i++) {
        // The requests' schedule: one every spacingMs (a workload, not a wait for a condition).
        const due = started + i * c.profile.spacingMs;
        if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
        answers.push(await ask(c));
      }
      const whileDown = primaryCalls(c).filter((x) => x.at < upAt).length;
      const bound = c.profile.attempts + 4;
      const served = answers.map((a) => (a.servedBy === PRIMARY ? 'P' : a.servedBy === FALLBACK ? 'F' : 'x')).join('');
      const all = answers.every((a) => a.status === 200);
      return grade(
        'S15',
        `${answers.filter((a) => a.status === 200).length}/20 answered, served ${served}; the primary saw ${whileDown} call(s) while down, ${primaryCalls(c).length - whileDown} after`,
        {
          pass: [
            ['all twenty answered', all],
            [`the primary not hammered while down (≤ ${bound} calls)`, whileDown <= bound],
            ['back on the primary at the end', answers.at(-1)?.servedBy === PRIMARY],
          ],
          partial: [['all twenty answered', all]],
          safe: [['every failure a clear error', answers.every((a) => a.status === 200 || (!!a.error && !a.hung))]],
        },
      );
    },
  },
  {
    id: 'S16',
    title: "primary 503, the fallback answers → the fallback's model and usage; failed attempts not billed",
    async run(c) {
      c.stack.fakes.openai.setDefault('primary', { kind: 'error', status: 503, message: 'Service Unavailable' });
      fallbacksAnswer(c);
      const a = await ask(c);
      const r = a.requestId ? await recordOf(c, a.requestId) : undefined;
      const failed = r?.attempts.filter((x) => x.outcome !== 'success') ?? [];
      const won = r?.attempts.find((x) => x.outcome === 'success');
      // The fake's usage for its answer (see successBody): a quarter of the characters.
      const expectedOut = Math.max(1, FALLBACK_ANSWER.length >> 2);
      return grade(
        'S16',
        `${brief(a)}, model ${a.model}, usage ${JSON.stringify(a.usage ?? null)}, cost ${r?.cost_usd}, failed attempts billed ${failed.map((x) => x.costUsd ?? 0).join('/')}; ${saw(c)}`,
        {
          pass: [
            ["the fallback's model", a.status === 200 && a.model === FALLBACK && a.servedBy === FALLBACK],
            ["the fallback's usage", a.usage?.completion_tokens === expectedOut],
            ['failed attempts not billed', failed.length > 0 && failed.every((x) => !x.costUsd)],
            [
              "the request costs the fallback's answer",
              !!won && Math.abs(Number(r?.cost_usd) - (won.costUsd ?? -1)) < 1e-9,
            ],
          ],
          partial: [['answered', a.status === 200]],
          safe: [clearError(a)],
        },
      );
    },
  },
];

/** Runs one scenario on a stack (its fakes reset first). */
export async function runScenario(s: Scenario, stack: TestStack, profile: Profile): Promise<Verdict> {
  stack.fakes.openai.reset();
  stack.fakes.anthropic.reset();
  const client = new OpenAI({
    apiKey: stack.apiKey,
    baseURL: stack.baseURL,
    maxRetries: 0,
    timeout: profile.clientTimeoutMs,
  });
  return s.run({ stack, profile, client });
}
