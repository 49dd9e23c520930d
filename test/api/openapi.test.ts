/**
 * `/openapi.json`: generated from the zod schemas, it validates as OpenAPI 3.1 (a validator
 * library, not our own reading) and lists every route the Express app serves, and no other;
 * `/docs` renders it with Swagger UI served from the package.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from '../../src/api/app';
import { openApiPath } from '../../src/api/openapi';
import { Metrics } from '../../src/services/metrics';

// The app as every process builds it; these routes touch neither the database nor Temporal.
const app = createApp({
  db: {} as never,
  client: {} as never,
  taskQueue: 'openapi-test',
  requestTimeoutMs: 1_000,
  configStore: { current: () => ({ config: { tenants: {} } }) } as never,
  logger: pino({ level: 'silent' }),
  metrics: new Metrics(),
});
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

/** Every `METHOD /path` the Express app routes (nested routers included). */
function expressRoutes(): string[] {
  const out: string[] = [];
  const walk = (stack: any[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths: string[] = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const m of Object.keys(layer.route.methods))
          for (const p of paths) out.push(`${m.toUpperCase()} ${openApiPath(p)}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as any).router.stack);
  return out;
}

it('validates as OpenAPI 3.1', async () => {
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; info: unknown };
  expect(doc.openapi).toBe('3.1.0');
  const { Validator } = (await new Function('s', 'return import(s)')('@seriousme/openapi-schema-validator')) as {
    Validator: new () => { validate(d: unknown): Promise<{ valid: boolean; errors?: unknown }>; version: string };
  };
  const validator = new Validator();
  const res = await validator.validate(doc);
  expect(res.errors).toBeUndefined();
  expect(res.valid).toBe(true);
  expect(validator.version).toBe('3.1');
  // The validator does judge: a document without its required parts fails.
  expect((await new Validator().validate({ openapi: '3.1.0', info: doc.info, paths: { x: 1 } })).valid).toBe(false);
});

it('lists every route the app serves, and only those, each with its errors', async () => {
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  };
  const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
  );
  const served = expressRoutes();
  expect(served.length).toBeGreaterThan(60);
  expect([...documented].sort()).toEqual([...new Set(served)].sort());
  // Routed endpoints say how they fail, in OpenAI's error shape.
  const chat = doc.paths['/v1/chat/completions']!.post!;
  expect(Object.keys(chat.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '429', '503']));
  expect(JSON.stringify(chat)).toContain('"requestBody"');
  // A batch's results before it has finished: a documented 202 with a JSON body, beside the JSONL 200.
  const results = doc.paths['/v1/operations/{operation}/batches/{id}/results']!.get!;
  expect(Object.keys(results.responses)).toEqual(expect.arrayContaining(['200', '202', '404']));
  expect(Object.keys((results.responses['202'] as { content: object }).content)).toEqual(['application/json']);
});

it('documents the request bodies from the zod schemas the handlers validate with', async () => {
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as any;
  const schema = doc.paths['/v1/chat/completions'].post.requestBody.content['application/json'].schema;
  const resolved = schema.$ref ? doc.components.schemas[schema.$ref.split('/').at(-1)] : schema;
  expect(resolved.required).toEqual(expect.arrayContaining(['model', 'messages']));
  expect(Object.keys(resolved.properties)).toEqual(expect.arrayContaining(['stream', 'stream_options', 'tools']));
});

it('serves the docs page with its assets', async () => {
  const page = await fetch(`${base}/docs`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("url: '/openapi.json'");
  const bundle = await fetch(`${base}/docs/assets/swagger-ui-bundle.js`);
  expect(bundle.status).toBe(200);
  expect((await bundle.text()).length).toBeGreaterThan(100_000);
});
