/**
 * Sessions that keep their provider's prompt cache, the pure part (src/domain/policy/session.ts,
 * through `decide`): a live pin leads unless a filter removed its model, and the decision says
 * which; a requested model, an override, substitution none and an explicit chain are not
 * displaced; a request without a session decides exactly as before.
 */
import { validateConfig } from '../../src/services/configStore';
import { classify } from '../../src/domain/classify';
import { sessionsOf, type SwitchyardConfigInput } from '../../src/domain/config';
import { decide, type PolicyInput, type RouteContext, type SessionView } from '../../src/domain/policy';
import { unitModel } from '../support/catalog';

const config = (more: Partial<SwitchyardConfigInput> = {}) =>
  validateConfig({
    catalog: {
      providers: [
        { id: 'oa', wireFormat: 'openai', baseUrl: 'http://127.0.0.1:1/v1' },
        { id: 'an', wireFormat: 'anthropic', baseUrl: 'http://127.0.0.1:2' },
        { id: 'eu', wireFormat: 'openai', baseUrl: 'http://127.0.0.1:3/v1' },
      ],
      models: [
        unitModel('oa', 'cheap', { inputPricePerMTok: 0.1, outputPricePerMTok: 0.2 }),
        unitModel('an', 'pricey', { inputPricePerMTok: 5, outputPricePerMTok: 10, regions: ['US'] }),
        unitModel('eu', 'mid', { inputPricePerMTok: 1, outputPricePerMTok: 2, regions: ['EU'] }),
      ],
    },
    routing: { defaultStrategy: 'cost' },
    ...more,
  });
const hello = classify({ operation: 'chat', messages: [{ role: 'user', content: 'Hello there' }] });
const NOW = '2026-12-07T12:00:00.000Z';
const LATER = '2026-12-07T12:05:00.000Z';
const input = (c: Partial<RouteContext> = {}, extra: Partial<PolicyInput> = {}): PolicyInput => ({
  requestId: 'req-1',
  requestedModel: 'auto',
  operation: 'chat',
  capability: 'chat',
  maxOutputTokens: 256,
  needsJson: false,
  context: { tenantId: 't1', compliance: [], excludeProviders: [], metadata: {}, session: 's1', ...c },
  now: NOW,
  ...extra,
});
const pinned = (modelId: string, provider = modelId.split('/')[0]!, expiresAt = LATER): SessionView => ({
  key: 's1',
  pin: { provider, modelId, expiresAt },
});
const ids = (d: { candidates: Array<{ modelId: string }> }) => d.candidates.map((c) => c.modelId);

