/**
 * What one workflow history costs: its events by type, workflow tasks, activities and local
 * activities, timers, search-attribute upserts, signals and updates, and its Temporal Cloud
 * billable actions. Pure: it reads events (from `fetchHistory()` or a recorded JSON history).
 *
 * The billing rules, from Temporal's "Temporal Cloud Actions" page
 * (https://docs.temporal.io/cloud/actions, read 2026-12-07), one action each for:
 *   - a workflow started (WorkflowExecutionStarted; a child's start initiated counts 2);
 *   - an activity scheduled, and each retry (ActivityTaskStarted's `attempt` − 1);
 *   - the local activities of one workflow task: all its RecordMarker commands count as one
 *     action, however many local activities it ran; their retries after a workflow task
 *     heartbeat are counted by the server (WorkflowTaskCompleted's
 *     `meteringMetadata.nonfirstLocalActivityExecutionAttempts`, capped at 100), and each
 *     workflow task heartbeat is one more action;
 *   - a timer started (including the SDK's implicit ones: `condition` with a timeout);
 *   - a search-attribute upsert (UpsertWorkflowSearchAttributes, however many attributes it
 *     sets; attributes given at start are free, and so is an upsert of `TemporalChangeVersion`
 *     alone, which `patched()` writes);
 *   - a signal received (WorkflowExecutionSignaled; a signal-with-start is one action in all,
 *     the start's), a signal sent to another workflow, an update accepted or rejected;
 *   - a continue-as-new, a workflow reset.
 * Queries are actions too (received by a worker) but leave no event: the caller counts them.
 * Workflow tasks, activity completions and the workflow's completion are free.
 * Patch markers (`core_patch`) are not local activities and cost nothing: the Temporal UI's
 * per-event estimate (temporalio/ui, src/lib/models/event-history/get-event-billable-actions.ts)
 * charges neither them nor a `TemporalChangeVersion`-only upsert. These counts follow that
 * estimate; Temporal's usage data is the authority.
 */
import { temporal } from '@temporalio/proto';

type Event = temporal.api.history.v1.IHistoryEvent;
const T = temporal.api.enums.v1.EventType;

