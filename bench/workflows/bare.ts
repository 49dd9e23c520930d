// The floor Temporal itself sets: a workflow whose only step is one activity making the provider call.
import { proxyActivities } from '@temporalio/workflow';
import type { BareActivities } from '../overhead';

const { callProvider } = proxyActivities<BareActivities>({ startToCloseTimeout: '1 minute' });

export async function bareWorkflow(prompt: string): Promise<number> {
  return callProvider(prompt);
}
