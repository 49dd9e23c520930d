/**
 * Prompt templates over HTTP: `/v1/templates` (members read, admins write their tenant's,
 * operators the operator-wide ones with `scope: "global"`), `POST /v1/operations/respond` (render
 * a template and route it as a chat request), and chat's `switchyard.template` (`templateChatBody`).
 * A template rendered for a request is on its record: the body stored is the rendered chat
 * request, and the request row names the template version.
 */
import type { Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import {
  deleteTemplate,
  getVersion,
  insertTemplateVersion,
  labelsOfMany,
  listLabels,
  listLatest,
  listVersions,
  setLabel,
  templateExists,
  type LabelRow,
  type TemplateRow,
  type TemplateScope,
} from '../../db/templates';
import { ChatCompletionRequestSchema, type ChatCompletionRequest } from '../../domain/chat';
import { SwitchyardRequestExtensionSchema } from '../../domain/requestExtension';
import { openaiStreamWriter } from '../../domain/stream';
import { answerAs } from '../../domain/storedAnswer';
import {
  checkTemplateMessages,
  MAX_VARIABLES_SCHEMA_CHARS,
  TemplateDefaultsSchema,
  TemplateLabelSchema,
  TemplateMessageSchema,
  TemplateNameSchema,
  TemplateRefSchema,
  TemplateVersionSchema,
  type TemplateDefaults,
} from '../../domain/templates';
import { compileSchema } from '../../services/jsonSchema';
import { renderTemplate as render, resolveScope, TemplateError, type RenderedTemplate } from '../../services/templates';
import { actorOf, authOf, hasRole } from '../auth';
import { fromZodError, HttpError } from '../errors';
import type { PathDeps } from '../requestPath/run';
import { ADMIN_ERRORS, ROUTED_ERRORS, routeSpecs, type RouteSpec } from '../routeSpec';
import type { HeaderSource } from '../context';
import { chatRouteInput, runRoute, switchyardExtension } from '../runRoute';
import { streamRoute } from '../streaming';
import { readBody, validate } from '../validate';

/** `renderTemplate` of the service, its problems as the API's errors. */
export async function renderTemplate(...args: Parameters<typeof render>): Promise<RenderedTemplate> {
  try {
    return await render(...args);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const opts = { param: err.param, code: err.code };
    throw err.status === 404 ? HttpError.notFound(err.message, opts) : HttpError.invalid(err.message, opts);
  }
}

const ScopeSchema = z.enum(['tenant', 'global']);

const CreateTemplateSchema = z
  .object({
    name: TemplateNameSchema,
    /** `global`: an operator-wide template every tenant may use (operators only). */
    scope: ScopeSchema.default('tenant'),
    description: z.string().max(2_000).optional(),
    messages: z.array(TemplateMessageSchema).min(1, 'messages must contain at least one message').max(100),
    /** The variables' JSON Schema (default: any object). */
    variables: z
      .record(z.string(), z.unknown())
      .refine(
        (s) => JSON.stringify(s).length <= MAX_VARIABLES_SCHEMA_CHARS,
        `at most ${MAX_VARIABLES_SCHEMA_CHARS} characters of JSON`,
      )
      .default({ type: 'object' }),
    defaults: TemplateDefaultsSchema.default({}),
  })
  .strict();

const ScopeQuery = z.object({ scope: ScopeSchema.optional() }).strict();
const LabelBodySchema = z.object({ version: TemplateVersionSchema }).strict();

/** The scope a write names: the caller's tenant, or the operator-wide one (operators only). */
function writeScope(req: Request, scope: 'tenant' | 'global' | undefined): TemplateScope {
  const auth = authOf(req);
  if (scope !== 'global') return auth.tenantId;
  if (!hasRole(auth, 'operator'))
    throw HttpError.forbidden('Global templates are written by operators; an admin writes its own tenant’s.', {
      param: 'scope',
      code: 'operator_required',
    });
  return null;
}

const scopeName = (scope: TemplateScope) => (scope === null ? 'global' : 'tenant');

function versionJson(row: TemplateRow) {
  return {
    object: 'template.version',
    id: row.id,
    name: row.name,
    scope: scopeName(row.tenant_id),
    version: row.version,
    description: row.description,
    messages: row.messages,
    variables: row.variables_schema,
    defaults: row.defaults,
    created_at: row.created_at,
    created_by: row.created_by,
    deleted_at: row.deleted_at,
  };
}

const labelsJson = (labels: LabelRow[]) => Object.fromEntries(labels.map((l) => [l.label, l.version]));

function notFound(name: string): HttpError {
  return HttpError.notFound(`No template named '${name}'.`, { param: 'name', code: 'template_not_found' });
}

/** The scope a read of `name` finds: the one asked for, or the tenant's own, else the global one. */
async function readScope(db: Db, req: Request, name: string): Promise<TemplateScope> {
  const { scope } = validate(ScopeQuery, req.query);
  const { tenantId } = authOf(req);
  if (scope !== undefined) {
    const asked = scope === 'global' ? null : tenantId;
    if (!(await templateExists(db, asked, name))) throw notFound(name);
    return asked;
  }
  const found = await resolveScope(db, tenantId, name);
  if (!found) throw notFound(name);
  return found.scope;
}

/** The scope a write of an existing `name` acts on (`?scope=`, default the tenant's). */
async function existingWriteScope(db: Db, req: Request, name: string): Promise<TemplateScope> {
  const { scope } = validate(ScopeQuery, req.query);
  const target = writeScope(req, scope);
  if (!(await templateExists(db, target, name))) throw notFound(name);
  return target;
}

const nameParam = (req: Request) => validate(z.object({ name: TemplateNameSchema }), { name: req.params.name }).name;

export const templateRoutes = routeSpecs<{ db: Db }>([
  {
    method: 'post',
    path: '/v1/templates',
    summary: 'Create a template, or its next version (versions are immutable)',
    tag: 'templates',
    role: 'admin',
    body: CreateTemplateSchema,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const body = readBody(req, CreateTemplateSchema);
      const scope = writeScope(req, body.scope);
      const bad = checkTemplateMessages(body.messages);
      if (bad) throw HttpError.invalid(`${bad.path}: ${bad.message}`, { param: bad.path, code: 'invalid_template' });
      const compiled = compileSchema(body.variables);
      if (typeof compiled === 'string')
        throw HttpError.invalid(`Invalid JSON Schema: ${compiled}`, {
          param: 'variables',
          code: 'invalid_json_schema',
        });
      const actor = actorOf(req);
      const row = await insertTemplateVersion(deps.db, {
        scope,
        name: body.name,
        description: body.description,
        messages: body.messages,
        variablesSchema: body.variables,
        defaults: body.defaults,
        createdBy: actor.keyId,
      });
      await recordAudit(deps.db, {
        actor,
        ...(scope !== null && { tenantId: scope }),
        action: 'template.create',
        target: `${body.name}@${row.version}`,
        after: { id: row.id, name: row.name, version: row.version, scope: scopeName(scope) },
      });
      res.status(201).json(versionJson(row));
    },
  },
  {
    method: 'get',
    path: '/v1/templates',
    summary: "The templates a tenant may use (its own and the global ones), each's latest version",
    tag: 'templates',
    role: 'member',
    errors: [401],
    handle: async (deps, req, res) => {
      const { tenantId } = authOf(req);
      const rows = await listLatest(deps.db, tenantId);
      const labels = await labelsOfMany(
        deps.db,
        tenantId,
        rows.map((r) => r.name),
      );
      const data = rows.map((r) => ({
        object: 'template',
        name: r.name,
        scope: scopeName(r.tenant_id),
        latest_version: r.version,
        description: r.description,
        labels: labelsJson(labels.get(`${r.tenant_id ?? ''}\u0000${r.name}`) ?? []),
        updated_at: r.created_at,
      }));
      res.json({ object: 'list', data });
    },
  },
  {
    method: 'get',
    path: '/v1/templates/:name',
    summary: 'A template: its latest version, its versions and its labels (the tenant’s own before a global one)',
    tag: 'templates',
    role: 'member',
    query: ScopeQuery,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const name = nameParam(req);
      const scope = await readScope(deps.db, req, name);
      const versions = await listVersions(deps.db, scope, name);
      const latest = versions.at(-1)!;
      res.json({
        object: 'template',
        name,
        scope: scopeName(scope),
        latest: versionJson(latest),
        versions: versions.map((v) => ({
          version: v.version,
          id: v.id,
          description: v.description,
          created_at: v.created_at,
          created_by: v.created_by,
        })),
        labels: labelsJson(await listLabels(deps.db, scope, name)),
      });
    },
  },
  {
    method: 'get',
    path: '/v1/templates/:name/versions/:version',
    summary: 'One version of a template (a deleted template’s too: request records name them)',
    tag: 'templates',
    role: 'member',
    query: ScopeQuery,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const name = nameParam(req);
      const version = validate(z.coerce.number().pipe(TemplateVersionSchema), req.params.version);
      const { scope } = validate(ScopeQuery, req.query);
      const { tenantId } = authOf(req);
      // The tenant's own version first, then the global one (deleted or not: a record may name either).
      const scopes: TemplateScope[] = scope === 'global' ? [null] : scope === 'tenant' ? [tenantId] : [tenantId, null];
      for (const s of scopes) {
        const row = await getVersion(deps.db, s, name, version);
        if (row) {
          res.json(versionJson(row));
          return;
        }
      }
      throw HttpError.notFound(`Template '${name}' has no version ${version}.`, {
        param: 'version',
        code: 'template_version_not_found',
      });
    },
  },
  {
    method: 'put',
    path: '/v1/templates/:name/labels/:label',
    summary: 'Point a label (e.g. `production`) at a version of a template (audited)',
    tag: 'templates',
    role: 'admin',
    query: ScopeQuery,
    body: LabelBodySchema,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const name = nameParam(req);
      const label = validate(z.object({ label: TemplateLabelSchema }), { label: req.params.label }).label;
      const { version } = readBody(req, LabelBodySchema);
      const scope = await existingWriteScope(deps.db, req, name);
      const row = await getVersion(deps.db, scope, name, version);
      if (!row || row.deleted_at !== null)
        throw HttpError.notFound(`Template '${name}' has no version ${version}.`, {
          param: 'version',
          code: 'template_version_not_found',
        });
      const actor = actorOf(req);
      const before = await setLabel(deps.db, { scope, name, label, version, updatedBy: actor.keyId });
      await recordAudit(deps.db, {
        actor,
        ...(scope !== null && { tenantId: scope }),
        action: 'template.label',
        target: `${name}:${label}`,
        before: before === undefined ? undefined : { version: before },
        after: { version },
      });
      res.json({
        object: 'template.label',
        name,
        scope: scopeName(scope),
        label,
        version,
        previous_version: before ?? null,
      });
    },
  },
  {
    method: 'delete',
    path: '/v1/templates/:name',
    summary: 'Delete a template: hidden from lists and renders; its versions are kept for request records',
    tag: 'templates',
    role: 'admin',
    query: ScopeQuery,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const name = nameParam(req);
      const scope = await existingWriteScope(deps.db, req, name);
      const labels = await listLabels(deps.db, scope, name);
      const hidden = await deleteTemplate(deps.db, scope, name);
      await recordAudit(deps.db, {
        actor: actorOf(req),
        ...(scope !== null && { tenantId: scope }),
        action: 'template.delete',
        target: name,
        before: { versions: hidden, labels: labelsJson(labels) },
      });
      res.json({ object: 'template.deleted', name, scope: scopeName(scope), deleted: true, versions_hidden: hidden });
    },
  },
]);

