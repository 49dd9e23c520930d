/**
 * What the benchmarks share: CPU time of a process, and Temporal's floor — workers running the
 * bare workflows of `bench/workflows/bare.ts`, whose one activity calls the fake provider through
 * the official `openai` client.
 */
import fs from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';
import OpenAI from 'openai';
import { ensureBinary, TEMPORAL_CLI } from '../src/temporal/binaries';
import { startDevServer } from '../src/temporal/devServer';
import { freePort } from '../test/support/process';

/** A file-backed dev server (as `npm start` runs it) on free ports, without its UI. */
export async function benchDevServer(dataDir: string) {
  return startDevServer({
    cliPath: ensureBinary(TEMPORAL_CLI),
    dataDir,
    port: await freePort(),
    uiPort: await freePort(),
    ui: false,
    namespace: 'default',
  });
}

export interface BareActivities {
  callProvider(prompt: string): Promise<number>;
}

/** CPU time (user + system) a process has used so far, from /proc (Linux), in ms. */
export function processCpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return NaN;
  }
}

/**
 * Workers for the bare workflows (`bench-bare`) and, for the other-queue variant, their calls
 * (`bench-bare-calls`), on one native connection.
 */
export async function startBareWorkers(address: string, providerUrl: string) {
  const direct = new OpenAI({ apiKey: 'sk-bench', baseURL: providerUrl, maxRetries: 0 });
  const activities: BareActivities = {
    async callProvider(prompt: string): Promise<number> {
      const r = await direct.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: prompt }],
      });
      return r.usage?.total_tokens ?? 0;
    },
  };
  const native = await NativeConnection.connect({ address });
  const workers = [
    await Worker.create({
      connection: native,
      taskQueue: 'bench-bare',
      workflowsPath: require.resolve('./workflows/bare'),
      activities,
    }),
    await Worker.create({ connection: native, taskQueue: 'bench-bare-calls', activities }),
  ];
  const running = Promise.all(workers.map((w) => w.run()));
  return {
    native,
    async stop() {
      for (const w of workers) w.shutdown();
      await running;
      await native.close();
    },
  };
}
