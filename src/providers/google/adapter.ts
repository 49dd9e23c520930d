/**
 * The Gemini API through the official `@google/genai` client: `generateContent`, its stream and
 * `embedContent`. The client retries nothing unless given retry options (none here: Temporal owns
 * retries), and each call carries our abort signal and timeout. A blocked prompt (HTTP 200 with
 * `promptFeedback.blockReason`) is a ContentFiltered failure; a blocked answer finishes
 * `content_filter`.
 */
import { GoogleGenAI, type GenerateContentConfig, type GenerateContentResponse } from '@google/genai';
import { addDelta, answerParts, emptyAnswer, type StreamDelta } from '../../domain/stream';
import { countMessageTokens, countTokens } from '../../domain/tokens';
import { failure } from '../errors';
import { sdkOptions, withDeadline, withStreamDeadlines, type StreamLimits } from '../deadline';
import type { CallOptions, ChatCallInput, ChatCallOutput, EmbedOutput, ProviderAdapter } from '../types';
import { geminiFailure } from './errors';
import { answerText, configOf, finishOf, toGeminiContents, toolCallOf, usageOf } from './mapping';

/** The most texts one batchEmbedContents call takes. */
export const EMBED_BATCH = 100;

export interface GoogleAdapterOptions {
  providerId: string;
  apiKey: string;
  /** Default: Google's endpoint (`https://generativelanguage.googleapis.com`). */
  baseURL?: string;
  /** Default: the client's (`v1beta`). */
  apiVersion?: string;
  timeoutMs: number;
  /** Sent with every call (an instance's configured headers). */
  headers?: Record<string, string>;
}

export class GoogleAdapter implements ProviderAdapter {
  readonly providerId: string;
  private readonly client: GoogleGenAI;

  constructor(opts: GoogleAdapterOptions) {
    this.providerId = opts.providerId;
    this.client = new GoogleGenAI({
      // Explicit: neither GOOGLE_GENAI_USE_VERTEXAI nor a key in the environment decides for us.
      vertexai: false,
      apiKey: opts.apiKey,
      ...(opts.apiVersion !== undefined && { apiVersion: opts.apiVersion }),
      httpOptions: {
        ...(opts.baseURL !== undefined && { baseUrl: opts.baseURL }),
        ...(opts.headers && { headers: opts.headers }),
        timeout: opts.timeoutMs,
        // The global fetch, as the openai and Anthropic clients use it. Without one the client
        // reaches for undici's global dispatcher through its own global, which a sandboxed
        // global (a Jest or vm context) does not have: every call would fail as a connection error.
        fetch: (input, init) => fetch(input, init),
      },
    });
  }

  /** Our signal, and the client's timeout as a backstop a little past ours. */
  private callConfig(
    signal: AbortSignal,
    timeoutMs: number | undefined,
  ): Pick<GenerateContentConfig, 'abortSignal' | 'httpOptions'> {
    const o = sdkOptions(signal, timeoutMs);
    return { abortSignal: o.signal, ...(o.timeout !== undefined && { httpOptions: { timeout: o.timeout } }) };
  }