/** Model attributes from the template where the request sets none (`model` is each caller's own rule). */
function withTemplateDefaults<T extends Record<string, unknown>>(body: T, defaults: TemplateDefaults): T {
  const out: Record<string, unknown> = { ...body };
  for (const [key, value] of Object.entries(defaults)) {
    if (key !== 'model' && (out[key] === undefined || out[key] === null)) out[key] = value;
  }
  return out as T;
}

const requestTemplate = (r: RenderedTemplate) => ({
  id: r.template.id,
  name: r.template.name,
  version: r.template.version,
});

const RespondBodySchema = z
  .object({
    /** The template's name (the tenant's own, else the global one). */
    template: TemplateNameSchema,
    version: TemplateVersionSchema.optional(),
    /** Absent with no version: the `production` label's version, else the latest. */
    label: TemplateLabelSchema.optional(),
    variables: z.record(z.string(), z.unknown()).default({}),
    /** Default: the template's `defaults.model`, else `auto`. */
    model: z.string().min(1).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().positive().optional(),
    top_p: z.number().min(0).max(1).optional(),
    user: z.string().max(256).optional(),
    metadata: z.record(z.string().max(64), z.string().max(512)).optional(),
    switchyard: SwitchyardRequestExtensionSchema.optional(),
    /** Server-sent `chat.completion.chunk`s, as chat completions stream. */
    stream: z.boolean().optional(),
  })
  .strict()
  .refine((b) => b.version === undefined || b.label === undefined, {
    message: 'name a version or a label, not both',
    path: ['label'],
  });

