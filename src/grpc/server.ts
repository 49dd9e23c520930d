/**
 * The gRPC API (proto/switchyard/v1/switchyard.proto, loaded at run time: the proto is the source
 * of truth), served by the API process next to HTTP on SWITCHYARD_GRPC_PORT. Each call goes the
 * HTTP path's way, with no HTTP in it: the same keys (`authorization` metadata), rate and
 * concurrency limits (the same LimitStore), admission, validation schemas, `runRequest` and
 * stream relay, record and tenancy. `idempotency-key` and `x-switchyard-*` metadata are read as
 * the headers of those names; the call's deadline is the request's. Also served: grpc.health.v1
 * (SERVING while /readyz would answer ready) and server reflection.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { z } from 'zod';
import type { ApiDeps } from '../api/app';
import { limitsOf } from '../api/app';
import { apiKeyOf, keyAuthenticator, MISSING_KEY, type AuthContext } from '../api/auth';
import type { HeaderSource } from '../api/context';
import { routeContext, waitForRecovery } from '../api/context';
import { HttpError } from '../api/errors';
import type { Headers, PathRequest, RouteInput } from '../api/requestPath/outcome';
import { switchyardExtension } from '../api/requestPath/outcome';
import { runRequest } from '../api/requestPath/run';
import { checkResponseFormat } from '../api/routes/chat';
import { respondChat, RespondBodySchema, type RespondBody } from '../api/routes/templates';
import { requestRecord } from '../api/routes/requests';
import { cacheDirective, chatRouteInput } from '../api/runRoute';
import { streamRequest } from '../api/streaming';
import { validate } from '../api/validate';
import { ChatCompletionRequestSchema } from '../domain/chat';
import { OperationBodySchemas, resultOnWire, type OperationBody, type OperationName } from '../domain/operations';
import { answerAs, isEmbeddings } from '../domain/storedAnswer';
import { dependencyHealth } from '../services/dependencyHealth';
import { GrpcStreamSink, grpcStreamWriter } from './stream';
import { fromStruct, toList, toStruct, type ProtoStruct } from './struct';
import { isInternal, toGrpcError } from './status';

export const PROTO_DIR = path.resolve(__dirname, '../../proto');
export const PROTO_FILE = 'switchyard/v1/switchyard.proto';
export const SERVICE_NAME = 'switchyard.v1.Switchyard';

/** How both ends read the proto: field names as written, enums as names, absent fields left out. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export const loadSwitchyardProto = () => protoLoader.loadSync(path.join(PROTO_DIR, PROTO_FILE), LOADER_OPTIONS);

// What the proto decodes to (keepCase, defaults: false: an unset field is absent). Narrow on
// purpose: every body built from it is validated by the HTTP path's zod schemas.
interface ChatRequestMsg {
  model?: string;
  messages?: Array<{ role?: string; content?: string; name?: string }>;
  temperature?: number;
  max_tokens?: number;
  user?: string;
  metadata?: Record<string, string>;
  models?: string[];
  extra?: ProtoStruct;
}
interface OperationRequestMsg {
  model?: string;
  text?: string;
  options?: ProtoStruct;
}
interface RespondRequestMsg {
  template?: string;
  version?: number;
  label?: string;
  variables?: ProtoStruct;
  model?: string;
}

interface ProcessRequestMsg {
  operation?: string;
  chat?: ChatRequestMsg;
  respond?: RespondRequestMsg;
  intent?: OperationRequestMsg;
  sentiment?: OperationRequestMsg;
  entities?: OperationRequestMsg;
  summarize?: OperationRequestMsg;
  embed?: OperationRequestMsg;
}

export interface GrpcOptions {
  port: number;
  host: string;
  /** How often the health service re-reads readiness (default 5 s). */
  healthIntervalMs?: number;
}

export interface GrpcServer {
  port: number;
  /** Re-reads readiness now (the health service's status). */
  refreshHealth(): Promise<void>;
  stop(): Promise<void>;
}

/** A call's metadata read as HTTP headers (the first value of each name, lower-cased). */
function headersOf(md: grpc.Metadata): HeaderSource {
  return {
    header: (name) => {
      const v = md.get(name.toLowerCase())[0];
      return v === undefined ? undefined : String(v);
    },
  };
}

/** Headers of the path (request id, model, cache…) as metadata: sent before the answer. */
function metadataOf(headers: Headers): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return md;
}

/** The call's deadline as the request's timeout in ms (none: the server's maximum). */
function timeoutOf(call: { getDeadline(): grpc.Deadline }): string | undefined {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(at) ? String(Math.max(0, Math.floor(at - Date.now()))) : undefined;
}

const nonEmpty = (s: string | undefined) => (s === undefined || s === '' ? undefined : s);

