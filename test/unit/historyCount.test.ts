/**
 * The history counter of `npm run bench:actions` (bench/historyCount.ts) on recorded histories and
 * on made-up ones for the rules no recording shows (several local activities in one workflow task,
 * a workflow task heartbeat, a signal-with-start).
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { countHistory, eventsOfJson } from '../../bench/historyCount';
import { REPLAY_DIR } from '../support/histories';

const T = temporal.api.enums.v1.EventType;
type Event = temporal.api.history.v1.IHistoryEvent;
const recorded = (name: string) =>
  countHistory(eventsOfJson(JSON.parse(fs.readFileSync(path.join(REPLAY_DIR, `${name}.json`), 'utf8'))));

it('a plain request: 16 events, two workflow tasks, six billable actions', () => {
  const c = recorded('route-plain');
  expect(c.events).toBe(16);
  expect(c.workflowTasks).toEqual({ completed: 2, failed: 0, timedOut: 0, heartbeats: 0 });
  expect(c.localActivities.map((l) => l.type)).toEqual(['decideRoute']);
  expect(c.activities).toEqual([{ type: 'callModel', attempts: 1 }]);
  expect(c.timers).toBe(1);
  expect(c.upserts.map((u) => u.billable)).toEqual([true, true]);
  expect(c.actions.map((a) => [a.eventId, a.actions])).toEqual([
    [1, 1], // started
    [5, 1], // decideRoute's marker
    [6, 1], // the deadline timer
    [7, 1], // the route's search attributes
    [8, 1], // callModel scheduled
    [15, 1], // the outcome's search attributes
  ]);
  expect(c.totalActions).toBe(6);
});

it('a retried activity is charged once per retry', () => {
  const c = recorded('route-fallback');
  expect(c.activities).toEqual([
    { type: 'callModel', attempts: 3 },
    { type: 'callModel', attempts: 1 },
  ]);
  expect(c.actions.filter((a) => a.what.startsWith('activity retries')).map((a) => a.actions)).toEqual([2]);
  expect(c.totalActions).toBe(10);
});

it('patch markers and TemporalChangeVersion-only upserts cost nothing; signals and updates do', () => {
  const c = recorded('health-trip-recover');
  expect(c.patches).toEqual(['breaker-projection']);
  expect(c.upserts).toEqual([{ fields: ['TemporalChangeVersion'], billable: false }]);
  expect(c.signals).toBe(3);
  expect(c.updates).toBe(2);
  expect(c.actions.some((a) => a.what.includes('TemporalChangeVersion'))).toBe(false);
  expect(c.totalActions).toBe(13);
});

// fromObject takes plain numbers for the 64-bit fields.
const ev = (eventId: number, eventType: temporal.api.enums.v1.EventType, attrs: Record<string, unknown> = {}): Event =>
  temporal.api.history.v1.HistoryEvent.fromObject({ eventId, eventType, ...attrs });
const laMarker = (eventId: number, task: number, type: string): Event =>
  ev(eventId, T.EVENT_TYPE_MARKER_RECORDED, {
    markerRecordedEventAttributes: {
      markerName: 'core_local_activity',
      workflowTaskCompletedEventId: task,
      details: {
        data: { payloads: [{ data: Buffer.from(JSON.stringify({ activity_type: type, attempt: 1 })) }] },
      },
    },
  });

it('the local activities of one workflow task are one action; a workflow task heartbeat is one more', () => {
  const c = countHistory([
    ev(1, T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
    ev(2, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
    ev(3, T.EVENT_TYPE_WORKFLOW_TASK_STARTED),
    ev(4, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), // heartbeat: the call is still running
    ev(5, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
    ev(6, T.EVENT_TYPE_WORKFLOW_TASK_STARTED),
    ev(7, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, {
      workflowTaskCompletedEventAttributes: { meteringMetadata: { nonfirstLocalActivityExecutionAttempts: 2 } },
    }),
    laMarker(8, 7, 'decideRoute'),
    laMarker(9, 7, 'callModel'),
    ev(10, T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED),
  ]);
  expect(c.workflowTasks.heartbeats).toBe(1);
  expect(c.localActivities.map((l) => l.type)).toEqual(['decideRoute', 'callModel']);
  // started 1, heartbeat 1, LA retries after the heartbeat 2, both markers 1.
  expect(c.totalActions).toBe(5);
});

it('a signal-with-start that starts the workflow is one action in all', () => {
  const c = countHistory([
    ev(1, T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
    ev(2, T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
    ev(3, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
    ev(4, T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
  ]);
  expect(c.signals).toBe(2);
  expect(c.totalActions).toBe(2);
});
