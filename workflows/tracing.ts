/**
 * The workflow half of tracing (src/services/tracing.ts): Temporal's OpenTelemetry workflow
 * interceptors, in the bundle only when tracing is on (`buildWorkflowBundle({ tracing: true })`).
 * Not a workflow: the bundler loads it as the interceptors' module.
 *
 * Only what a traced caller started is traced: a workflow whose start carried no trace context
 * (the alert monitor, budget windows, breakers, a history recorded before tracing) makes no spans,
 * and a call it makes outside any span makes none either, so long-running entities do not fill the
 * backend with root traces. Spans are not commands: nothing here changes a workflow's history.
 */
import { trace, context } from '@opentelemetry/api';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type {
  ActivityInput,
  ContinueAsNewInput,
  LocalActivityInput,
  Next,
  SignalWorkflowInput,
  StartChildWorkflowExecutionInput,
  WorkflowExecuteInput,
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/** The header Temporal's OpenTelemetry interceptors carry the trace context in. */
const TRACE_HEADER = '_tracer-data';

const carriesTrace = (input: { headers: Record<string, unknown> }) => input.headers[TRACE_HEADER] !== undefined;
const inSpan = () => trace.getSpan(context.active()) !== undefined;

/**
 * A run is traced; its signals, updates and queries are not: Temporal's interceptor wraps a handler
 * in awaits of its own, and a history recorded without them then fails to replay with them (the
 * breaker entity's updates do: `test/workflow/replay.test.ts`), or the other way round in a fleet
 * where only some workers trace. The client's span of each still shows it.
 */
class TracedInbound implements WorkflowInboundCallsInterceptor {
  private readonly otel = new OpenTelemetryInboundInterceptor();
  execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
    return carriesTrace(input) ? this.otel.execute(input, next) : next(input);
  }
}

class TracedOutbound extends OpenTelemetryOutboundInterceptor {
  override scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
    return inSpan() ? super.scheduleActivity(input, next) : next(input);
  }
  override scheduleLocalActivity(
    input: LocalActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>,
  ) {
    return inSpan() ? super.scheduleLocalActivity(input, next) : next(input);
  }
  override startChildWorkflowExecution(
    input: StartChildWorkflowExecutionInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>,
  ) {
    return inSpan() ? super.startChildWorkflowExecution(input, next) : next(input);
  }
  override continueAsNew(input: ContinueAsNewInput, next: Next<WorkflowOutboundCallsInterceptor, 'continueAsNew'>) {
    return inSpan() ? super.continueAsNew(input, next) : next(input);
  }
  override signalWorkflow(input: SignalWorkflowInput, next: Next<WorkflowOutboundCallsInterceptor, 'signalWorkflow'>) {
    return inSpan() ? super.signalWorkflow(input, next) : next(input);
  }
}

export const interceptors = (): WorkflowInterceptors => ({
  inbound: [new TracedInbound()],
  outbound: [new TracedOutbound()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
