/**
 * The sixteen provider faults of issue 29 as the project's own suite, on the short time profile
 * (the full one is `bench/failover.ts`). Each scenario (test/support/faults.ts) injects its fault
 * into the fake providers, calls Switchyard over real HTTP with the official `openai` client, and
 * grades what the caller got and what the providers saw (attempt count and spacing); a test here
 * asserts the grade is a pass.
 */
import { faultStackOptions, runScenario, SCENARIOS, SHORT, type Scenario } from '../support/faults';
import { useTestStack } from '../support/stack';

function suite(scenarios: Scenario[]) {
  const stack = useTestStack(
    faultStackOptions(
      SHORT,
      scenarios.some((s) => s.breakers),
    ),
    { timeout: 180_000 },
  );
  for (const s of scenarios)
    it(`${s.id} ${s.title}`, async () => {
      const v = await runScenario(s, stack, SHORT);
      // The observed line is in the failure's diff: what the caller got and what the providers saw.
      expect(v).toMatchObject({ grade: 'pass', unmet: [] });
    }, 90_000);
}

describe('the sixteen faults, short profile', () => suite(SCENARIOS.filter((s) => !s.breakers)));
// The breakers' scenario on a stack of its own: elsewhere one scenario's failures would open the
// primary's breaker for the next.
describe('the sixteen faults with breakers, short profile', () => suite(SCENARIOS.filter((s) => s.breakers)));