describe('a session pin in the decision', () => {
  it('keeps the pinned model first against the strategy, and says so in the summary', () => {
    const plain = decide(input(), hello, config());
    expect(ids(plain)[0]).toBe('oa/cheap'); // the cost strategy's pick
    const d = decide(input(), hello, config(), {}, {}, pinned('an/pricey'));
    expect(ids(d)[0]).toBe('an/pricey');
    expect(d.candidates[0]).toMatchObject({ step: 'session', reason: 'kept for session' });
    expect(d.session).toEqual({ outcome: 'kept', modelId: 'an/pricey' });
    expect(d.summary).toMatch(/^an\/pricey \(kept for session\); fallbacks oa\/cheap/);
    expect(d.notes.join('\n')).toMatch(/kept for session: an\/pricey answered this session before/);
    // The rest of the chain is the strategy's, without the pinned model twice.
    expect(new Set(ids(d)).size).toBe(ids(d).length);
  });

  it('keeps the pinned model across round-robin, whatever the request id', () => {
    const cfg = config({ routing: { defaultStrategy: 'round-robin' } });
    const firsts = new Set<string>();
    const kept = new Set<string>();
    for (let i = 0; i < 20; i++) {
      firsts.add(ids(decide(input({}, { requestId: `r${i}` }), hello, cfg))[0]!);
      kept.add(ids(decide(input({}, { requestId: `r${i}` }), hello, cfg, {}, {}, pinned('eu/mid')))[0]!);
    }
    expect(firsts.size).toBeGreaterThan(1);
    expect([...kept]).toEqual(['eu/mid']);
  });

  it('the pinned model already first: kept, with the reason it had', () => {
    const d = decide(input(), hello, config(), {}, {}, pinned('oa/cheap'));
    expect(d.candidates[0]).toMatchObject({ modelId: 'oa/cheap', step: 'strategy' });
    expect(d.candidates[0]!.reason).toMatch(/^kept for session; strategy cost/);
    expect(d.session?.outcome).toBe('kept');
  });

  it('moves when the breaker of the pinned model is open, and says why', () => {
    const health = { blocked: { 'an/pricey': { until: LATER, why: 'error rate 80% over 10 calls' } } };
    const d = decide(input(), hello, config(), health, {}, pinned('an/pricey'));
    expect(ids(d)).not.toContain('an/pricey');
    expect(d.session).toMatchObject({ outcome: 'moved', modelId: 'an/pricey' });
    expect(d.session!.reason).toBe('breaker open on an/pricey (error rate 80% over 10 calls)');
    expect(d.summary).toMatch(/; session moved: breaker open on an\/pricey/);
    expect(d.notes).toContain(
      'session moved: breaker open on an/pricey (error rate 80% over 10 calls); oa/cheap leads',
    );
  });

  it('moves for residency, budget and capability too, naming the filter', () => {
    const eu = decide(input({ region: 'EU' }), hello, config(), {}, {}, pinned('an/pricey'));
    expect(eu.session).toMatchObject({ outcome: 'moved' });
    expect(eu.session!.reason).toMatch(/^residency removed an\/pricey/);
    expect(ids(eu)[0]).toBe('eu/mid');

    const poor = decide(input(), hello, config(), {}, { remainingUsd: 0.0001 }, pinned('an/pricey'));
    expect(poor.session!.reason).toMatch(/^budget removed an\/pricey/);

    const tools = decide(input({}, { needsTools: true }), hello, config(), {}, {}, pinned('an/pricey'));
    expect(tools.session!.reason).toMatch(/^capability removed an\/pricey \(no tools capability/);
  });

  it('moves when the pinned model left the catalog or its provider instance changed', () => {
    const gone = decide(input(), hello, config(), {}, {}, pinned('xx/old', 'xx'));
    expect(gone.session).toMatchObject({ outcome: 'moved', reason: 'xx/old is no longer in the catalog' });
    const other = decide(input(), hello, config(), {}, {}, pinned('an/pricey', 'an-eu'));
    expect(other.session!.reason).toBe('an/pricey is now served by provider an, not an-eu');
  });

  it('an expired pin is no pin: the model that answers becomes the next', () => {
    const d = decide(input(), hello, config(), {}, {}, pinned('an/pricey', 'an', NOW));
    expect(ids(d)[0]).toBe('oa/cheap');
    expect(d.session).toEqual({ outcome: 'new' });
    expect(decide(input(), hello, config(), {}, {}, { key: 's1' }).session).toEqual({ outcome: 'new' });
  });

  it('a model the client named leads; a pin that is in its chain leads once the named one is filtered', () => {
    const named = decide(input({}, { requestedModel: 'oa/cheap' }), hello, config(), {}, {}, pinned('an/pricey'));
    expect(ids(named)[0]).toBe('oa/cheap');
    expect(named.session).toMatchObject({ outcome: 'not-applied', reason: 'the requested model oa/cheap leads' });

    const health = { blocked: { 'oa/cheap': { until: LATER, why: 'forced open' } } };
    const moved = decide(input({}, { requestedModel: 'oa/cheap' }), hello, config(), health, {}, pinned('an/pricey'));
    expect(ids(moved)[0]).toBe('an/pricey');
    expect(moved.session?.outcome).toBe('kept');
  });

  it('an explicit chain is reordered, never extended; substitution none is never displaced', () => {
    const health = { blocked: { 'oa/cheap': { until: LATER, why: 'forced open' } } };
    const chained = decide(
      input({}, { requestedModel: 'oa/cheap', fallbacks: ['eu/mid'] }),
      hello,
      config(),
      health,
      {},
      pinned('an/pricey'),
    );
    expect(ids(chained)).toEqual(['eu/mid']);
    expect(chained.session).toMatchObject({ outcome: 'not-applied' });

    const strict = decide(
      input({ substitution: 'none' }, { requestedModel: 'oa/cheap' }),
      hello,
      config(),
      {},
      {},
      pinned('an/pricey'),
    );
    expect(ids(strict)).toEqual(['oa/cheap']);
    expect(strict.session?.outcome).toBe('not-applied');
  });

  it('an override leads over a pin', () => {
    const cfg = config({
      overrides: [{ id: 'o1', scope: 'tenant', subject: 't1', model: 'eu/mid' }],
    });
    const d = decide(input(), hello, cfg, {}, {}, pinned('an/pricey'));
    expect(ids(d)[0]).toBe('eu/mid');
    expect(d.session?.outcome).toBe('not-applied');
  });

  it('without a session the decision is exactly what it was', () => {
    const a = decide(input({ session: undefined }), hello, config());
    const b = decide(input({ session: undefined }), hello, config(), {}, {}, undefined);
    expect(b).toEqual(a);
    expect(a.session).toBeUndefined();
  });

  it('sessions default on, 300 s; the switch and the lifetime are configurable', () => {
    expect(sessionsOf(config())).toEqual({ enabled: true, ttlSeconds: 300 });
    const off = config({ routing: { defaultStrategy: 'cost', sessions: { enabled: false, ttlSeconds: 600 } } });
    expect(sessionsOf(off)).toEqual({ enabled: false, ttlSeconds: 600 });
    expect(() => config({ routing: { sessions: { ttlSeconds: 0 } } })).toThrow();
  });
});