/** `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` → `ActivityTaskScheduled`. */
export function eventTypeName(t: temporal.api.enums.v1.EventType | null | undefined): string {
  const name = T[t ?? 0] ?? `Unknown(${String(t)})`;
  return name
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

export interface BillableAction {
  eventId: number;
  what: string;
  actions: number;
}

export interface HistoryCount {
  events: number;
  byType: Record<string, number>;
  workflowTasks: { completed: number; failed: number; timedOut: number; heartbeats: number };
  activities: Array<{ type: string; attempts: number }>;
  localActivities: Array<{ type: string; attempt: number; workflowTask: number }>;
  patches: string[];
  timers: number;
  upserts: Array<{ fields: string[]; billable: boolean }>;
  signals: number;
  updates: number;
  children: number;
  actions: BillableAction[];
  totalActions: number;
}

const LA_MARKER = 'core_local_activity';
const PATCH_MARKER = 'core_patch';
const num = (x: unknown): number => Number(x ?? 0);

/** The local activity's type, from its marker's `data` (core's LocalActivityMarkerData, JSON). */
function localActivityType(e: Event): { type: string; attempt: number } {
  const payload = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
  try {
    const d = JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as { activity_type?: string; attempt?: number };
    return { type: d.activity_type ?? '?', attempt: d.attempt ?? 1 };
  } catch {
    return { type: '?', attempt: 1 };
  }
}

/** The patch id a `core_patch` marker records. */
function patchId(e: Event): string {
  const payload = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
  try {
    return (JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as { id?: string }).id ?? '?';
  } catch {
    return '?';
  }
}

/**
 * Counts a history, or a slice of one (an entity's events since a moment). A workflow task
 * heartbeat leaves no event of its own: a task completed and the next one scheduled at once,
 * with no command between, is counted as one (an estimate).
 */
export function countHistory(events: Event[]): HistoryCount {
  const c: HistoryCount = {
    events: events.length,
    byType: {},
    workflowTasks: { completed: 0, failed: 0, timedOut: 0, heartbeats: 0 },
    activities: [],
    localActivities: [],
    patches: [],
    timers: 0,
    upserts: [],
    signals: 0,
    updates: 0,
    children: 0,
    actions: [],
    totalActions: 0,
  };
  const charge = (e: Event, what: string, actions = 1) => {
    if (actions > 0) c.actions.push({ eventId: num(e.eventId), what, actions });
  };
  const activityByScheduled = new Map<number, { type: string; attempts: number }>();
  const workflowTasksWithMarkers = new Set<number>();
  let startedBySignalWithStart = false;
  events.forEach((e, i) => {
    const name = eventTypeName(e.eventType);
    c.byType[name] = (c.byType[name] ?? 0) + 1;
    switch (e.eventType) {
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
        const attempt = e.workflowExecutionStartedEventAttributes?.attempt ?? 1;
        // A retried workflow's new run is not a new start for billing.
        charge(e, 'workflow started', attempt > 1 ? 0 : 1);
        startedBySignalWithStart = events[i + 1]?.eventType === T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED;
        break;
      }
      case T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
        c.workflowTasks.completed++;
        // A completion with nothing after it but the next task is the SDK keeping the task alive
        // while a local activity runs (a workflow task heartbeat): one action each.
        if (events[i + 1]?.eventType === T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) {
          c.workflowTasks.heartbeats++;
          charge(e, 'workflow task heartbeat (local activity still running)');
        }
        const retries = Math.min(
          100,
          num(e.workflowTaskCompletedEventAttributes?.meteringMetadata?.nonfirstLocalActivityExecutionAttempts),
        );
        charge(e, 'local activity retries after a workflow task heartbeat', retries);
        break;
      }
      case T.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        c.workflowTasks.failed++;
        if (
          e.workflowTaskFailedEventAttributes?.cause ===
          temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
        )
          charge(e, 'workflow reset');
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        c.workflowTasks.timedOut++;
        break;
      case T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
        const type = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
        const a = { type, attempts: 0 };
        activityByScheduled.set(num(e.eventId), a);
        c.activities.push(a);
        charge(e, `activity scheduled: ${type}`);
        break;
      }
      case T.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const attempt = e.activityTaskStartedEventAttributes?.attempt ?? 1;
        const a = activityByScheduled.get(num(e.activityTaskStartedEventAttributes?.scheduledEventId));
        if (a) a.attempts = attempt;
        charge(e, `activity retries: ${a?.type ?? '?'}`, attempt - 1);
        break;
      }
      case T.EVENT_TYPE_MARKER_RECORDED: {
        const attrs = e.markerRecordedEventAttributes;
        const task = num(attrs?.workflowTaskCompletedEventId);
        if (attrs?.markerName === PATCH_MARKER) {
          c.patches.push(patchId(e));
          break;
        }
        if (attrs?.markerName === LA_MARKER) c.localActivities.push({ ...localActivityType(e), workflowTask: task });
        if (!workflowTasksWithMarkers.has(task)) {
          workflowTasksWithMarkers.add(task);
          charge(e, `local activities of workflow task ${task} (markers, one action per task)`);
        }
        break;
      }
      case T.EVENT_TYPE_TIMER_STARTED:
        c.timers++;
        charge(e, 'timer started');
        break;
      case T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        const fields = Object.keys(
          e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
        );
        const billable = !(fields.length === 1 && fields[0] === 'TemporalChangeVersion');
        c.upserts.push({ fields, billable });
        charge(e, `search attributes upserted: ${fields.join(', ')}`, billable ? 1 : 0);
        break;
      }
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        c.signals++;
        // A signal-with-start that started the workflow is one action, charged as its start.
        charge(e, 'signal received', num(e.eventId) === 2 && startedBySignalWithStart ? 0 : 1);
        break;
      case T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
        charge(e, 'signal sent to another workflow');
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        c.updates++;
        charge(e, 'update accepted');
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED:
        c.updates++;
        charge(e, 'update rejected');
        break;
      case T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        c.children++;
        charge(e, 'child workflow start initiated', 2);
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        charge(e, 'continued as new');
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
        charge(e, 'workflow execution options updated');
        break;
      case T.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED:
        charge(e, 'Nexus operation scheduled');
        break;
      case T.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED:
        charge(e, 'Nexus operation cancel requested');
        break;
      default:
        break;
    }
  });
  c.totalActions = c.actions.reduce((n, a) => n + a.actions, 0);
  return c;
}

/** A recorded history (`test/replay/*.json`: protobufjs's JSON form) as events. */
export function eventsOfJson(json: unknown): Event[] {
  return temporal.api.history.v1.History.fromObject(json as Record<string, unknown>).events;
}