/** ChatRequest as the JSON body of POST /v1/chat/completions. */
export function chatBodyOf(m: ChatRequestMsg | undefined): Record<string, unknown> {
  const extra = fromStruct(m?.extra);
  return {
    ...extra,
    ...(nonEmpty(m?.model) !== undefined && { model: m!.model }),
    messages: (m?.messages ?? []).map((msg) => ({
      role: msg.role ?? '',
      content: msg.content ?? '',
      ...(nonEmpty(msg.name) !== undefined && { name: msg.name }),
    })),
    ...(m?.temperature !== undefined && { temperature: m.temperature }),
    ...(m?.max_tokens !== undefined && { max_tokens: m.max_tokens }),
    ...(nonEmpty(m?.user) !== undefined && { user: m!.user }),
    ...(m?.metadata && Object.keys(m.metadata).length > 0 && { metadata: m.metadata }),
    ...(m?.models && m.models.length > 0 && { models: m.models }),
  };
}

/** OperationRequest as the JSON body of POST /v1/operations/<name> (`text` is embed's `input`). */
export function operationBodyOf(operation: OperationName, m: OperationRequestMsg | undefined): Record<string, unknown> {
  return {
    ...fromStruct(m?.options),
    ...(nonEmpty(m?.model) !== undefined && { model: m!.model }),
    ...(nonEmpty(m?.text) !== undefined && { [operation === 'embed' ? 'input' : 'text']: m!.text }),
  };
}

