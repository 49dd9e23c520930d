/**
 * The gRPC API with Temporal unreachable (nothing listens on port 1), as test/api/outage.test.ts
 * does for HTTP: validation still answers (INVALID_ARGUMENT), an outage is a retryable UNAVAILABLE
 * naming Temporal with the stored request's id (never INTERNAL), and health says NOT_SERVING.
 */
import { status } from '@grpc/grpc-js';
import { Client } from '@temporalio/client';
import pino from 'pino';
import type { Db } from '../../src/db';
import { upsertApiKey } from '../../src/db/apiKeys';
import { defaultCatalog } from '../../src/domain/catalog';
import { startGrpcServer, type GrpcServer } from '../../src/grpc/server';
import { connectClosable } from '../../src/temporal/closableConnection';
import { testConfigStore } from '../support/config';
import { openTestDb, uniqueId } from '../support/db';
import { grpcClients, keyMetadata, mdValue, unary, type GrpcClients } from '../support/grpcClient';

let db: Db;
let server: GrpcServer;
let c: GrpcClients;
let closeTemporal: () => Promise<void>;
const key = `sk-sy-${uniqueId('outage')}`;

beforeAll(async () => {
  db = await openTestDb();
  await upsertApiKey(db, uniqueId('tenant'), key, 'test');
  const closable = await connectClosable({ address: '127.0.0.1:1', connectTimeout: 200 }, { lazy: true });
  closeTemporal = closable.close;
  server = await startGrpcServer(
    {
      db,
      client: new Client({ connection: closable.connection }),
      taskQueue: 'none',
      requestTimeoutMs: 5_000,
      configStore: await testConfigStore(db, { catalog: defaultCatalog({ simulated: true }) }),
      logger: pino({ level: 'silent' }),
    },
    { port: 0, host: '127.0.0.1' },
  );
  c = grpcClients(`127.0.0.1:${server.port}`);
});

afterAll(async () => {
  c?.close();
  await server?.stop();
  await closeTemporal?.();
  await db?.close();
});

const chat = (content: string, more: Record<string, unknown> = {}) => ({
  chat: { model: 'auto', messages: [{ role: 'user', content }], ...more },
});

it('validates without Temporal: INVALID_ARGUMENT naming the field', async () => {
  const res = await unary(c.switchyard, 'ProcessRequest', chat('hi', { temperature: 7 }), keyMetadata(key));
  expect(!res.ok && [res.error.code, mdValue(res.error.metadata, 'switchyard-error-param')]).toEqual([
    status.INVALID_ARGUMENT,
    'chat.temperature',
  ]);
});

it('turns a Temporal outage into UNAVAILABLE, with the stored request to retry with the same key', async () => {
  const res = await unary(
    c.switchyard,
    'ProcessRequest',
    chat('hi'),
    keyMetadata(key, { 'idempotency-key': 'outage-1' }),
  );
  if (res.ok) throw new Error('answered');
  expect(res.error.code).toBe(status.UNAVAILABLE);
  expect(res.error.details).toMatch(/Temporal is unavailable/);
  expect(mdValue(res.error.metadata, 'switchyard-error-code')).toBe('service_unavailable');
  expect(mdValue(res.error.metadata, 'x-switchyard-request-id')).toMatch(/^idem-/);
  const body = JSON.parse(String(res.error.metadata.get('switchyard-error-bin')[0])) as { request_id: string };
  expect(body.request_id).toBe(mdValue(res.error.metadata, 'x-switchyard-request-id'));
});

it('health says NOT_SERVING while Temporal is unreachable', async () => {
  const s = await new Promise<string>((resolve, reject) =>
    c.health.Check({ service: '' }, (err: Error | null, r: { status: string }) =>
      err ? reject(err) : resolve(r.status),
    ),
  );
  expect(s).toBe('NOT_SERVING');
});
