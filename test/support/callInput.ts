/** The input of one model call in the call-step unit tests (callSteps, continuation, swallowedErrors). */
import type { CallModelInput } from '../../src/domain/request';

/** A chat call of `oa/m` (`unitModel('oa', 'm')`) for request `r1`, candidate 0, 5 s to answer; `over` overrides. */
export const callInput = (over: Partial<CallModelInput> = {}): CallModelInput => ({
  requestId: 'r1',
  operation: 'chat',
  candidateIndex: 0,
  provider: 'oa',
  model: 'm',
  modelId: 'oa/m',
  timeoutMs: 5_000,
  ...over,
});
