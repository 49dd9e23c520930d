// The routing policy, one concept per file: the vocabulary (types), hard filters, rules,
// overrides, ranking strategies, and `decide`, which applies them in order.
export * from './types';
export { estimateCost, summarizeRejections } from './filters';
export { conditionHolds, operatorOnlyRules } from './rules';
export { rank } from './ranking';
export { stableFraction } from './hash';
export { decide } from './decide';
export {
  applySession,
  movedBecause,
  sessionKeyOf,
  type SessionPin,
  type SessionRecord,
  type SessionView,
} from './session';
