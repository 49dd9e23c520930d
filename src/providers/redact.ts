/**
 * Secrets out of error text. A provider's error message can echo what it was sent (some print the
 * key they refused), and that text would otherwise be stored, logged, returned to clients and put
 * into workflow history. Every provider error message passes through `redact`: the keys this
 * process holds are replaced wherever they appear, and so is anything shaped like a key.
 */
const known = new Set<string>();

/** Keys this process holds (the adapter registry registers its providers' keys). */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const v of values) if (v && v.length >= 8) known.add(v);
}

// OpenAI and Anthropic (`sk-…`, `sk-proj-…`, `sk-ant-…`) and Switchyard's own (`sk-sy-…`), Google,
// xAI, Groq, and any bearer or basic credential.
const KEY_SHAPES = [
  /\bsk-[A-Za-z0-9_-]{12,}/g,
  /\bAIza[0-9A-Za-z_-]{20,}/g,
  /\bxai-[A-Za-z0-9]{20,}/g,
  /\bgsk_[A-Za-z0-9]{20,}/g,
];
const CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

export const REDACTED = '[redacted]';

export function redact(text: string): string {
  let out = text;
  for (const k of known) if (out.includes(k)) out = out.split(k).join(REDACTED);
  for (const re of KEY_SHAPES) out = out.replace(re, REDACTED);
  return out.replace(CREDENTIAL, `$1 ${REDACTED}`);
}
