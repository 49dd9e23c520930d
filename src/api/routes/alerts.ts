/**
 * `GET /v1/alerts`: alert episodes, newest first, with their webhook deliveries. Operators see
 * every alert; members and admins see their own tenant's (budget and rate-limit alerts: provider
 * and latency alerts are the operator's).
 */
import { z } from 'zod';
import type { Db } from '../../db';
import { deliveriesOf, listAlertRows } from '../../db/alerts';
import { ALERT_KINDS, alertJson, AlertKindSchema, TENANT_KINDS, type AlertKind } from '../../domain/alerts';
import { authOf, hasRole } from '../auth';
import { HttpError } from '../errors';
import { routeSpecs } from '../routeSpec';
import { validate } from '../validate';

const AlertsQuery = z
  .object({
    status: z.enum(['open', 'resolved', 'all']).default('all'),
    kind: AlertKindSchema.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    /** `next_cursor` of the previous page. */
    cursor: z.string().max(200).optional(),
  })
  .strict();

const Cursor = z.object({ o: z.iso.datetime(), i: z.string().min(1).max(100) }).strict();

const encodeCursor = (openedAt: string, id: string) =>
  Buffer.from(JSON.stringify({ o: openedAt, i: id })).toString('base64url');

function decodeCursor(cursor: string): { openedAt: string; id: string } {
  try {
    const c = Cursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { openedAt: c.o, id: c.i };
  } catch {
    throw HttpError.invalid('Not a cursor this endpoint gave (use next_cursor as it is).', {
      param: 'cursor',
      code: 'invalid_cursor',
    });
  }
}

export const alertRoutes = routeSpecs<{ db: Db }>([
  {
    method: 'get',
    path: '/v1/alerts',
    summary: 'Alert episodes (provider down, budget, latency objective, rate limit) and their webhook deliveries',
    tag: 'alerts',
    role: 'member',
    query: AlertsQuery,
    errors: [400, 401],
    handle: async (deps, req, res) => {
      const q = validate(AlertsQuery, req.query);
      const auth = authOf(req);
      const operator = hasRole(auth, 'operator');
      const visible: readonly AlertKind[] = operator ? ALERT_KINDS : TENANT_KINDS;
      const kinds = q.kind ? visible.filter((k) => k === q.kind) : operator ? undefined : [...visible];
      const rows = await listAlertRows(deps.db, {
        status: q.status,
        ...(kinds && { kinds }),
        ...(!operator && { tenantId: auth.tenantId }),
        limit: q.limit + 1,
        ...(q.cursor && { after: decodeCursor(q.cursor) }),
      });
      const page = rows.slice(0, q.limit);
      const deliveries = await deliveriesOf(
        deps.db,
        page.map((r) => r.id),
      );
      const last = page[page.length - 1];
      res.json({
        object: 'list',
        data: page.map((r) =>
          alertJson(
            r,
            deliveries.filter((d) => d.alert_id === r.id),
          ),
        ),
        next_cursor:
          rows.length > q.limit && last ? encodeCursor(new Date(last.opened_at).toISOString(), last.id) : null,
      });
    },
  },
]);
