/**
 * Keeps one budgetWindow entity running per tenant with a budget: started (signal-with-start) when
 * a worker starts and whenever the configuration's budgets change; a tenant whose budget was
 * removed is woken so its entity sees that and ends. Several workers doing this at once is fine:
 * signal-with-start on one workflow id starts it once.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { SwitchyardConfig } from '../domain/config';
import { budgetWorkflowId, refreshSignal, type budgetWindow } from '../../workflows/budgetWindow';

export class BudgetSupervisor {
  private last = new Map<string, string>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly sweepIntervalMs: number,
    private readonly logger?: Pick<Logger, 'warn'>,
  ) {}

  async sync(config: SwitchyardConfig): Promise<void> {
    const now = new Map(
      Object.entries(config.tenants).flatMap(([id, t]) => (t.budget ? [[id, JSON.stringify(t.budget)] as const] : [])),
    );
    const changed = [...new Set([...now.keys(), ...this.last.keys()])].filter(
      (id) => now.get(id) !== this.last.get(id),
    );
    this.last = now;
    const results = await Promise.allSettled(
      changed.map((tenantId) =>
        this.client.workflow.signalWithStart<typeof budgetWindow, []>('budgetWindow', {
          workflowId: budgetWorkflowId(tenantId),
          taskQueue: this.taskQueue,
          args: [{ tenantId, sweepIntervalMs: this.sweepIntervalMs }],
          signal: refreshSignal,
          signalArgs: [],
        }),
      ),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) {
      // Try again on the next sync rather than believe these are running.
      for (const id of changed) this.last.delete(id);
      this.logger?.warn(
        { err: (failed[0] as PromiseRejectedResult).reason },
        'could not start budget window workflows',
      );
    }
  }
}
