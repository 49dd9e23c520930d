/**
 * What routing needs of the breakers, as an interface: activities and the dry run depend on this
 * port, not on the Temporal client behind it (`src/clients/providerHealth.ts`), so nothing on the
 * activity side imports workflow code, and tests can pass a fake.
 */
import type { BreakerSnapshot } from '../domain/breaker';
import type { Catalog } from '../domain/catalog';
import type { HealthView } from '../domain/policy';

/** One provider call's outcome, as a breaker hears of it. */
export interface Outcome {
  ok: boolean;
  type?: string;
  message?: string;
  latencyMs: number;
  probe?: boolean;
}

export interface HealthPort {
  /** The policy's input: the catalog's active endpoints whose breaker is open. */
  viewOf(catalog: Catalog): Promise<HealthView>;
  /** One endpoint's breaker; undefined when it never failed (closed). */
  snapshot(endpoint: string): Promise<BreakerSnapshot | undefined>;
  /** Asks a half-open breaker for a probe slot. */
  requestProbe(endpoint: string): Promise<boolean>;
  /** Reports a call's outcome (batched by the implementation). */
  report(endpoint: string, outcome: Outcome): void;
}
