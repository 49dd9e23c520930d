/**
 * Chaos on the fast path (issue 24): provider calls as local activities, inside their workflow's
 * task, in the split layout (`npm run worker` and `npm run api` as separate processes sharing
 * PostgreSQL and a Temporal server), 50 requests in flight at the provider each time:
 *  - the worker is killed with SIGKILL and restarted: a local activity cannot heartbeat, so the dead
 *    worker is seen by its workflow task's timeout (10 s, set at start); another worker replays the
 *    workflow and calls again, the killed call's attempt left `started`, then `abandoned`;
 *  - the same, with calls that answer after 15 s: longer than the workflow task's timeout, which the
 *    SDK keeps alive by heartbeating the task, so each call is made once (no third attempt).
 * After each: every client answered once, with the second call's answer; attempts = calls the
 * provider saw; nothing left reserved; every request `succeeded`; its decision says `local`.
 *
 * Two processes need one database server: PGlite serves one process. CI sets DATABASE_URL, and
 * there this always runs; elsewhere without DATABASE_URL it is reported as not run.
 */
import { CHAOS_KEY } from '../support/chaos';
import {
  DAILY_BUDGET_YAML,
  killWorkerMidCalls,
  splitLayoutRuns,
  useSplitDeploys,
  writeSplitConfig,
} from '../support/splitLayout';

const N = 50;
const shared = splitLayoutRuns('chaos/fastPath.test.ts');

/**
 * A daily budget (reservations are made and checked), and a per-attempt call timeout of 25 s: under
 * the fast path's 30 s, so plain calls take it, and above the slow provider's 15 s.
 */
function fastPathConfig(dir: string): string {
  return writeSplitConfig(dir, [
    ...DAILY_BUDGET_YAML,
    'retry:',
    '  default:',
    '    timeoutMs: 25000',
    'routing:',
    '  fastPath:',
    '    enabled: true',
    '    maxCallMs: 30000',
  ]);
}

(shared ? describe : describe.skip)('the fast path under a killed worker (split processes on PostgreSQL)', () => {
  const { procs, deploy } = useSplitDeploys('sy-chaos-fast-', fastPathConfig);

  /** The paths the request's decision gave its candidates, as GET /v1/requests/{id} shows it. */
  async function decisionPaths(apiPort: number, requestId: string): Promise<unknown[]> {
    const res = await fetch(`http://127.0.0.1:${apiPort}/v1/requests/${requestId}`, {
      headers: { authorization: `Bearer ${CHAOS_KEY}` },
    });
    const body = (await res.json()) as { decision: { candidates: Array<{ path?: string }> } };
    return body.decision.candidates.map((c) => c.path);
  }

  async function killWithCallsInFlight(model: string, after: { delayMs: number; content: string }) {
    const { apiPort, bodies } = await killWorkerMidCalls(deploy, procs, N, model, after);
    const paths = await decisionPaths(apiPort, bodies[0]!.switchyard.request_id);
    expect(paths.length).toBeGreaterThan(0);
    expect(new Set(paths)).toEqual(new Set(['local']));
  }

  it('kill -9 the worker with 50 fast-path calls in flight: each client answered once, every call on record', async () => {
    await killWithCallsInFlight('gpt-4o-mini', { delayMs: 500, content: 'after the crash' });
  });

  it('the same with calls that outlive the workflow task timeout (15 s): each made once, none redone', async () => {
    await killWithCallsInFlight('gpt-4o', { delayMs: 15_000, content: 'after 15 s' });
  });
});
