/**
 * The failover scorecard: the sixteen provider faults of issue 29 (test/support/faults.ts) run
 * against an in-process Switchyard (Temporal dev server, real workers and API, fake providers of
 * both wire formats) on the full time profile: the shipped retry policy and stream limits, and
 * the waits the issue names (Retry-After 2 s, a first token at 20 s, a primary down for 60 s).
 * Prints each scenario's grade (pass / partial / safe / fail) with what the caller got and what
 * the providers saw, then the totals. Takes several minutes (S06, S07, S09 wait out the limits).
 *
 *   npm run bench:failover                 (PGlite; DATABASE_URL=… for PostgreSQL)
 *   PROFILE=short npm run bench:failover   (the waits `npm test` uses)
 *   ONLY=S01,S15 npm run bench:failover
 */
import os from 'node:os';
import { installRuntime } from '../src/start/worker';
import {
  FULL,
  SHORT,
  SCENARIOS,
  faultStackOptions,
  runScenario,
  type Grade,
  type Verdict,
} from '../test/support/faults';
import { startTestStack } from '../test/support/stack';

async function main(): Promise<void> {
  installRuntime('ERROR');
  const profile = process.env.PROFILE === 'short' ? SHORT : FULL;
  const only = process.env.ONLY?.split(',').map((s) => s.trim().toUpperCase());
  const chosen = SCENARIOS.filter((s) => !only || only.includes(s.id));
  const verdicts: Verdict[] = [];
  // One stack without breakers for all but S15, one with them for S15 (see faultStackOptions).
  for (const breakers of [false, true]) {
    const group = chosen.filter((s) => !!s.breakers === breakers);
    if (!group.length) continue;
    const stack = await startTestStack(faultStackOptions(profile, breakers));
    try {
      for (const s of group) {
        const started = Date.now();
        let v: Verdict;
        try {
          v = await runScenario(s, stack, profile);
        } catch (err) {
          v = { id: s.id, grade: 'fail', observed: `the scenario threw: ${String(err)}`, unmet: [] };
        }
        verdicts.push(v);
        process.stderr.write(`${s.id} ${v.grade} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      }
    } finally {
      await stack.stop();
    }
  }
  verdicts.sort((a, b) => a.id.localeCompare(b.id));
  const title = new Map(SCENARIOS.map((s) => [s.id, s.title]));
  const count = (g: Grade) => verdicts.filter((v) => v.grade === g).length;
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    `failover scorecard, ${profile.name} profile: node ${process.version}, ${os.cpus().length} cores, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${new Date().toISOString()}`,
    '',
    '| fault | grade | what the caller got; what the providers saw | unmet for a pass |',
    '| --- | --- | --- | --- |',
    ...verdicts.map(
      (v) =>
        `| ${v.id} ${cell(title.get(v.id) ?? '')} | **${v.grade}** | ${cell(v.observed)} | ${cell(v.unmet.join('; '))} |`,
    ),
    '',
    `**${count('pass')} pass, ${count('partial')} partial, ${count('safe')} safe, ${count('fail')} fail**`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
