/**
 * providerHealth: one long-running entity per provider endpoint (a catalog model), holding its
 * circuit breaker. Outcomes arrive as batched signals (failures within a fraction of a second,
 * successes aggregated per worker); the cooldown is a durable timer, so a breaker opened before
 * a crash or a deploy reopens for probes on time. The state machine itself is pure
 * (`src/domain/breaker.ts`); this workflow owns its life: timers, probes, operators, continue-as-new.
 * On every routing-relevant transition it publishes its state to a Postgres projection (a local
 * activity): the request path reads that, never a query per request (a burst would stampede the
 * entity: "consistent query buffer is full").
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  patched,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  advance,
  applyOutcomes,
  force,
  grantProbe,
  initialBreaker,
  routingKey,
  snapshot,
  type BreakerSettings,
  type BreakerSnapshot,
  type BreakerState,
  type Outcomes,
} from '../src/domain/breaker';

export interface ProviderHealthInput {
  endpoint: string;
  settings: BreakerSettings;
  /** Carried across continue-as-new: the breaker, its pending deadline included. */
  state?: BreakerState;
  /** Continue as new past this many history events (small in tests). */
  maxHistoryEvents?: number;
}

export const outcomesSignal = defineSignal<[Outcomes]>('outcomes');
export const stateQuery = defineQuery<BreakerSnapshot>('state');
export const probeUpdate = defineUpdate<{ granted: boolean; snapshot: BreakerSnapshot }, []>('probe');
export const forceUpdate = defineUpdate<BreakerSnapshot, [{ status: 'open' | 'closed'; reason: string }]>('force');

const DEFAULT_MAX_HISTORY = 2_000;

const { publishBreaker } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 5 },
});

export async function providerHealth(input: ProviderHealthInput): Promise<void> {
  const s = input.settings;
  let state = input.state ?? initialBreaker(input.endpoint, Date.now());
  let changed = false;
  const maxHistory = input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY;

  setHandler(outcomesSignal, (o) => {
    state = applyOutcomes(state, o, Date.now(), s);
    changed = true;
  });
  setHandler(stateQuery, () => snapshot(advance(state, Date.now(), s)));
  setHandler(probeUpdate, () => {
    const r = grantProbe(state, Date.now(), s);
    state = r.state;
    changed = true;
    return { granted: r.granted, snapshot: snapshot(state) };
  });
  setHandler(
    forceUpdate,
    ({ status, reason }) => {
      state = force(state, status, reason, Date.now(), s);
      changed = true;
      return snapshot(state);
    },
    {
      // Rejected before it reaches history.
      validator: (arg) => {
        if (arg?.status !== 'open' && arg?.status !== 'closed') throw new Error("status must be 'open' or 'closed'");
        if (typeof arg.reason !== 'string' || arg.reason.trim() === '') throw new Error('a reason is required');
      },
    },
  );

  let published: string | undefined;
  const mustContinue = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > maxHistory;
  for (;;) {
    // Sleep until something happens, or until the next deadline: the cooldown's end, a probe's expiry.
    const deadlines = [
      ...(state.status === 'open' && state.openUntil !== undefined && state.forced?.status !== 'open'
        ? [state.openUntil]
        : []),
      ...state.probes.map((p) => p + s.probeTimeoutMs),
    ];
    const next = deadlines.length ? Math.max(1, Math.min(...deadlines) - Date.now()) : undefined;
    const wake = () => changed || mustContinue();
    if (next === undefined) await condition(wake);
    else await condition(wake, next);
    changed = false;
    state = advance(state, Date.now(), s);
    // Runs started before the projection existed replay without this step. Entities are not
    // drained: this stays `patched()` until none of those runs is left (docs/development.md, "Changing workflow code").
    if (patched('breaker-projection') && routingKey(state) !== published) {
      const key = routingKey(state);
      try {
        await publishBreaker({ snapshot: snapshot(state), at: Date.now() });
        published = key;
      } catch (err) {
        // The breaker itself is right; the next transition publishes again.
        log.warn('breaker projection not written', { endpoint: input.endpoint, error: String(err) });
      }
    }
    if (mustContinue()) {
      // Never from a handler, and only once every handler has finished.
      await condition(allHandlersFinished);
      await continueAsNew<typeof providerHealth>({ ...input, state });
    }
  }
}
