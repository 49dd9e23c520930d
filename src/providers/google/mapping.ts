/**
 * The OpenAI-shaped request as Gemini's `generateContent` request, and Gemini's answer back
 * (pure: no client, no I/O). System and developer messages become `systemInstruction`, the
 * assistant is the `model` role, tool calls and results are `functionCall` / `functionResponse`
 * parts (a result is matched to its call's function name by `tool_call_id`), consecutive turns of
 * one role are merged, images are `inlineData` (data URLs) or `fileData` (https URLs, which the
 * Gemini API fetches itself).
 */
import { randomUUID } from 'node:crypto';
import {
  FunctionCallingConfigMode,
  type Content,
  type GenerateContentConfig,
  type GenerateContentResponse,
  type Part,
  type ToolConfig,
} from '@google/genai';
import { contentText, type ChatMessage, type ToolCall } from '../../domain/chat';
import { toolInputOf } from '../../domain/anthropicMessages';
import type { ChatCallInput, FinishReason } from '../types';

/** A request the Gemini API cannot take as given: refused before the call (no retry). */
export class GeminiRequestError extends Error {
  override name = 'GeminiRequestError';
}

/**
 * The thought signature sent with a function call whose own signature the OpenAI shape dropped:
 * Gemini 3 refuses a current-turn function call without one, and documents this value for
 * history that did not come from the model verbatim (another model's, or rebuilt).
 */
export const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

/** Ids we make up for function calls Gemini sent without one (never sent back as Gemini's own). */
const GENERATED_ID = 'call_sy_';
export const generatedCallId = () => `${GENERATED_ID}${randomUUID().replace(/-/g, '').slice(0, 24)}`;

const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
};

/** An image part: a data URL inline, an https URL as a file the API fetches. */
export function imagePart(url: string): Part {
  const data = /^data:([\w.+-]+\/[\w.+-]+);base64,(.*)$/s.exec(url);
  if (data) return { inlineData: { mimeType: data[1]!, data: data[2]! } };
  if (/^https:\/\//i.test(url)) {
    let ext: string | undefined;
    try {
      ext = new URL(url).pathname.split('.').pop()?.toLowerCase();
    } catch {
      throw new GeminiRequestError('the image URL is not a valid URL: send it as a data: URL');
    }
    // The API needs the type of what it fetches; a URL that does not say is taken as JPEG.
    return { fileData: { fileUri: url, mimeType: (ext && IMAGE_TYPES[ext]) ?? 'image/jpeg' } };
  }
  if (/^data:/i.test(url)) throw new GeminiRequestError('the image data URL must be base64 (data:<type>;base64,…)');
  // Gemini fetches public https and signed URLs only.
  throw new GeminiRequestError('Gemini fetches only https image URLs: send this image as a data: URL (base64)');
}

/** A tool's result as Gemini's `functionResponse.response` (an object: JSON objects as they are). */
function functionResponseOf(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    return { output: value };
  } catch {
    return { output: text };
  }
}

function partsOf(m: ChatMessage, names: Map<string, string>): Part[] {
  if (m.role === 'tool') {
    const name = names.get(m.tool_call_id);
    if (name === undefined)
      throw new GeminiRequestError(`the tool result '${m.tool_call_id}' answers no tool call of an earlier message`);
    return [
      {
        functionResponse: {
          name,
          ...(!m.tool_call_id.startsWith(GENERATED_ID) && { id: m.tool_call_id }),
          response: functionResponseOf(contentText(m.content)),
        },
      },
    ];
  }
  if (m.role === 'assistant') {
    const text = contentText(m.content ?? null);
    return [
      ...(text ? [{ text }] : []),
      ...(m.tool_calls ?? []).map((c, i): Part => ({
        functionCall: {
          name: c.function.name,
          args: toolInputOf(c.function.arguments),
          ...(!c.id.startsWith(GENERATED_ID) && { id: c.id }),
        },
        // The first call of a step carries the step's signature (parallel calls: only the first).
        ...(i === 0 && { thoughtSignature: SKIP_THOUGHT_SIGNATURE }),
      })),
    ];
  }
  if (typeof m.content === 'string') return [{ text: m.content }];
  return m.content.map((p): Part => (p.type === 'text' ? { text: p.text } : imagePart(p.image_url.url)));
}

