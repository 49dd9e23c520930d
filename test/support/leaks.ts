/**
 * Finding a key in text however it was written down (issue 28, finding 11): the checks the
 * redaction tests make of responses, rows, workflow history and process output.
 */
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
