/**
 * Secrets out of provider error text. A provider's error can echo what it was sent (some print the
 * key they refused, in the message, the code, the type or a nested field), and that text would
 * otherwise be stored, logged, returned to clients and put into workflow history. Every field of a
 * provider error passes through here: the keys this process holds are replaced wherever they
 * appear, as sent or encoded (base64, base64url, hex, URL-encoded) and with separators between
 * their characters; so is anything shaped like a key.
 */
import { Buffer } from 'node:buffer';

/** Per registered key: the strings to look for, reduced to their letters and digits, lowercased. */
const known = new Map<string, string[]>();

/** Letters and digits only, lowercased: what survives separators, case changes and percent signs. */
const skeleton = (s: string) => s.replace(/[^A-Za-z0-9]/g, '').toLowerCase();

/**
 * The base64 characters that encode `bytes` wherever they sit in a larger encoded blob: one
 * string per alignment (0, 1 or 2 bytes before them in their group of three), without the
 * characters shared with the neighbouring bytes.
 */
function base64Cores(bytes: Buffer): string[] {
  return [0, 1, 2].map((pad) => {
    const encoded = Buffer.concat([Buffer.alloc(pad), bytes])
      .toString('base64')
      .replace(/=+$/, '');
    const head = Math.ceil((pad * 8) / 6);
    const tail = (pad + bytes.length) % 3 === 0 ? 0 : 1;
    return encoded.slice(head, encoded.length - tail);
  });
}

/** Forms of a key to look for; base64url differs from base64 only in `+/`, which skeletons drop. */
function formsOf(key: string): string[] {
  const bytes = Buffer.from(key, 'utf8');
  return [key, encodeURIComponent(key), bytes.toString('hex'), ...base64Cores(bytes)];
}

/** A skeleton shorter than this is matched only as written (fuzzy matching would hit plain words). */
const MIN_FUZZY = 12;

/** Keys this process holds (the adapter registry registers its providers' keys). */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const v of values) {
    if (!v || v.length < 8 || known.has(v)) continue;
    known.set(
      v,
      formsOf(v)
        .map(skeleton)
        .filter((s) => s.length >= MIN_FUZZY),
    );
  }
}

// OpenAI and Anthropic (`sk-…`, `sk-proj-…`, `sk-ant-…`) and Switchyard's own (`sk-sy-…`), Google,
// xAI, Groq, and any bearer or basic credential.
const KEY_SHAPES = [
  /\bsk-[A-Za-z0-9_-]{12,}/g,
  /\bAIza[0-9A-Za-z_-]{20,}/g,
  /\bxai-[A-Za-z0-9]{20,}/g,
  /\bgsk_[A-Za-z0-9]{20,}/g,
  // Hugging Face tokens; AWS access key ids.
  /\bhf_[A-Za-z0-9]{20,}/g,
  /\b(AKIA|ASIA)[A-Z0-9]{16}\b/g,
];
const CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

export const REDACTED = '[redacted]';

/**
 * At most this many other characters between two of a key's letters or digits (`s k`, `"s", "k"`,
 * one per line indented, the key's own `-` or `+` among them): a key's letters in order with no
 * more than that between them is that key, whatever separates them.
 */
const MAX_GAP = 24;

/**
 * Where a registered key's forms appear in `text`, separators or not: the text's letters and
 * digits are searched for each form's, and a hit counts when no gap between its characters is
 * wider than MAX_GAP. Linear in the text per form (indexOf), no regular expression built from a key.
 */
function keySpans(text: string): Array<[number, number]> {
  const at: number[] = [];
  let letters = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) {
      at.push(i);
      letters += text[i]!.toLowerCase();
    }
  }
  const spans: Array<[number, number]> = [];
  for (const forms of known.values())
    for (const form of forms)
      for (let j = letters.indexOf(form); j >= 0; j = letters.indexOf(form, j + 1)) {
        let close = true;
        for (let k = j + 1; k < j + form.length && close; k++) close = at[k]! - at[k - 1]! - 1 <= MAX_GAP;
        if (close) spans.push([at[j]!, at[j + form.length - 1]! + 1]);
      }
  return spans;
}

function replaceSpans(text: string, spans: Array<[number, number]>): string {
  if (!spans.length) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let from = 0;
  for (const [start, end] of spans) {
    if (end <= from) continue;
    out += text.slice(from, Math.max(from, start)) + (start >= from ? REDACTED : '');
    from = end;
  }
  return out + text.slice(from);
}

export function redact(text: string): string {
  let out = text;
  for (const k of known.keys()) if (out.includes(k)) out = out.split(k).join(REDACTED);
  out = replaceSpans(out, keySpans(out));
  for (const re of KEY_SHAPES) out = out.replace(re, REDACTED);
  return out.replace(CREDENTIAL, `$1 ${REDACTED}`);
}

const IDENTIFIER = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A provider's error code or type as we keep it (`context_length_exceeded`, `overloaded_error`):
 * a short identifier with nothing secret in it, or nothing. It goes into failure details, hence
 * workflow history, logs and responses, so free text has no place there.
 */
export function safeIdentifier(value: unknown): string | undefined {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) return undefined;
  return redact(value) === value ? value : undefined;
}
