/**
 * The policy's vocabulary: what a decision reads (the request's attributes, breaker and budget
 * views) and what it returns (candidates, rejections, the reasons).
 */
import { z } from 'zod';
import { ComplianceSchema } from '../catalog';
import { FitModeSchema } from '../fitMode';
import { RegionSchema, StrategySchema, type Override, type Strategy } from '../config';
import type { DialDecision } from './dial';
import type { SessionRecord } from './session';

export { AUTO_MODELS } from '../autoModels';

/**
 * Whether a request that names a model may be answered by another one when that model fails or is
 * filtered out: `allowed` (the default: fallbacks, the header `x-switchyard-model-substituted`
 * says so) or `none` (strict: the named model's failure is the request's error).
 */
export const SubstitutionSchema = z.enum(['none', 'allowed']);
export type Substitution = z.infer<typeof SubstitutionSchema>;

/** The request attributes routing may look at (from headers and the body's metadata). */
export const RouteContextSchema = z.object({
  tenantId: z.string(),
  workspaceId: z.string().max(200).optional(),
  userId: z.string().max(256).optional(),
  region: RegionSchema.optional(),
  compliance: z.array(ComplianceSchema).default([]),
  agentType: z.string().max(100).optional(),
  subject: z.string().max(100).optional(),
  gradeBand: z.string().max(50).optional(),
  strategy: StrategySchema.optional(),
  maxCostUsd: z.number().positive().optional(),
  excludeProviders: z.array(z.string()).default([]),
  /** The request's own choice (header or metadata); absent: the tenant's default, else `allowed`. */
  substitution: SubstitutionSchema.optional(),
  /**
   * The cost–quality dial (`X-Switchyard-Quality`, or the body's `switchyard.quality`): 0 = the
   * cheapest acceptable tier, 1 = the best available. Absent: the tenant's default, else 0.5.
   */
  quality: z.number().min(0).max(1).optional(),
  /**
   * Context fitting (`X-Switchyard-Fit`, or the body's `switchyard.fit`): what to do with a
   * conversation longer than every candidate's window. Absent: the tenant's default, else off.
   */
  fit: FitModeSchema.optional(),
  metadata: z.record(z.string(), z.string()).default({}),
  /**
   * The session the request belongs to (`X-Switchyard-Session`, or the body's `user` with a hash
   * of the conversation's first messages): its requests stay on one model while its pin lives.
   */
  session: z.string().min(1).max(512).optional(),
});
export type RouteContext = z.infer<typeof RouteContextSchema>;

export interface PolicyInput {
  /** Seeds weighted splits and round-robin: the same request always routes the same way. */
  requestId: string;
  requestedModel: string;
  operation: string;
  capability: 'chat' | 'embeddings';
  maxOutputTokens: number;
  needsJson: boolean;
  /** The request has images: only models with the `vision` capability may take it. */
  needsVision?: boolean;
  /** The request offers tools: only models with the `tools` capability may take it. */
  needsTools?: boolean;
  context: RouteContext;
  /** ISO time the decision is made at (override expiry). */
  now: string;
  /**
   * The request's own fallback chain (OpenRouter's `models` list): tried in order after the named
   * model, instead of the configured chain or the strategy's fallbacks.
   */
  fallbacks?: string[];
}

/** `until` of a block with no end of its own (forced open; no credentials here). */
export const BLOCKED_FOREVER = '9999-12-31T23:59:59.999Z';

/** Breakers that block an endpoint: model id → until when (ISO) and why. Half-open endpoints are not blocked (they take probes). */
export interface HealthView {
  blocked?: Record<string, { until: string; why: string }>;
}

export type { BudgetView } from '../budget';

export const FILTERS = [
  'status',
  'capability',
  'json',
  'context-window',
  'residency',
  'compliance',
  'tenant-allowlist',
  'workspace-allowlist',
  'excluded-provider',
  'cost-cap',
  'budget',
  'breaker-open',
] as const;
export type FilterName = (typeof FILTERS)[number];

/** `session`: the model a session's last answer came from, kept first for its prompt cache (./session.ts). */
export type CandidateStep = 'requested' | 'override' | 'rule' | 'strategy' | 'fallback' | 'chain' | 'session';

/** Where an explicit fallback chain came from: the request's `models`, the configuration, the catalog's model. */
export type ChainSource = 'request' | 'config' | 'catalog';

export interface Candidate {
  modelId: string;
  provider: string;
  model: string;
  step: CandidateStep;
  reason: string;
  estimatedCostUsd: number;
}

export interface RouteDecision {
  candidates: Candidate[];
  rejected: Array<{
    modelId: string;
    filter: FilterName;
    reason: string;
    /** A `context-window` rejection: the model's window and the tokens the request needs. */
    contextWindow?: number;
    neededTokens?: number;
  }>;
  strategy: Exclude<Strategy, 'auto'>;
  override?: { id: string; scope: Override['scope']; subject: string; expiresAt?: string };
  rule?: { id: string; name?: string; picked?: string };
  notes: string[];
  summary: string;
  /**
   * Under the `auto` strategy: the tier the complexity probabilities and the cost–quality dial
   * chose, with the thresholds and the sentence that explains it. Absent when a strategy was set.
   */
  dial?: DialDecision;
  /**
   * A named model with no substitution: the chain is that model alone, and a failure ends the
   * request naming it. `source`: the request asked (header or metadata), or its tenant's default.
   */
  substitution?: { mode: 'none'; source: 'request' | 'tenant'; modelId: string };
  /** With no candidate left but models only cooling down: when the first of them reopens for probes. */
  retryAt?: string;
  /** A request of a session: whether its pinned model was kept first, or why it moved. */
  session?: SessionRecord;
  /**
   * An explicit fallback chain for the named model: where it came from, the models it lists in
   * order, and those a filter skipped (with the filter and its reason). It replaces the strategy's
   * fallbacks: only the listed models follow the named one.
   */
  chain?: {
    source: ChainSource;
    models: string[];
    skipped: Array<{ modelId: string; filter: FilterName; reason: string }>;
  };
}

export class UnknownModelError extends Error {
  override name = 'UnknownModelError';
  /** The request's field that named it (`model`, `models[1]`); absent: `model`. */
  constructor(
    message: string,
    readonly param = 'model',
  ) {
    super(message);
  }
}
