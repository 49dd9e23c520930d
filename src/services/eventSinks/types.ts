// src/services/eventSinks/types.ts
/** One usage event as every sink receives it: ids, figures and names only — never a prompt or an answer. */
export interface UsageEvent {
  /** Unique and stable across redeliveries: consumers de-duplicate on it. */
  id: string;
  /** The outbox position (a decimal string): increasing per tenant in delivery order. */
  seq: string;
  tenantId: string;
  type: 'request.finished' | 'attempt.finished' | 'batch_item.finished' | 'budget.alert';
  /** ISO 8601. */
  occurredAt: string;
  data: Record<string, unknown>;
}
export interface EventSink {
  readonly name: string;
  /** Delivers the events in the given order; resolves only once all are accepted (at-least-once). */
  send(events: readonly UsageEvent[]): Promise<void>;
  close(): Promise<void>;
}
