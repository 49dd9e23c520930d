/**
 * Finding a key in text however it was written down (issue 28, finding 11): the checks the
 * redaction tests make of responses, rows, workflow history and process output.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Queryable } from '../../src/db';
import type { Behaviour } from './fakeProvider';

/** Letters and digits only, lowercased: what survives separators, case and percent-encoding. */
const skeleton = (s: string) => s.replace(/[^A-Za-z0-9]/g, '').toLowerCase();

/**
 * Whether `text` holds any 10 consecutive letters or digits of `key` in a form it could be read
 * back from: as written, hex, URL-encoded, or base64 at any of its three alignments (the base64
 * payloads of workflow history included), separators between characters or not.
 */
export function leaked(text: string, key: string): string | undefined {
  const bytes = Buffer.from(key);
  const base64 = [0, 1, 2].map((pad) =>
    Buffer.concat([Buffer.alloc(pad), bytes])
      .toString('base64')
      .slice(pad ? pad + 1 : 0, -2),
  );
  const flat = skeleton(text);
  for (const form of [key, bytes.toString('hex'), encodeURIComponent(key), ...base64].map(skeleton))
    for (let i = 0; i + 10 <= form.length; i++) if (flat.includes(form.slice(i, i + 10))) return form.slice(i, i + 10);
  return undefined;
}

export const b64 = (s: string) => Buffer.from(s).toString('base64');
export const spaced = (s: string) => [...s].join(' ');

/** A fake provider's error whose fields are built from the key the call carried. */
export const echo = (fields: (key: string) => Record<string, unknown>, status = 400): Behaviour => ({
  kind: 'error',
  status,
  fields,
});

/** Everything the database holds, as text. */
export async function allRows(db: Queryable): Promise<string> {
  const tables = await db.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`,
  );
  const out: string[] = [];
  for (const { table_name } of tables.rows)
    out.push(JSON.stringify((await db.query(`select * from "${table_name}"`)).rows));
  return out.join('\n');
}

/** A workflow's history as JSON, with its payloads both as stored (base64) and decoded. */
export async function historyText(
  env: Pick<TestWorkflowEnvironment, 'client'>,
  workflowId: string,
): Promise<{ text: string; codes: unknown[] }> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const decoded: string[] = [];
  const raw = JSON.stringify(history, (_k, v: unknown) => {
    if (v instanceof Uint8Array) {
      decoded.push(Buffer.from(v).toString('utf8'));
      return Buffer.from(v).toString('base64');
    }
    const buf = v as { type?: string; data?: number[] } | null;
    if (buf && buf.type === 'Buffer' && Array.isArray(buf.data)) {
      decoded.push(Buffer.from(buf.data).toString('utf8'));
      return Buffer.from(buf.data).toString('base64');
    }
    return v;
  });
  const codes = decoded.flatMap((d) => [...d.matchAll(/"providerCode":("[^"]*")/g)].map((m) => JSON.parse(m[1]!)));
  return { text: `${raw}\n${decoded.join('\n')}`, codes };
}
