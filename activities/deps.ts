/** What the activities are built from: the worker passes the real pool and clients, tests pass fakes. */
import type { Db } from '../src/db';
import type { UrlPolicy } from '../src/services/urlPolicy';
import type { AdapterRegistry } from '../src/providers/registry';
import type { VersionedConfig } from '../src/services/configStore';
import type { HealthPort } from '../src/services/healthPort';
import type { StreamRelay } from '../src/services/streamRelay';
import type { StreamLimits } from '../src/providers/deadline';
import type { Metrics } from '../src/services/metrics';

export interface ActivityDeps {
  db: Db;
  /** The current configuration version (a function: it changes without a worker restart). */
  config: () => VersionedConfig;
  adapters: AdapterRegistry;
  /** Breakers: read by the policy, probed and fed by provider calls. Absent: no breakers. */
  health?: HealthPort;
  /**
   * Where provider calls run: `shared` (default), the workflow's task queue, or `per-provider`,
   * each provider's own queue (for fleets whose workers reach different providers).
   */
  callQueues?: 'shared' | 'per-provider';
  /** Concurrent calls per provider in this process (the bulkhead when queues are shared). */
  maxConcurrentCalls?: number;
  /** Where tenants' webhooks may point (absent: public addresses only, no allowlist). */
  urlPolicy?: UrlPolicy;
  /** Whether this process can call a provider (its keys, its simulator). Absent: every one. */
  canReach?: (provider: { id: string; simulated?: boolean }) => boolean;
  /** Where streamed calls send their pieces (absent: streams are answered whole, when done). */
  relay?: StreamRelay;
  /** Time to first token and idle limits of streamed calls. */
  streamLimits?: StreamLimits;
  /** This process's Prometheus metrics (provider call latency by outcome). */
  metrics?: Metrics;
}
