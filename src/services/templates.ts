/**
 * Rendering a stored template for a request, free of HTTP (the REST routes, chat's
 * `switchyard.template` and the gRPC server call it): find the template the tenant sees by that
 * name (its own first, else the operator-wide one), pick the version (given, else the label's,
 * else `production`'s, else the latest), check the variables against its JSON Schema (defaults
 * filled in), and fill its messages. Problems are `TemplateError`s, a status (400, 404) with the
 * parameter's path and a code: the API answers them as `HttpError`s, the gRPC server maps them to
 * its statuses (services may not import the API's errors).
 */
import type { Queryable } from '../db';
import { getLabel, getVersion, listVersions, templateExists, type TemplateScope } from '../db/templates';
import {
  DEFAULT_LABEL,
  renderMessages,
  variablesParam,
  withDefaults,
  type TemplateDefaults,
  type TemplateMessage,
} from '../domain/templates';
import { checkSchema } from './jsonSchema';

/** What is wrong with a render: 400 (the variables, the reference) or 404 (no such template, version, label). */
export class TemplateError extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
    readonly param: string,
    readonly code: string,
  ) {
    super(message);
  }
}

const notFound = (message: string, param: string, code: string) => new TemplateError(404, message, param, code);
const invalid = (message: string, param: string) =>
  new TemplateError(400, message, param, 'invalid_template_variables');

export interface RenderedTemplate {
  messages: TemplateMessage[];
  defaults: TemplateDefaults;
  template: { id: string; name: string; version: number; scope: 'tenant' | 'global' };
}

export interface RenderRef {
  name: string;
  version?: number;
  label?: string;
  variables?: Record<string, unknown>;
}

/** The scope a tenant's lookup of `name` finds: its own template, else the global one, else none. */
export async function resolveScope(
  db: Queryable,
  tenantId: string,
  name: string,
): Promise<{ scope: TemplateScope } | undefined> {
  if (await templateExists(db, tenantId, name)) return { scope: tenantId };
  if (await templateExists(db, null, name)) return { scope: null };
  return undefined;
}

/**
 * `param` prefixes the parameter paths of its errors: `template` for a field of its own
 * (`POST /v1/operations/respond`), `switchyard.template.` in a chat body.
 */
export async function renderTemplate(
  db: Queryable,
  tenantId: string,
  ref: RenderRef,
  param: { prefix: string; nameField: string } = { prefix: '', nameField: 'name' },
): Promise<RenderedTemplate> {
  const p = (field: string) => `${param.prefix}${field}`;
  const found = await resolveScope(db, tenantId, ref.name);
  if (!found) throw notFound(`No template named '${ref.name}'.`, p(param.nameField), 'template_not_found');
  const { scope } = found;
  let version = ref.version;
  if (version === undefined && ref.label !== undefined) {
    version = await getLabel(db, scope, ref.name, ref.label);
    if (version === undefined)
      throw notFound(`Template '${ref.name}' has no label '${ref.label}'.`, p('label'), 'template_label_not_found');
  }
  version ??= await getLabel(db, scope, ref.name, DEFAULT_LABEL);
  const row =
    version === undefined
      ? (await listVersions(db, scope, ref.name)).at(-1)
      : await getVersion(db, scope, ref.name, version);
  if (!row || row.deleted_at !== null)
    throw notFound(`Template '${ref.name}' has no version ${version}.`, p('version'), 'template_version_not_found');
  const variables = withDefaults(row.variables_schema, ref.variables ?? {}) as Record<string, unknown>;
  const checked = checkSchema(row.variables_schema, variables);
  if (!checked.ok)
    throw invalid(
      `The variables do not fit template '${ref.name}' v${row.version}: ${checked.reason}`,
      p(variablesParam(checked.path)),
    );
  const rendered = renderMessages(row.messages, variables);
  if ('tooLarge' in rendered)
    throw new TemplateError(
      400,
      `Template '${ref.name}' v${row.version} with these variables ${rendered.tooLarge}.`,
      p('variables'),
      'template_render_too_large',
    );
  if ('missing' in rendered) {
    const [first] = rendered.missing;
    throw invalid(
      `Template '${ref.name}' v${row.version} uses ${rendered.missing.map((m) => `'${m}'`).join(', ')}, not given in variables (and with no default in its schema).`,
      p(variablesParam(first!.split('.'))),
    );
  }
  return {
    messages: rendered.messages,
    defaults: row.defaults,
    template: { id: row.id, name: row.name, version: row.version, scope: row.tenant_id === null ? 'global' : 'tenant' },
  };
}
