/**
 * Chooses the ordered candidates for a request: the routing decision, as a pure function.
 * First cut of the policy: an explicitly requested model leads; `auto` picks by complexity
 * (simple → cheapest capable model, complex → highest quality); the other capable models follow
 * as fallbacks, other providers first. Every model left out is listed with its reason.
 */
import { z } from 'zod';
import { costUsd, findModel, type Catalog, type Model } from './catalog';
import type { Classification } from './classify';

export const CandidateSchema = z.object({
  modelId: z.string(),
  provider: z.string(),
  model: z.string(),
  reason: z.string(),
  estimatedCostUsd: z.number(),
});
export type Candidate = z.infer<typeof CandidateSchema>;

export const RouteDecisionSchema = z.object({
  candidates: z.array(CandidateSchema),
  rejected: z.array(z.object({ modelId: z.string(), reason: z.string() })),
  summary: z.string(),
});
export type RouteDecision = z.infer<typeof RouteDecisionSchema>;

export interface DecideInput {
  requestedModel: string;
  /** What the model must do: chat (every text operation) or embeddings. */
  capability?: 'chat' | 'embeddings';
  maxCandidates?: number;
  classification: Classification;
  maxOutputTokens: number;
  needsJson: boolean;
}

export const AUTO_MODELS = new Set(['auto', 'switchyard/auto']);
export const MAX_CANDIDATES = 3;

export class UnknownModelError extends Error {
  override name = 'UnknownModelError';
}

export function decide(input: DecideInput, catalog: Catalog): RouteDecision {
  const rejected: RouteDecision['rejected'] = [];
  const capable: Model[] = [];
  for (const model of catalog.models) {
    const why = rejection(model, input);
    if (why) rejected.push({ modelId: model.id, reason: why });
    else capable.push(model);
  }

  const estimate = (x: Model) => costUsd(x, input.classification.inputTokens, Math.min(input.maxOutputTokens, x.maxOutputTokens));
  const isAuto = AUTO_MODELS.has(input.requestedModel);
  let lead: Model | undefined;
  let leadReason: string;
  if (!isAuto) {
    lead = findModel(catalog, input.requestedModel);
    if (!lead) throw new UnknownModelError(`The model '${input.requestedModel}' does not exist in the catalog.`);
    leadReason = 'requested by the client';
    const leadRejection = rejected.find((r) => r.modelId === lead!.id);
    if (leadRejection) {
      leadReason = '';
      lead = undefined;
    }
  } else {
    const byCost = [...capable].sort((a, b) => estimate(a) - estimate(b) || a.id.localeCompare(b.id));
    const byQuality = [...capable].sort((a, b) => b.qualityTier - a.qualityTier || estimate(a) - estimate(b));
    lead = input.classification.complexity === 'complex' ? byQuality[0] : byCost[0];
    leadReason = input.classification.complexity === 'complex' ? 'auto: complex task → highest quality tier' : `auto: ${input.classification.complexity} task → lowest estimated cost`;
  }

  const ordered: Candidate[] = [];
  if (lead) ordered.push(toCandidate(lead, leadReason, estimate(lead)));
  // Fallbacks: prefer other providers (a provider outage takes all its models), then higher quality.
  const rest = capable
    .filter((x) => x.id !== lead?.id)
    .sort((a, b) => Number(a.provider === lead?.provider) - Number(b.provider === lead?.provider) || b.qualityTier - a.qualityTier || a.id.localeCompare(b.id));
  for (const x of rest) {
    if (ordered.length >= (input.maxCandidates ?? MAX_CANDIDATES)) break;
    ordered.push(toCandidate(x, x.provider === lead?.provider ? 'fallback: same provider' : 'fallback: other provider', estimate(x)));
  }

  const summary = ordered.length
    ? `${ordered[0]!.modelId} (${ordered[0]!.reason})${ordered.length > 1 ? `; fallbacks ${ordered.slice(1).map((c) => c.modelId).join(', ')}` : ''}`
    : 'no candidate left';
  return { candidates: ordered, rejected, summary };
}

function rejection(model: Model, input: DecideInput): string | undefined {
  if (model.status !== 'active') return 'model inactive';
  const capability = input.capability ?? 'chat';
  if (!model.capabilities.includes(capability)) return `no ${capability} capability`;
  if (input.needsJson && !model.capabilities.includes('json')) return 'no JSON mode';
  const needed = input.classification.inputTokens + (capability === 'embeddings' ? 0 : Math.min(input.maxOutputTokens, model.maxOutputTokens));
  if (needed > model.contextWindow) return `context window ${model.contextWindow} < ${needed} tokens needed`;
  return undefined;
}

function toCandidate(model: Model, reason: string, estimatedCostUsd: number): Candidate {
  return { modelId: model.id, provider: model.provider, model: model.model, reason, estimatedCostUsd };
}