/** The rendered chat request, checked as chat's own body is (the record stores exactly this). */
function renderedChat(body: Record<string, unknown>): ChatCompletionRequest {
  const parsed = ChatCompletionRequestSchema.safeParse(body);
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

export type RespondBody = z.output<typeof RespondBodySchema>;
export { RespondBodySchema };

/**
 * A respond request as the chat request it routes: the template rendered, its defaults applied, and
 * the route (HTTP's `POST /v1/operations/respond` and gRPC's `respond` alike).
 */
export async function respondChat(
  deps: { db: Db },
  headers: HeaderSource,
  tenantId: string,
  body: RespondBody,
  paramPrefix = '',
) {
  const rendered = await renderTemplate(
    deps.db,
    tenantId,
    { name: body.template, version: body.version, label: body.label, variables: body.variables },
    { prefix: paramPrefix, nameField: 'template' },
  );
  const chat = renderedChat(
    withTemplateDefaults(
      {
        model: body.model ?? rendered.defaults.model ?? 'auto',
        messages: rendered.messages,
        ...(body.temperature !== undefined && { temperature: body.temperature }),
        ...(body.max_tokens !== undefined && { max_tokens: body.max_tokens }),
        ...(body.top_p !== undefined && { top_p: body.top_p }),
        ...(body.user !== undefined && { user: body.user }),
        ...(body.metadata !== undefined && { metadata: body.metadata }),
        ...(body.switchyard !== undefined && { switchyard: body.switchyard }),
        ...(body.stream && { stream: true }),
      },
      rendered.defaults,
    ),
  );
  return { chat, route: chatRouteInput(headers, tenantId, chat), template: requestTemplate(rendered), rendered };
}

const respondRoute: RouteSpec<PathDeps> = {
  method: 'post',
  path: '/v1/operations/respond',
  summary: 'Render a prompt template with variables and route it as a chat request',
  tag: 'routing',
  role: 'member',
  body: RespondBodySchema,
  errors: ROUTED_ERRORS,
  handle: async (deps, req, res) => {
    const { tenantId } = authOf(req);
    const { chat, route, template, rendered } = await respondChat(
      deps,
      req,
      tenantId,
      readBody(req, RespondBodySchema),
    );
    if (chat.stream) {
      await streamRoute(deps, req, res, { tenantId, body: chat, route, template }, (sub) =>
        openaiStreamWriter({
          id: `chatcmpl-${sub.requestId}`,
          created: Math.floor(Date.now() / 1000),
          includeUsage: true,
        }),
      );
      return;
    }
    const outcome = await runRoute(deps, req, res, { tenantId, body: chat, route, template });
    const answer = answerAs(outcome.answer, 'chat');
    res.json({
      id: outcome.requestId,
      object: 'operation.respond',
      operation: 'respond',
      model: outcome.modelId,
      template: { name: template.name, version: template.version, scope: rendered.template.scope },
      result: { text: answer.content ?? '' },
      usage: { input_tokens: outcome.inputTokens, output_tokens: outcome.outputTokens },
      switchyard: switchyardExtension(outcome),
    });
  },
};

export const respondRoutes = routeSpecs([respondRoute]);

/** Whether a chat body names a template (`switchyard.template`). */
export function namesTemplate(raw: unknown): boolean {
  const ext = (raw as { switchyard?: unknown } | null)?.switchyard;
  return ext !== null && typeof ext === 'object' && 'template' in ext;
}

/** Chat's `switchyard` extension with a template named: a template reference, as respond's. */
const ChatTemplateRefSchema = TemplateRefSchema;

/**
 * Chat completions as documented: `messages` may be empty when `switchyard.template` names a
 * template (its rendered messages come first, the request's after them).
 */
export const ChatCompletionWireSchema = ChatCompletionRequestSchema.safeExtend({
  messages: ChatCompletionRequestSchema.shape.messages.element.array(),
  switchyard: SwitchyardRequestExtensionSchema.extend({ template: ChatTemplateRefSchema.optional() }).optional(),
});

/**
 * A chat body that names a template, rendered: the template's messages, then the body's own;
 * the template's defaults where the body sets none (its `model` is the body's, as chat requires
 * one); `switchyard.template` dropped, so the stored body is a plain chat request.
 */
export async function templateChatBody(
  db: Db,
  tenantId: string,
  raw: unknown,
): Promise<{ body: ChatCompletionRequest; template: { id: string; name: string; version: number } }> {
  const wire = validate(ChatCompletionWireSchema, raw);
  const { template: ref, ...ext } = wire.switchyard!;
  const rendered = await renderTemplate(db, tenantId, ref!, { prefix: 'switchyard.template.', nameField: 'name' });
  const body = renderedChat(
    withTemplateDefaults(
      {
        ...wire,
        messages: [...rendered.messages, ...wire.messages],
        switchyard: Object.keys(ext).length > 0 ? ext : undefined,
      },
      rendered.defaults,
    ),
  );
  if (body.switchyard === undefined) delete body.switchyard;
  return { body, template: requestTemplate(rendered) };
}
