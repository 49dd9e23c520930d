/**
 * The simulator's answers to Switchyard's structured operations: transparent heuristics (word
 * lists, capitalisation, sentence order) that always produce schema-valid JSON, so the operations
 * API works offline. Real models replace all of this when a key is set.
 */
import { contentText, type ChatMessage } from '../domain/chat';
import { isStructured, type StructuredOperation } from '../domain/operations';

const POSITIVE =
  /\b(good|great|excellent|love|loved|happy|amazing|wonderful|fantastic|pleased|thanks|thank you|best|like|enjoy(ed)?|perfect|awesome|delighted)\b/gi;
const NEGATIVE =
  /\b(bad|terrible|awful|hate|hated|angry|sad|poor|worst|broken|disappointed|disappointing|refund|problem|issue|slow|never|horrible|useless|fail(ed|s)?)\b/gi;

const round2 = (x: number) => Math.round(x * 100) / 100;
const words = (s: string) => s.toLowerCase().match(/[a-z0-9]+/g) ?? [];

function intent(text: string, labels: string[] | undefined): object {
  if (labels?.length) {
    const tokens = new Set(words(text));
    const scored = labels.map((label, i) => {
      const overlap = words(label.replace(/[_-]/g, ' ')).filter(
        (w) => tokens.has(w) || [...tokens].some((t) => t.startsWith(w.slice(0, 4))),
      ).length;
      return { label, overlap, i };
    });
    scored.sort((a, b) => b.overlap - a.overlap || a.i - b.i);
    const total = scored.reduce((s, x) => s + x.overlap + 1, 0);
    const conf = scored.map((x) => round2((x.overlap + 1) / total));
    return {
      intent: scored[0]!.label,
      confidence: conf[0],
      alternatives: scored.slice(1, 4).map((x, k) => ({ intent: x.label, confidence: conf[k + 1] })),
    };
  }
  const lower = text.toLowerCase();
  const guess = /\b(buy|order|purchase|price)\b/.test(lower)
    ? 'purchase'
    : /\bcancel\b/.test(lower)
      ? 'cancel'
      : /\b(help|support|problem|issue|broken)\b/.test(lower)
        ? 'get_support'
        : /\?\s*$/.test(text.trim())
          ? 'ask_question'
          : 'statement';
  return {
    intent: guess,
    confidence: 0.7,
    alternatives: [{ intent: 'statement', confidence: 0.2 }].filter((a) => a.intent !== guess),
  };
}

function sentiment(text: string): object {
  const pos = (text.match(POSITIVE) ?? []).length;
  const neg = (text.match(NEGATIVE) ?? []).length;
  const label = pos && neg ? 'mixed' : pos > neg ? 'positive' : neg > pos ? 'negative' : 'neutral';
  const total = pos + neg + 1;
  return {
    label,
    scores: { positive: round2(pos / total), negative: round2(neg / total), neutral: round2(1 / total) },
  };
}

const MONTHS = 'January|February|March|April|May|June|July|August|September|October|November|December';
const ORG_SUFFIX = /\b(Inc|Corp|Corporation|Ltd|LLC|Company|University|Bank|Group)\.?$/;
const STOP = new Set([
  'The',
  'A',
  'An',
  'I',
  'We',
  'He',
  'She',
  'It',
  'They',
  'This',
  'That',
  'In',
  'On',
  'At',
  'Our',
  'My',
  'Yesterday',
  'Today',
  'Tomorrow',
]);

function entities(text: string, types: string[] | undefined): object {
  const found: Array<{ text: string; type: string; start: number; end: number }> = [];
  const dateRe = new RegExp(`\\b(\\d{4}-\\d{2}-\\d{2}|(?:${MONTHS})(?: \\d{1,2})?(?:, \\d{4})?|\\d{4})\\b`, 'g');
  for (const m of text.matchAll(dateRe))
    found.push({ text: m[0], type: 'DATE', start: m.index!, end: m.index! + m[0].length });
  const nameRe = /\b[A-Z][a-zA-Z&]+(?: (?:[A-Z][a-zA-Z&]+|Inc\.?|Corp\.?|Ltd\.?|LLC))*/g;
  for (const m of text.matchAll(nameRe)) {
    let value = m[0];
    let start = m.index!;
    const first = value.split(' ')[0]!;
    if (STOP.has(first)) {
      const rest = value.slice(first.length + 1);
      if (!rest) continue;
      start += first.length + 1;
      value = rest;
    }
    if (new RegExp(`^(${MONTHS})$`).test(value)) continue;
    if (found.some((f) => start < f.end && start + value.length > f.start)) continue;
    const before = text.slice(Math.max(0, start - 5), start).toLowerCase();
    const type = ORG_SUFFIX.test(value)
      ? 'ORGANIZATION'
      : /\b(in|at|from|to)\s$/.test(before)
        ? 'LOCATION'
        : value.includes(' ')
          ? 'PERSON'
          : 'MISC';
    found.push({ text: value, type, start, end: start + value.length });
  }
  const wanted = types?.map((t) => t.toUpperCase());
  return { entities: found.filter((e) => !wanted || wanted.includes(e.type)).sort((a, b) => a.start - b.start) };
}

function summarize(text: string, maxWords: number): object {
  const found =
    text
      .replace(/\s+/g, ' ')
      .match(/[^.!?]+[.!?]?/g)
      ?.map((s) => s.trim())
      .filter(Boolean) ?? [];
  // Text made only of punctuation has no sentence: then the text itself is the summary.
  const sentences = found.length ? found : [text.trim()];
  const picked: string[] = [];
  let count = 0;
  for (const s of sentences) {
    const n = s.split(' ').length;
    if (count + n > maxWords && picked.length) break;
    picked.push(count + n > maxWords ? s.split(' ').slice(0, maxWords).join(' ') : s);
    count += n;
  }
  return {
    summary: picked.join(' '),
    // Whole sentences (extractive, like the summary); a very long one is cut at 30 words.
    keyPoints: sentences.slice(0, 3).map((s) => s.split(' ').slice(0, 30).join(' ')),
  };
}

/**
 * Each structured operation's answer, from the user's text and the prompt's instructions (which
 * carry the body's options). Keyed by the registry's names: an operation without one does not compile.
 */
const ANSWERS: Record<StructuredOperation, (text: string, instructions: string) => object> = {
  intent: (text, instructions) => intent(text, /Choose from: (.+?)\.\n/.exec(instructions)?.[1]?.split(', ')),
  sentiment: (text) => sentiment(text),
  entities: (text, instructions) => entities(text, /of types (.+?) with their/.exec(instructions)?.[1]?.split(', ')),
  summarize: (text, instructions) => summarize(text, Number(/at most (\d+) words/.exec(instructions)?.[1] ?? 120)),
};

/** A JSON reply when the messages are one of Switchyard's operations; otherwise undefined. */
export function simulatedOperationReply(messages: ChatMessage[]): string | undefined {
  const system = messages.find((m) => m.role === 'system');
  const marker = system ? /switchyard-operation: (\w+)/.exec(contentText(system.content)) : null;
  if (!marker || !system || !isStructured(marker[1]!)) return undefined;
  const user = messages.find((m) => m.role === 'user');
  return JSON.stringify(ANSWERS[marker[1]](user ? contentText(user.content) : '', contentText(system.content)));
}