export async function startGrpcServer(deps: ApiDeps, opts: GrpcOptions): Promise<GrpcServer> {
  const packageDefinition = loadSwitchyardProto();
  const proto = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    switchyard: { v1: { Switchyard: grpc.ServiceClientConstructor } };
  };
  const authenticate = keyAuthenticator(deps.db);
  const limits = limitsOf(deps);
  const log = (err: unknown, method: string) => deps.logger.error({ err, method }, 'gRPC call failed');

  /** The caller's key, checked, and its rate limit counted (HTTP's `/v1` middleware, in order). */
  async function authorize(md: HeaderSource): Promise<AuthContext> {
    const key = apiKeyOf((n) => md.header(n));
    if (!key) throw HttpError.unauthenticated(MISSING_KEY, { code: 'missing_api_key' });
    const auth = await authenticate(key);
    await limits.checkRate(auth);
    return auth;
  }

  /** A routed call's slots: the tenant's concurrency, then admission; the release of both. */
  async function admitted(tenantId: string): Promise<{ release: () => void; admissionMs?: number }> {
    const slot = await limits.acquireSlot(tenantId);
    try {
      if (!deps.admission) return { release: () => slot?.() };
      const started = performance.now();
      const admissionRelease = await deps.admission.acquire();
      const waited = performance.now() - started;
      deps.metrics?.admissionWaitSeconds.observe(waited / 1000);
      return {
        release: () => {
          admissionRelease();
          slot?.();
        },
        admissionMs: Math.round(waited),
      };
    } catch (err) {
      slot?.();
      throw err;
    }
  }

  function logCall(
    method: string,
    auth: AuthContext | undefined,
    code: grpc.status,
    started: number,
    headers?: Headers,
  ) {
    deps.logger.info(
      {
        grpc: method,
        code: grpc.status[code],
        ms: Math.round(performance.now() - started),
        tenant: auth?.tenantId,
        ...(headers?.['x-switchyard-request-id'] && { requestId: headers['x-switchyard-request-id'] }),
        ...(headers?.['x-switchyard-model'] && { model: headers['x-switchyard-model'] }),
      },
      'request',
    );
  }

  function failed(method: string, err: unknown) {
    if (isInternal(err)) log(err, method);
    return toGrpcError(err);
  }

  /** A routed request's body, validated, and its route: chat or an operation. */
  async function routedOf(
    req: ProcessRequestMsg,
    md: HeaderSource,
    tenantId: string,
  ): Promise<{ operation: string; body: unknown; route: RouteInput; template?: PathRequest['template'] }> {
    const operation = req.operation;
    if (operation === 'chat') {
      let body: z.infer<typeof ChatCompletionRequestSchema>;
      try {
        body = validate(ChatCompletionRequestSchema, chatBodyOf(req.chat));
      } catch (err) {
        throw prefixParam(err, 'chat');
      }
      if (body.stream)
        throw HttpError.invalid('ProcessRequest answers whole: use StreamChat for a streamed answer.', {
          param: 'chat.extra.stream',
          code: 'invalid_value',
        });
      checkResponseFormat(body);
      return { operation, body, route: chatRouteInput(md, tenantId, body) };
    }
    if (operation === 'respond') {
      // A template rendered, then routed as chat (as POST /v1/operations/respond does).
      const m = req.respond ?? {};
      let body: RespondBody;
      try {
        body = validate(RespondBodySchema, {
          template: m.template,
          ...(m.version !== undefined && { version: m.version }),
          ...(m.label !== undefined && { label: m.label }),
          variables: fromStruct(m.variables),
          ...(m.model && { model: m.model }),
        });
      } catch (err) {
        throw prefixParam(err, 'respond');
      }
      const { chat, route, template } = await respondChat(deps, md, tenantId, body, 'respond.');
      return { operation, body: chat, route, template };
    }
    if (operation === undefined)
      throw HttpError.invalid(
        'ProcessRequest needs one operation: chat, intent, sentiment, entities, summarize, embed or respond.',
        {
          param: 'operation',
          code: 'invalid_value',
        },
      );
    const name = operation as OperationName;
    const schema = OperationBodySchemas[name] as z.ZodType<OperationBody<OperationName>> | undefined;
    if (!schema)
      throw HttpError.invalid(`Unknown operation '${operation}'.`, { param: 'operation', code: 'invalid_value' });
    // A field path names the request's field: `sentiment.text`, not the body's `text`.
    let body: OperationBody<OperationName>;
    try {
      body = validate(schema, operationBodyOf(name, req[name as keyof ProcessRequestMsg] as OperationRequestMsg));
    } catch (err) {
      throw prefixParam(err, name);
    }
    return {
      operation,
      body,
      route: {
        operation: name,
        requestedModel: body.model,
        needsJson: false,
        context: routeContext(md, tenantId, body),
        waitForRecovery: waitForRecovery(md),
      },
    };
  }

  const service: grpc.UntypedServiceImplementation = {
    ProcessRequest: (call: grpc.ServerUnaryCall<ProcessRequestMsg, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const started = performance.now();
      const md = headersOf(call.metadata);
      let auth: AuthContext | undefined;
      let release: (() => void) | undefined;
      void (async () => {
        auth = await authorize(md);
        const { operation, body, route, template } = await routedOf(call.request, md, auth.tenantId);
        const slot = await admitted(auth.tenantId);
        release = slot.release;
        const r: PathRequest = {
          tenantId: auth.tenantId,
          idempotencyKey: md.header('idempotency-key'),
          timeout: md.header('x-switchyard-timeout-ms') ?? timeoutOf(call),
          cache: cacheDirective((n) => md.header(n)),
          body,
          route,
          admissionMs: slot.admissionMs,
          ...(template && { template }),
        };
        const ran = await runRequest(deps, r);
        if ('error' in ran) throw new PathFailure(ran.error, ran.headers);
        const o = ran.outcome;
        call.sendMetadata(metadataOf(ran.headers));
        const answer = o.answer;
        logCall('ProcessRequest', auth, grpc.status.OK, started, ran.headers);
        callback(null, {
          request_id: o.requestId,
          operation,
          model: o.modelId,
          provider: o.provider,
          usage: { input_tokens: o.inputTokens, output_tokens: o.outputTokens },
          ...(operation === 'chat' || operation === 'respond'
            ? {
                chat: {
                  content: answerAs(answer, 'chat').content ?? '',
                  finish_reason: answerAs(answer, 'chat').finishReason,
                  ...(answerAs(answer, 'chat').toolCalls && {
                    tool_calls: toList(answerAs(answer, 'chat').toolCalls!),
                  }),
                },
              }
            : {
                result: toStruct(
                  isEmbeddings(answer)
                    ? { embeddings: answer.embeddings, dimensions: answer.dimensions }
                    : (resultOnWire(operation as OperationName, answer.result) as Record<string, unknown>),
                ),
              }),
          cache: ran.headers['x-switchyard-cache'] ?? '',
          switchyard: toStruct(JSON.parse(JSON.stringify(switchyardExtension(o))) as Record<string, unknown>),
        });
      })()
        .catch((err: unknown) => {
          // A failure of the path keeps its headers (the request id, when it was stored).
          const failure = err instanceof PathFailure ? err : undefined;
          const e = failed('ProcessRequest', failure ? failure.error : err);
          for (const [k, v] of Object.entries(failure?.headers ?? {}))
            if (!e.metadata.get(k).length) e.metadata.set(k, v);
          logCall('ProcessRequest', auth, e.code, started, failure?.headers);
          callback(e);
        })
        .finally(() => release?.());
    },

    StreamChat: (call: grpc.ServerWritableStream<ChatRequestMsg, unknown>) => {
      const started = performance.now();
      const md = headersOf(call.metadata);
      let auth: AuthContext | undefined;
      let release: (() => void) | undefined;
      const sink = new GrpcStreamSink(call);
      let requestId: string | undefined;
      void (async () => {
        auth = await authorize(md);
        const body = validate(ChatCompletionRequestSchema, { ...chatBodyOf(call.request), stream: true });
        checkResponseFormat(body);
        const route = chatRouteInput(md, auth.tenantId, body);
        const slot = await admitted(auth.tenantId);
        release = slot.release;
        const r: PathRequest = {
          tenantId: auth.tenantId,
          idempotencyKey: md.header('idempotency-key'),
          timeout: md.header('x-switchyard-timeout-ms') ?? timeoutOf(call),
          cache: 'bypass',
          body,
          route,
          admissionMs: slot.admissionMs,
        };
        await streamRequest(
          deps,
          r,
          (onOpen) => sink.opening(onOpen),
          (sub) => grpcStreamWriter(sub.requestId),
          (sub) => {
            requestId = sub.requestId;
            sink.header('x-switchyard-request-id', sub.requestId);
            sink.header('x-switchyard-workflow-id', sub.workflowId);
          },
        );
        logCall('StreamChat', auth, sink.failure?.code ?? grpc.status.OK, started, {
          ...(requestId && { 'x-switchyard-request-id': requestId }),
        });
      })()
        .catch((err: unknown) => {
          const e = failed('StreamChat', err);
          if (requestId && !e.metadata.get('x-switchyard-request-id').length)
            e.metadata.set('x-switchyard-request-id', requestId);
          logCall('StreamChat', auth, e.code, started);
          if (!call.cancelled) call.emit('error', e);
        })
        .finally(() => release?.());
    },

    GetRequest: (call: grpc.ServerUnaryCall<{ id?: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const started = performance.now();
      const md = headersOf(call.metadata);
      let auth: AuthContext | undefined;
      void (async () => {
        auth = await authorize(md);
        const id = call.request.id ?? '';
        if (!id) throw HttpError.invalid("Invalid value for 'id': is required", { param: 'id', code: 'invalid_value' });
        const rec = JSON.parse(JSON.stringify(await requestRecord(deps, auth, id))) as Record<string, unknown> & {
          usage: { input_tokens: number; output_tokens: number } | null;
        };
        logCall('GetRequest', auth, grpc.status.OK, started);
        const str = (k: string) => (typeof rec[k] === 'string' ? (rec[k] as string) : '');
        callback(null, {
          request_id: str('request_id'),
          workflow_id: str('workflow_id'),
          tenant_id: str('tenant_id'),
          status: str('status'),
          operation: str('operation'),
          requested_model: str('requested_model'),
          provider: str('provider'),
          model: str('model'),
          ...(rec.usage && { usage: rec.usage }),
          cost_usd: Number(rec.cost_usd ?? 0),
          record: toStruct(rec),
        });
      })().catch((err: unknown) => {
        const e = failed('GetRequest', err);
        logCall('GetRequest', auth, e.code, started);
        callback(e);
      });
    },
  };

  const server = new grpc.Server();
  server.addService(proto.switchyard.v1.Switchyard.service, service);

  // Health: SERVING while the process is ready as /readyz reads it (database, migrations, Temporal).
  const health = new HealthImplementation({ '': 'UNKNOWN', [SERVICE_NAME]: 'UNKNOWN' });
  health.addToServer(server);
  const ready = dependencyHealth({ db: deps.db, client: deps.client, workers: deps.workers });
  const refreshHealth = async () => {
    const status = (await ready().catch(() => ({ ready: false }))).ready ? 'SERVING' : 'NOT_SERVING';
    health.setStatus('', status);
    health.setStatus(SERVICE_NAME, status);
  };
  await refreshHealth();
  const timer = setInterval(() => void refreshHealth(), opts.healthIntervalMs ?? 5_000);
  timer.unref();

  new ReflectionService(packageDefinition).addToServer(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err
        ? reject(
            /EADDRINUSE|address already in use/i.test(err.message)
              ? new Error(`Port ${opts.port} is already in use: set SWITCHYARD_GRPC_PORT to a free port.`)
              : err,
          )
        : resolve(bound),
    ),
  );

  return {
    port,
    refreshHealth,
    async stop() {
      clearInterval(timer);
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(SERVICE_NAME, 'NOT_SERVING');
      // Calls in flight may finish for a while (the API's own shutdown aborts their waits first);
      // then whatever is left is cut.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

/** The request path's failure, with the headers it had earned (its request id, once stored). */
class PathFailure {
  constructor(
    readonly error: unknown,
    readonly headers: Headers,
  ) {}
}

/** A body's field path as the request's (`text` → `sentiment.text`). */
function prefixParam(err: unknown, prefix: string): unknown {
  if (!(err instanceof HttpError) || !err.param) return err;
  const param = `${prefix}.${err.param}`;
  return new HttpError(err.status, err.type, err.message.replace(`'${err.param}'`, `'${param}'`), {
    param,
    code: err.code,
    extra: err.extra,
    headers: err.headers,
  });
}
