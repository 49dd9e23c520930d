/**
 * Budget reservation throughput for ONE tenant (the contended case: every reservation locks the
 * same window rows): reservations/s and p50/p99 latency at concurrency 1, 16 and 64.
 *   DATABASE_URL=postgres://… npm run bench:reservations   (PGlite when unset)
 */
import { openDb } from '../src/db';
import { reserve } from '../src/db/budgetLedger';
import { migrate } from '../src/db/migrate';
import { applicableWindows } from '../src/domain/budget';

const SECONDS = 5;
// High enough that most of a run grants (the expensive path), low enough that the fast refusal path is reached too.
const LIMIT = 80;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main() {
  const db = await openDb(
    process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : { pgliteDir: 'memory' },
  );
  await migrate(db);
  console.log(
    `database: ${db.kind} (pool of 10 connections for PostgreSQL), node ${process.version}, ${SECONDS} s per row`,
  );
  console.log('| concurrency | reservations/s | granted/s (until the limit) | p50 ms | p99 ms | overspend |');
  console.log('| ---: | ---: | ---: | ---: | ---: | --- |');
  for (const concurrency of [1, 16, 64]) {
    const scope = `tenant:bench-${concurrency}-${Date.now()}`;
    // Daily and monthly windows for the one tenant; the daily limit is reached during the run,
    // so the refusal path is measured too and the no-overspend check means something.
    const windows = (now: number) =>
      applicableWindows([{ scope, limits: { dailyUsd: LIMIT, monthlyUsd: 100_000 } }], now);
    const latencies: number[] = [];
    let granted = 0;
    let seq = 0;
    let limitReachedAt: number | undefined;
    const t0run = performance.now();
    const end = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < end) {
          const id = `${scope}-${seq++}`;
          const t0 = performance.now();
          const r = await reserve(db, {
            id,
            amountUsd: 0.01,
            windows: windows(Date.now()),
            ttlMs: 60_000,
            now: Date.now(),
          });
          latencies.push(performance.now() - t0);
          if (r.ok) granted++;
          else limitReachedAt ??= performance.now();
        }
      }),
    );
    const usage = await db.query<{ period: string; limit_usd: number; reserved_usd: number }>(
      'select period, limit_usd, reserved_usd from budget_windows where scope = $1',
      [scope],
    );
    const overspent = usage.rows.some((w) => w.reserved_usd > w.limit_usd);
    const daily = usage.rows.find((w) => w.period === 'daily')!;
    if (Math.abs(daily.reserved_usd - granted * 0.01) > 1e-9)
      throw new Error(`ledger ${daily.reserved_usd} ≠ ${granted} × 0.01`);
    const grantSeconds = ((limitReachedAt ?? performance.now()) - t0run) / 1000;
    console.log(
      `| ${concurrency} | ${Math.round(latencies.length / SECONDS).toLocaleString('en')} | ${Math.round(granted / grantSeconds).toLocaleString('en')} | ${pct(latencies, 50).toFixed(1)} | ${pct(latencies, 99).toFixed(1)} | ${overspent ? 'YES' : 'none'} (${granted} granted up to the $${LIMIT} limit) |`,
    );
  }
  await db.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
