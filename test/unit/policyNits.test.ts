/**
 * Review nits on the routing policy (issue 29): a rule's `requestedModel` reads `auto` however the
 * client spelled it (`auto`, `switchyard/auto`), as the rest of the policy does; the strict-mode
 * note says which fallback chain is not used, wherever it came from (the request, the
 * configuration, the catalog model).
 */
import { validateConfig } from '../../src/services/configStore';
import { classify } from '../../src/domain/classify';
import type { SwitchyardConfigInput } from '../../src/domain/config';
import { decide, type PolicyInput } from '../../src/domain/policy';
import { candidateIds, loadSeedPolicy, policyInput } from '../support/policy';
import { substitutionOf } from '../../src/domain/request';

const seedInput = loadSeedPolicy();
const hello = classify({ operation: 'chat', messages: [{ role: 'user', content: 'Hello, can you help me?' }] });
const input = policyInput;
const ids = candidateIds;

const GPT4O = 'openai/gpt-4o';
const HAIKU = 'anthropic/claude-3-5-haiku-latest';
const MISTRAL = 'mistral/mistral-large';

describe("a rule on requestedModel reads auto's one spelling", () => {
  const cfg = validateConfig({
    ...seedInput,
    rules: [
      {
        id: 'auto-to-mistral',
        when: [{ field: 'requestedModel', op: 'eq', value: 'auto' }],
        targets: [{ model: MISTRAL }],
      },
    ],
  });

  it.each(['auto', 'switchyard/auto'])('%s: the rule written for auto matches', (requestedModel) => {
    const d = decide(input({}, { requestedModel }), hello, cfg);
    expect(d.rule).toEqual({ id: 'auto-to-mistral' });
    expect(ids(d)[0]).toBe(MISTRAL);
  });

  it('a rule written for switchyard/auto never matches: the policy sees auto', () => {
    const other = validateConfig({
      ...seedInput,
      rules: [
        {
          id: 'raw',
          when: [{ field: 'requestedModel', op: 'eq', value: 'switchyard/auto' }],
          targets: [{ model: MISTRAL }],
        },
      ],
    });
    expect(decide(input({}, { requestedModel: 'switchyard/auto' }), hello, other).rule).toBeUndefined();
  });
});

describe('strict mode names the fallback chain it does not use, wherever it came from', () => {
  const strict = (cfgInput: SwitchyardConfigInput, extra: Partial<PolicyInput> = {}) =>
    decide(input({ substitution: 'none' }, { requestedModel: GPT4O, ...extra }), hello, validateConfig(cfgInput));

  it("the request's chain (models)", () => {
    const d = strict(seedInput, { fallbacks: [HAIKU] });
    expect(ids(d)).toEqual([GPT4O]);
    expect(d.notes).toContain("the request's fallback chain (models) is not used: substitution none");
  });

  it('a configured chain (fallback.chains)', () => {
    const d = strict({
      ...seedInput,
      fallback: { ...validateConfig(seedInput).fallback, chains: { [GPT4O]: [HAIKU] } },
    });
    expect(ids(d)).toEqual([GPT4O]);
    expect(d.chain).toBeUndefined();
    expect(d.notes).toContain('the configured fallback chain (fallback.chains) is not used: substitution none');
  });

  it("the catalog model's chain (fallbacks)", () => {
    const d = strict({
      ...seedInput,
      catalog: {
        ...seedInput.catalog,
        models: seedInput.catalog.models.map((m) => (m.id === GPT4O ? { ...m, fallbacks: [HAIKU, MISTRAL] } : m)),
      },
    });
    expect(ids(d)).toEqual([GPT4O]);
    expect(d.notes).toContain("the catalog model's fallback chain (fallbacks) is not used: substitution none");
  });

  it('no chain at all: no such note', () => {
    const d = strict(seedInput);
    expect(d.notes.filter((n) => n.includes('fallback chain'))).toEqual([]);
  });
});

describe('substitution is never reported for a router-chosen model', () => {
  it.each(['auto', 'switchyard/auto'])('%s answered by any model is not a substitution', (requested) => {
    expect(substitutionOf(requested, 'openai/gpt-4o-mini')).toBeUndefined();
  });
  it('a named model answered by another is', () => {
    expect(substitutionOf('openai/gpt-4o', 'anthropic/claude-3-5-haiku')).toMatchObject({
      requested: 'openai/gpt-4o',
      served: 'anthropic/claude-3-5-haiku',
    });
  });
});
