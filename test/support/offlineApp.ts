/**
 * The API alone, over HTTP, with Temporal unreachable (nothing listens on port 1): for tests of
 * what the API answers when a dependency is down. Its connection closes safely while a failed
 * call waits to be retried (`connectClosable`).
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import pino from 'pino';
import { createApp, type ApiDeps } from '../../src/api/app';
import type { Db } from '../../src/db';
import { defaultCatalog } from '../../src/domain/catalog';
import { connectClosable } from '../../src/temporal/closableConnection';
import { testConfigStore } from './config';

export interface OfflineApp {
  /** `http://127.0.0.1:<port>` (no `/v1`). */
  base: string;
  stop(): Promise<void>;
}

/** `extra`: more of the app's dependencies (the Temporal UI it links to, say). */
export async function startOfflineApp(db: Db, configDb: Db = db, extra: Partial<ApiDeps> = {}): Promise<OfflineApp> {
  const closable = await connectClosable({ address: '127.0.0.1:1', connectTimeout: 200 }, { lazy: true });
  const app = createApp({
    db,
    client: new Client({ connection: closable.connection }),
    taskQueue: 'none',
    requestTimeoutMs: 5_000,
    configStore: await testConfigStore(configDb, { catalog: defaultCatalog({ simulated: true }) }),
    logger: pino({ level: 'silent' }),
    ...extra,
  });
  const server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      await new Promise((r) => server.close(r));
      await closable.close();
    },
  };
}
