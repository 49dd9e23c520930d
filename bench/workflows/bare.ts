// The floor Temporal itself sets: a workflow whose only step is one activity making the provider call.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BareActivities } from '../floor';

const { callProvider } = proxyActivities<BareActivities>({ startToCloseTimeout: '1 minute' });
const local = proxyLocalActivities<BareActivities>({ startToCloseTimeout: '1 minute' });
// The activity on another task queue, as Switchyard's per-provider queues put it: the server cannot
// hand it back with the workflow task's completion (eager activity dispatch needs the same queue).
const elsewhere = proxyActivities<BareActivities>({ startToCloseTimeout: '1 minute', taskQueue: 'bench-bare-calls' });

export async function bareWorkflow(prompt: string): Promise<number> {
  return callProvider(prompt);
}

export async function bareLocalWorkflow(prompt: string): Promise<number> {
  return local.callProvider(prompt);
}

export async function bareOtherQueueWorkflow(prompt: string): Promise<number> {
  return elsewhere.callProvider(prompt);
}
