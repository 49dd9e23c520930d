/**
 * The routing context of a request, from `X-Switchyard-*` headers and the body's `user`,
 * `metadata` and `switchyard` extension (so OpenAI clients can pass attributes without custom
 * headers). Headers win.
 */
import { createHash } from 'node:crypto';
import {
  RouteContextSchema,
  sessionKeyOf,
  SubstitutionSchema,
  type RouteContext,
  type Substitution,
} from '../domain/policy';
import { FitModeSchema, FIT_MODES, type FitMode } from '../domain/fitMode';
import { QualitySchema, type SwitchyardRequestExtension } from '../domain/requestExtension';
import { HttpError } from './errors';

/** What the context is read from: an HTTP request's headers, or a gRPC call's metadata. */
export interface HeaderSource {
  header(name: string): string | undefined;
}

const HEADERS: Record<string, string> = {
  userId: 'X-Switchyard-User',
  workspaceId: 'X-Switchyard-Workspace',
  region: 'X-Switchyard-Region',
  compliance: 'X-Switchyard-Compliance',
  agentType: 'X-Switchyard-Agent-Type',
  subject: 'X-Switchyard-Subject',
  gradeBand: 'X-Switchyard-Grade-Band',
  strategy: 'X-Switchyard-Strategy',
  maxCostUsd: 'X-Switchyard-Max-Cost-Usd',
  excludeProviders: 'X-Switchyard-Exclude-Providers',
};

// Metadata keys that mean a routing attribute (snake_case, as OpenAI metadata usually is).
const METADATA_KEYS: Record<string, string> = {
  workspace: 'workspaceId',
  agent_type: 'agentType',
  subject: 'subject',
  grade_band: 'gradeBand',
  region: 'region',
};

const list = (v: string | undefined) =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);

export function routeContext(
  req: HeaderSource,
  tenantId: string,
  /** `messages`: the conversation, for a session named by `user` (see `sessionOf`). */
  body: {
    user?: string;
    metadata?: Record<string, string> | null;
    messages?: ReadonlyArray<{ role: string; content?: unknown }>;
    switchyard?: SwitchyardRequestExtension;
  },
): RouteContext {
  const metadata = body.metadata ?? {};
  const fromMetadata = Object.fromEntries(
    Object.entries(METADATA_KEYS).flatMap(([k, field]) =>
      metadata[k] !== undefined ? [[field, field === 'region' ? metadata[k]!.toUpperCase() : metadata[k]]] : [],
    ),
  );
  const header = (field: string) => req.header(HEADERS[field]!);
  const raw = {
    tenantId,
    ...fromMetadata,
    ...(body.user && { userId: body.user }),
    ...Object.fromEntries(
      ['userId', 'workspaceId', 'agentType', 'subject', 'gradeBand', 'strategy'].flatMap((f) =>
        header(f) !== undefined ? [[f, header(f)]] : [],
      ),
    ),
    ...(header('region') !== undefined && { region: header('region')!.toUpperCase() }),
    ...(header('compliance') !== undefined && { compliance: list(header('compliance'))!.map((t) => t.toLowerCase()) }),
    ...(header('excludeProviders') !== undefined && { excludeProviders: list(header('excludeProviders')) }),
    ...(header('maxCostUsd') !== undefined && { maxCostUsd: Number(header('maxCostUsd')) }),
    metadata,
  };
  const substitution = substitutionOf(req, metadata);
  if (substitution) Object.assign(raw, { substitution });
  const session = sessionOf(req, body);
  if (session) Object.assign(raw, { session });
  const quality = qualityOf(req, body.switchyard);
  if (quality !== undefined) Object.assign(raw, { quality });
  const fit = fitOf(req, body.switchyard);
  if (fit !== undefined) Object.assign(raw, { fit });
  const parsed = RouteContextSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = String(issue.path[0] ?? '');
    const param = HEADERS[field] ?? (field === 'metadata' ? 'metadata' : field);
    throw HttpError.invalid(`Invalid value for '${param}': ${issue.message}`, { param, code: 'invalid_value' });
  }
  return parsed.data;
}

/**
 * `X-Switchyard-Substitution: none|allowed`, or the body's `metadata.substitution` (for clients
 * that cannot set headers; the header wins): whether a named model may be answered by another.
 * Absent: the tenant's default (`substitution` in its policy), else `allowed`.
 */
