/**
 * Sessions that keep their provider's prompt cache (issue 23): a request of a session whose last
 * answer came from a model that may still take it goes to that model first ("kept for session"),
 * so the provider's cached prefix of the conversation is reused. Only the hard filters (breaker,
 * budget, residency, capability…) move a session, and the decision says which one did. A model
 * the client named, an override, or `substitution: none` is never displaced by a pin, and an
 * explicit fallback chain is only reordered, never extended. Pure: the pin comes in the input.
 */
import type { Model } from '../catalog';
import type { Candidate, RouteDecision } from './types';

/** A session's pin as stored: the provider instance and catalog model its last answer came from. */
export interface SessionPin {
  provider: string;
  modelId: string;
  /** ISO time the pin lapses (the provider's prompt cache is gone by then). */
  expiresAt: string;
}

/** The request's session, and its pin when one was live as the decision was made. */
export interface SessionView {
  key: string;
  pin?: SessionPin;
}

/**
 * What the session did to the decision: `kept` (the pinned model leads), `moved` (a filter
 * removed it; `reason` says which), `new` (no live pin: the model that answers becomes the pin),
 * `not-applied` (a requested model or an override leads, or the pin is outside an explicit chain).
 */
export interface SessionRecord {
  outcome: 'kept' | 'moved' | 'new' | 'not-applied';
  modelId?: string;
  reason?: string;
}

export interface SessionContext {
  /** The decision's time (ISO): a pin that lapsed before it is not live. */
  now: string;
  /** The models that passed the hard filters. */
  eligible: ReadonlyArray<Model>;
  /** The chain is the request's own (an explicit fallback chain, or substitution none): reorder only. */
  fixed: boolean;
  /** The longest the chain may be. */
  max: number;
  /** A candidate for a model the chain did not list yet. */
  candidateOf: (m: Model) => Candidate;
}

/**
 * The session a request's `user` names (chat's `user`, Anthropic's `metadata.user_id`): that user
 * with a hash of the conversation's first system (or developer) message and first user message,
 * the prefix a provider caches, the same on every turn. The key carries no text. Content is hashed
 * as its text however it was sent, so a message sent as a string on one turn and as text blocks on
 * the next (Anthropic clients move `cache_control` to the newest turn) stays one session. The hash
 * (SHA-256, hex) is the caller's: the domain imports no Node module.
 */
export function sessionKeyOf(
  user: string | undefined,
  messages: ReadonlyArray<{ role: string; content?: unknown }> | undefined,
  sha256Hex: (text: string) => string,
): string | undefined {
  if (!user || !messages) return undefined;
  const system = messages.find((m) => m.role === 'system' || m.role === 'developer');
  const first = messages.find((m) => m.role === 'user');
  if (!first) return undefined;
  const hash = sha256Hex(JSON.stringify([hashedContent(system?.content), hashedContent(first.content)]));
  return `user:${user}:${hash.slice(0, 32)}`;
}

/** A message's content as the session key hashes it: a string, text parts as their text, other parts by source. */
function hashedContent(content: unknown): unknown {
  if (content === undefined || content === null || !Array.isArray(content)) return content ?? null;
  const parts = content.map((p: unknown) => {
    const part = (p ?? {}) as { type?: unknown; text?: unknown; image_url?: { url?: unknown } };
    if (part.type === 'text') return String(part.text ?? '');
    if (part.type === 'image_url') return { image: part.image_url?.url ?? null };
    return p;
  });
  return parts.every((p) => typeof p === 'string') ? parts.join('\n') : parts;
}

/** Why a filter moved the session, in words: "breaker open on oa/primary (…)". */
export function movedBecause(r: RouteDecision['rejected'][number]): string {
  if (r.filter === 'breaker-open') return `breaker open on ${r.modelId} (${r.reason})`;
  return `${r.filter} removed ${r.modelId} (${r.reason})`;
}

/** The pinned model leads the chain if it may; the decision records what the session did. */
export function applySession(
  decision: RouteDecision,
  view: SessionView | undefined,
  ctx: SessionContext,
): RouteDecision {
  if (!view) return decision;
  const pin = view.pin;
  const chain = decision.candidates;
  const lead = chain[0];
  const record = (session: SessionRecord, note: string, candidates = chain, summary = decision.summary) => ({
    ...decision,
    candidates,
    notes: [...decision.notes, note],
    summary,
    session,
  });
  if (!pin || pin.expiresAt <= ctx.now)
    return record({ outcome: 'new' }, 'session: no live pin; the model that answers becomes its pin');

  const pinned = ctx.eligible.find((m) => m.id === pin.modelId && m.provider === pin.provider);
  if (!pinned) {
    const rejected = decision.rejected.find((r) => r.modelId === pin.modelId);
    const elsewhere = ctx.eligible.find((m) => m.id === pin.modelId);
    const reason = rejected
      ? movedBecause(rejected)
      : elsewhere
        ? `${pin.modelId} is now served by provider ${elsewhere.provider}, not ${pin.provider}`
        : `${pin.modelId} is no longer in the catalog`;
    const to = lead ? `; ${lead.modelId} leads` : '';
    return record(
      { outcome: 'moved', modelId: pin.modelId, reason },
      `session moved: ${reason}${to}`,
      chain,
      `${decision.summary}; session moved: ${reason}`,
    );
  }

  const at = chain.findIndex((c) => c.modelId === pinned.id);
  if (lead && at !== 0 && (lead.step === 'requested' || lead.step === 'override')) {
    const who = lead.step === 'requested' ? `the requested model ${lead.modelId}` : `${lead.reason}`;
    return record(
      { outcome: 'not-applied', modelId: pinned.id, reason: `${who} leads` },
      `session pin ${pinned.id} not applied: ${who} leads`,
    );
  }
  if (at < 0 && ctx.fixed) {
    const reason = `${pinned.id} is not in the request's chain`;
    return record({ outcome: 'not-applied', modelId: pinned.id, reason }, `session pin not applied: ${reason}`);
  }

  const kept: Candidate =
    at === 0
      ? { ...chain[0]!, reason: `kept for session; ${chain[0]!.reason}` }
      : { ...(at > 0 ? chain[at]! : ctx.candidateOf(pinned)), step: 'session', reason: 'kept for session' };
  const rest = chain.filter((c) => c.modelId !== pinned.id);
  const candidates = [kept, ...rest].slice(0, Math.max(ctx.max, 1));
  return record(
    { outcome: 'kept', modelId: pinned.id },
    `kept for session: ${pinned.id} answered this session before (pinned until ${pin.expiresAt})`,
    candidates,
    summaryOf(candidates),
  );
}

/** "model (reason); fallbacks a, b": the decision's summary of a non-empty chain. */
export function summaryOf(chain: Candidate[]): string {
  const first = chain[0]!;
  const rest = chain.slice(1).map((x) => x.modelId);
  return `${first.modelId} (${first.reason})${rest.length ? `; fallbacks ${rest.join(', ')}` : ''}`;
}
