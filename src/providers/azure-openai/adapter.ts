/**
 * The OpenAI adapter over an `AzureOpenAI` client, with Azure's content-filter answers read as
 * ContentFiltered and the categories that tripped named (not the prompt, not the key).
 */
import { AzureOpenAI } from 'openai';
import type { StreamLimits } from '../deadline';
import type { AdapterContext } from '../kind';
import { OpenAIAdapter } from '../openai/adapter';
import type { StreamDelta } from '../../domain/stream';
import type { CallOptions, ChatCallInput, ChatCallOutput, EmbedOutput, ProviderAdapter } from '../types';
import { azureFailure } from './errors';

export class AzureOpenAIAdapter implements ProviderAdapter {
  readonly providerId: string;
  private readonly inner: OpenAIAdapter;

  constructor(ctx: AdapterContext) {
    this.providerId = ctx.providerId;
    if (!ctx.baseURL || !ctx.apiVersion)
      throw new Error(`azure-openai provider ${ctx.providerId} needs baseUrl (the resource endpoint) and apiVersion`);
    const client = new AzureOpenAI({
      // The SDK refuses to build without a key; an instance with none is answered 401 → AuthFailed.
      apiKey: ctx.apiKey ?? 'missing-key',
      // What `endpoint` would give (`<endpoint>/openai`), passed as baseURL: left unset, the client
      // would read OPENAI_BASE_URL from the environment and refuse an endpoint beside it.
      baseURL: `${ctx.baseURL.replace(/\/+$/, '')}/openai`,
      apiVersion: ctx.apiVersion,
      // Not OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment: those are OpenAI's, not Azure's.
      organization: null,
      project: null,
      maxRetries: 0,
      timeout: ctx.timeoutMs,
      ...(ctx.headers && { defaultHeaders: ctx.headers }),
    });
    this.inner = new OpenAIAdapter({ providerId: ctx.providerId, apiKey: '', timeoutMs: ctx.timeoutMs, client });
  }

  async chat(input: ChatCallInput, options?: CallOptions): Promise<ChatCallOutput> {
    try {
      return await this.inner.chat(input, options);
    } catch (err) {
      throw azureFailure(err, this.providerId, input.model);
    }
  }

  async chatStream(
    input: ChatCallInput,
    options: CallOptions & { limits: StreamLimits },
    onDelta: (d: StreamDelta) => void,
  ): Promise<ChatCallOutput> {
    try {
      return await this.inner.chatStream(input, options, onDelta);
    } catch (err) {
      throw azureFailure(err, this.providerId, input.model);
    }
  }

  async embed(model: string, input: string[], options?: CallOptions): Promise<EmbedOutput> {
    try {
      return await this.inner.embed(model, input, options);
    } catch (err) {
      throw azureFailure(err, this.providerId, model);
    }
  }
}