function substitutionOf(req: HeaderSource, metadata: Record<string, string>): Substitution | undefined {
  const fromHeader = req.header('x-switchyard-substitution');
  const [value, param] =
    fromHeader !== undefined
      ? [fromHeader, 'X-Switchyard-Substitution']
      : [metadata.substitution, 'metadata.substitution'];
  if (value === undefined) return undefined;
  const parsed = SubstitutionSchema.safeParse(value.trim().toLowerCase());
  if (!parsed.success)
    throw HttpError.invalid(`Invalid value for '${param}': expected 'none' or 'allowed', got '${value}'.`, {
      param,
      code: 'invalid_value',
    });
  return parsed.data;
}

export const SESSION_HEADER = 'X-Switchyard-Session';

/**
 * The request's session: `X-Switchyard-Session` (1 to 128 printable characters), or else, when the
 * body names its `user` (`metadata.user_id` on `/v1/messages`), that user with a hash of the
 * conversation's first messages (`sessionKeyOf` in src/domain/policy/session.ts). Only the key goes
 * on to the workflow and the record, never the text. Sessions are the tenant's own: the key is
 * stored with the tenant.
 */
export function sessionOf(
  req: HeaderSource,
  body: { user?: string; messages?: ReadonlyArray<{ role: string; content?: unknown }> },
): string | undefined {
  const header = req.header(SESSION_HEADER);
  if (header !== undefined) {
    const key = header.trim();
    if (!/^[\x20-\x7e]{1,128}$/.test(key))
      throw HttpError.invalid(`Invalid value for '${SESSION_HEADER}': 1 to 128 printable characters expected.`, {
        param: SESSION_HEADER,
        code: 'invalid_value',
      });
    return key;
  }
  return sessionKeyOf(body.user, body.messages, sha256Hex);
}

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The cost–quality dial: `X-Switchyard-Quality`, or the body's `switchyard.quality` (the header
 * wins), a number from 0 (the cheapest acceptable tier) to 1 (the best available). Absent: the
 * tenant's default (`quality` in its policy), else `routing.defaultQuality`, else 0.5.
 */
export function qualityOf(req: HeaderSource, extension: SwitchyardRequestExtension | undefined): number | undefined {
  const header = req.header('x-switchyard-quality');
  if (header === undefined) return extension?.quality;
  const value = header.trim() === '' ? NaN : Number(header.trim());
  if (!QualitySchema.safeParse(value).success)
    throw HttpError.invalid(
      `Invalid value for 'X-Switchyard-Quality': expected a number from 0 (cheapest) to 1 (best), got '${header}'.`,
      { param: 'X-Switchyard-Quality', code: 'invalid_value' },
    );
  return value;
}

/**
 * Context fitting (issue 26): `X-Switchyard-Fit`, or the body's `switchyard.fit` (the header wins):
 * `truncate`, `summarize` or `off`. Absent: the tenant's default (`fit` in its policy), else off.
 */
export function fitOf(req: HeaderSource, extension: SwitchyardRequestExtension | undefined): FitMode | undefined {
  const header = req.header('x-switchyard-fit');
  if (header === undefined) return extension?.fit;
  const parsed = FitModeSchema.safeParse(header.trim().toLowerCase());
  if (!parsed.success)
    throw HttpError.invalid(
      `Invalid value for 'X-Switchyard-Fit': expected one of ${FIT_MODES.join(', ')}, got '${header}'.`,
      { param: 'X-Switchyard-Fit', code: 'invalid_value' },
    );
  return parsed.data;
}

/** `X-Switchyard-Wait-For-Recovery: true`: when every candidate's breaker is open, wait for one to reopen (batch callers). */
export function waitForRecovery(req: HeaderSource): boolean {
  const v = req.header('x-switchyard-wait-for-recovery');
  if (v === undefined) return false;
  if (!/^(true|false)$/i.test(v))
    throw HttpError.invalid("X-Switchyard-Wait-For-Recovery must be 'true' or 'false'.", {
      param: 'X-Switchyard-Wait-For-Recovery',
      code: 'invalid_value',
    });
  return v.toLowerCase() === 'true';
}
