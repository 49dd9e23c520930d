/**
 * budgetWindow: one long-running entity per tenant with a budget, owning the life of its spend
 * windows. The hot path (reserve → settle, hundreds a second) is Postgres's: a workflow is not a
 * counter. This workflow does what must happen on time whatever the traffic:
 *   - at every UTC boundary (a durable timer), close the windows that ended and open the new ones;
 *   - expire reservations nobody settled (a crashed call must not hold budget forever);
 *   - raise each window's alert once when its spend crosses the threshold, and send it to the
 *     tenant's webhook;
 *   - answer `usage`; continue as new before its history grows large.
 * Every step is an activity given the workflow's own time, so a replay or a test with skipped
 * time sees exactly the boundaries the timers hit.
 */
import {
  ActivityFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BudgetAlert, ClosedWindow, WindowState } from '../src/domain/budget';

export interface BudgetWindowInput {
  tenantId: string;
  /** How often to sweep between boundaries (expiry, alerts); default one minute. */
  sweepIntervalMs?: number;
  /** Carried across continue-as-new. */
  carried?: { closed: ClosedWindow[]; alerts: BudgetAlert[]; expired: number };
  /** Continue as new after this many ticks (small in tests). */
  maxTicks?: number;
}

export interface BudgetUsage {
  tenantId: string;
  /** Workflow time of the last tick. */
  asOf: string;
  windows: WindowState[];
  /** Most recent closed windows, oldest first. */
  closed: ClosedWindow[];
  /** Alerts raised by this entity, oldest first. */
  alerts: BudgetAlert[];
  /** Reservations expired so far. */
  expired: number;
  nextTickAt?: string;
  /** False once the tenant has no budget (the workflow then ends). */
  active: boolean;
}

/** Wakes the entity now: the configuration changed, or a spend may have crossed a threshold. */
export const refreshSignal = defineSignal('refresh');
export const usageQuery = defineQuery<BudgetUsage>('usage');

export const budgetWorkflowId = (tenantId: string) => `budget-window:${tenantId}`;

const { budgetTick } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
const { deliverBudgetAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 8 },
});

const KEEP_CLOSED = 100;
const DEFAULT_SWEEP_MS = 60_000;
const DEFAULT_MAX_TICKS = 500;

export async function budgetWindow(input: BudgetWindowInput): Promise<BudgetUsage> {
  const sweepMs = input.sweepIntervalMs ?? DEFAULT_SWEEP_MS;
  let closed = input.carried?.closed ?? [];
  let alerts = input.carried?.alerts ?? [];
  let expired = input.carried?.expired ?? 0;
  let usage: BudgetUsage = {
    tenantId: input.tenantId,
    asOf: new Date().toISOString(),
    windows: [],
    closed,
    alerts,
    expired,
    active: true,
  };
  let nudged = false;
  setHandler(refreshSignal, () => {
    nudged = true;
  });
  setHandler(usageQuery, () => usage);

  for (let tick = 0; ; tick++) {
    nudged = false;
    const at = Date.now();
    const t = await budgetTick({ tenantId: input.tenantId, at });
    closed = [...closed, ...t.closed].slice(-KEEP_CLOSED);
    alerts = [...alerts, ...t.alerts];
    expired += t.expired;
    for (const a of t.alerts) {
      if (!a.webhookUrl) continue;
      try {
        await deliverBudgetAlert(a);
      } catch (err) {
        // Stored with its delivery error; a webhook that stays down does not stop the windows.
        if (!(err instanceof ActivityFailure)) throw err;
        log.warn('budget alert not delivered', {
          tenant: input.tenantId,
          scope: a.scope,
          period: a.period,
          error: err.cause?.message,
        });
      }
    }
    // A second past the next expiry: a reservation expires strictly after its time.
    const wake = Math.min(
      t.nextBoundaryAt,
      t.nextExpiryAt !== undefined ? t.nextExpiryAt + 1_000 : Infinity,
      at + sweepMs,
    );
    usage = {
      tenantId: input.tenantId,
      asOf: new Date(at).toISOString(),
      windows: t.windows,
      closed,
      alerts,
      expired,
      active: t.active,
      ...(t.active && { nextTickAt: new Date(wake).toISOString() }),
    };
    // The budget was removed: nothing left to own. Setting one again starts a new entity.
    if (!t.active) return usage;
    if (tick + 1 >= (input.maxTicks ?? DEFAULT_MAX_TICKS) || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof budgetWindow>({
        ...input,
        carried: { closed, alerts: alerts.slice(-KEEP_CLOSED), expired },
      });
    }
    // A durable timer to the next boundary (or expiry, or sweep); a signal wakes it early.
    await condition(() => nudged, Math.max(1, wake - Date.now()));
  }
}