  /** Runs a call, its errors read as Gemini's. */
  private async mapped<T>(model: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw geminiFailure(err, this.providerId, model);
    }
  }

  private paramsOf(input: ChatCallInput) {
    const { systemInstruction, contents } = toGeminiContents(input.messages);
    return { model: input.model, contents, config: configOf(input, systemInstruction) };
  }

  /** A prompt Gemini refused to answer at all. */
  private blocked(res: GenerateContentResponse, model: string) {
    const reason = res.promptFeedback?.blockReason;
    if (!reason) return undefined;
    return failure('ContentFiltered', `${this.providerId}/${model}: the prompt was blocked (${reason})`, {
      provider: this.providerId,
      model,
      providerCode: reason,
    });
  }

  async chat(input: ChatCallInput, options: CallOptions = {}): Promise<ChatCallOutput> {
    return this.mapped(input.model, async () => {
      const params = this.paramsOf(input);
      const res = await withDeadline(options.timeoutMs, options.signal, (signal) =>
        this.client.models.generateContent({
          ...params,
          config: { ...params.config, ...this.callConfig(signal, options.timeoutMs) },
        }),
      );
      const refused = this.blocked(res, input.model);
      if (refused) throw refused;
      const candidate = res.candidates?.[0];
      if (!candidate) throw new SyntaxError('response has neither candidates nor a block reason');
      const parts = candidate.content?.parts ?? [];
      const text = parts.map(answerText).join('');
      const toolCalls = parts.flatMap((p) => toolCallOf(p) ?? []);
      const usage = usageOf(res);
      return {
        // OpenAI's shape: no text beside the tool calls is null, not ''.
        content: text === '' && toolCalls.length ? null : text,
        ...(toolCalls.length && { toolCalls }),
        finishReason: finishOf(candidate.finishReason, toolCalls.length > 0),
        inputTokens: usage.input ?? countMessageTokens(input.messages),
        outputTokens: usage.output ?? countTokens(text + toolCalls.map((c) => c.function.arguments).join('')),
        providerModel: res.modelVersion || input.model,
        ...(res.responseId && { providerRequestId: res.responseId }),
      };
    });
  }

  async chatStream(
    input: ChatCallInput,
    options: CallOptions & { limits: StreamLimits },
    onDelta: (d: StreamDelta) => void,
  ): Promise<ChatCallOutput> {
    return this.mapped(input.model, () =>
      withStreamDeadlines(options.timeoutMs, options.signal, options.limits, async (signal, tick) => {
        const params = this.paramsOf(input);
        const stream = await this.client.models.generateContentStream({
          ...params,
          config: { ...params.config, ...this.callConfig(signal, options.timeoutMs) },
        });
        const answer = emptyAnswer();
        let finish: string | undefined;
        let usage: { input?: number; output?: number } = {};
        let model = input.model;
        let id: string | undefined;
        let tools = 0;
        for await (const chunk of stream) {
          const refused = this.blocked(chunk, input.model);
          if (refused) throw refused;
          id ??= chunk.responseId;
          model = chunk.modelVersion || model;
          // Every chunk carries the counts so far; the last one the totals.
          if (chunk.usageMetadata) usage = usageOf(chunk);
          const candidate = chunk.candidates?.[0];
          finish = candidate?.finishReason ?? finish;
          const parts = candidate?.content?.parts ?? [];
          // Thought parts (and their signatures) show the model at work, though not relayed.
          if (parts.length || candidate?.finishReason) tick();
          const content = parts.map(answerText).join('');
          // Gemini sends each function call whole, in one part.
          const calls = parts.flatMap((p) => toolCallOf(p) ?? []);
          const d: StreamDelta = {
            ...(content && { content }),
            ...(calls.length && {
              toolCalls: calls.map((c) => ({
                index: tools++,
                id: c.id,
                type: 'function' as const,
                function: c.function,
              })),
            }),
          };
          if (d.content !== undefined || d.toolCalls !== undefined) {
            addDelta(answer, d);
            onDelta(d);
          }
        }
        if (finish === undefined)
          throw new Error(`the stream ended after ${answer.chunks} chunks without a finishReason`);
        const parts = answerParts(answer);
        const toolCalls = parts.toolCalls ?? [];
        return {
          ...parts,
          finishReason: finishOf(finish, toolCalls.length > 0),
          inputTokens: usage.input ?? countMessageTokens(input.messages),
          outputTokens:
            usage.output ?? countTokens(answer.content + toolCalls.map((c) => c.function.arguments).join('')),
          providerModel: model,
          ...(id !== undefined && { providerRequestId: id }),
        };
      }),
    );
  }

  async embed(model: string, input: string[], options: CallOptions = {}): Promise<EmbedOutput> {
    return this.mapped(model, async () => {
      // batchEmbedContents takes at most 100 texts: one call per hundred, in order, within one deadline.
      const embeddings = await withDeadline(options.timeoutMs, options.signal, async (signal) => {
        const out: Array<number[] | undefined> = [];
        for (let i = 0; i < input.length; i += EMBED_BATCH) {
          const batch = input.slice(i, i + EMBED_BATCH);
          const res = await this.client.models.embedContent({
            model,
            contents: batch,
            config: this.callConfig(signal, options.timeoutMs),
          });
          const vectors = res.embeddings?.map((e) => e.values) ?? [];
          if (vectors.length !== batch.length)
            throw new SyntaxError(`embeddings response has ${vectors.length} vectors for ${batch.length} inputs`);
          out.push(...vectors);
        }
        return out;
      });
      if (embeddings.some((v) => !Array.isArray(v))) throw new SyntaxError('embeddings response has an empty vector');
      // The Gemini API reports no token count for embeddings: counted here.
      return {
        embeddings: embeddings as number[][],
        inputTokens: input.reduce((n, text) => n + countTokens(text), 0),
        providerModel: model,
      };
    });
  }
}