/** The conversation as Gemini contents, and the system instruction (undefined: none). */
export function toGeminiContents(messages: ChatMessage[]): { systemInstruction?: Content; contents: Content[] } {
  const system: string[] = [];
  const contents: Content[] = [];
  /** Function name by tool call id, from the assistant turns so far. */
  const names = new Map<string, string>();
  for (const m of messages) {
    if (m.role === 'system' || m.role === 'developer') {
      system.push(contentText(m.content));
      continue;
    }
    if (m.role === 'assistant') for (const c of m.tool_calls ?? []) names.set(c.id, c.function.name);
    const role = m.role === 'assistant' ? 'model' : 'user';
    const parts = partsOf(m, names);
    if (!parts.length) continue;
    const last = contents[contents.length - 1];
    // One turn per role in a row: several tool results are one user turn, as Gemini returns them.
    if (last?.role === role) last.parts = [...(last.parts ?? []), ...parts];
    else contents.push({ role, parts });
  }
  return {
    ...(system.length && { systemInstruction: { parts: [{ text: system.join('\n\n') }] } }),
    contents,
  };
}

/** OpenAI's `tool_choice` as Gemini's function calling config. */
export function toolConfigOf(choice: ChatCallInput['toolChoice']): ToolConfig | undefined {
  if (choice === undefined || choice === 'auto') return undefined;
  if (choice === 'none') return { functionCallingConfig: { mode: FunctionCallingConfigMode.NONE } };
  if (choice === 'required') return { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } };
  return {
    functionCallingConfig: { mode: FunctionCallingConfigMode.ANY, allowedFunctionNames: [choice.function.name] },
  };
}

/** The request's settings, tools and answer format as Gemini's config (the call's signal added by the caller). */
export function configOf(input: ChatCallInput, systemInstruction?: Content): GenerateContentConfig {
  const format = input.responseFormat;
  return {
    ...(systemInstruction && { systemInstruction }),
    ...(input.temperature !== undefined && { temperature: input.temperature }),
    ...(input.topP !== undefined && { topP: input.topP }),
    ...(input.maxOutputTokens !== undefined && { maxOutputTokens: input.maxOutputTokens }),
    ...(input.stop !== undefined && { stopSequences: input.stop }),
    ...(input.seed !== undefined && { seed: input.seed }),
    ...(input.tools && {
      tools: [
        {
          functionDeclarations: input.tools.map((t) => ({
            name: t.function.name,
            ...(t.function.description !== undefined && { description: t.function.description }),
            // JSON Schema as given (not Gemini's OpenAPI subset); a function without parameters sends none.
            ...(t.function.parameters !== undefined && { parametersJsonSchema: t.function.parameters }),
          })),
        },
      ],
    }),
    ...(input.tools && toolConfigOf(input.toolChoice) && { toolConfig: toolConfigOf(input.toolChoice) }),
    ...(format?.type === 'json_object' && { responseMimeType: 'application/json' }),
    ...(format?.type === 'json_schema' && {
      responseMimeType: 'application/json',
      ...(format.json_schema.schema && { responseJsonSchema: format.json_schema.schema }),
    }),
    // Temporal owns retries and each attempt: no hidden second call (an automatic function call
    // or a continuation hop) inside one of ours.
    automaticFunctionCalling: { disable: true },
    automaticContinuation: false,
  };
}

const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);

/** Gemini's finish reason as ours; a function call ends the turn as OpenAI's `tool_calls`. */
export function finishOf(reason: string | undefined, calledTools: boolean): FinishReason {
  if (reason && FILTERED.has(reason)) return 'content_filter';
  if (reason === 'MAX_TOKENS' || reason === 'CONTINUATION') return 'length';
  if (calledTools) return 'tool_calls';
  return 'stop';
}

/** Answer text of a part (thoughts are the model's reasoning, not its answer). */
export const answerText = (p: Part): string => (p.thought || typeof p.text !== 'string' ? '' : p.text);

/** A function call part as our tool call (an id made up when Gemini gave none). */
export function toolCallOf(p: Part): ToolCall | undefined {
  if (!p.functionCall) return undefined;
  return {
    id: p.functionCall.id || generatedCallId(),
    type: 'function',
    function: { name: p.functionCall.name ?? '', arguments: JSON.stringify(p.functionCall.args ?? {}) },
  };
}

/** Prompt and answer tokens (thinking is billed as output). */
export function usageOf(res: Pick<GenerateContentResponse, 'usageMetadata'>): { input?: number; output?: number } {
  const u = res.usageMetadata;
  if (!u) return {};
  return {
    input: u.promptTokenCount,
    output:
      u.candidatesTokenCount === undefined && u.thoughtsTokenCount === undefined
        ? undefined
        : (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0),
  };
}
