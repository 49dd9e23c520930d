/**
 * The OpenAI adapter over an `AzureOpenAI` client, with Azure's content-filter answers read as
 * ContentFiltered and the categories that tripped named (not the prompt, not the key).
 */
import { AzureOpenAI } from 'openai';
import type { AdapterContext } from '../kind';
import { OpenAIAdapter } from '../openai/adapter';
import { ErrorMappingAdapter, openaiClientOptions } from '../openai/clientOptions';
import { azureFailure } from './errors';

export class AzureOpenAIAdapter extends ErrorMappingAdapter {
  constructor(ctx: AdapterContext) {
    if (!ctx.baseURL || !ctx.apiVersion)
      throw new Error(`azure-openai provider ${ctx.providerId} needs baseUrl (the resource endpoint) and apiVersion`);
    const client = new AzureOpenAI({
      ...openaiClientOptions(ctx),
      // The SDK refuses to build without a key; an instance with none is answered 401 → AuthFailed.
      apiKey: ctx.apiKey ?? 'missing-key',
      // What `endpoint` would give (`<endpoint>/openai`), passed as baseURL: left unset, the client
      // would read OPENAI_BASE_URL from the environment and refuse an endpoint beside it.
      baseURL: `${ctx.baseURL.replace(/\/+$/, '')}/openai`,
      apiVersion: ctx.apiVersion,
    });
    super(
      new OpenAIAdapter({ providerId: ctx.providerId, apiKey: '', timeoutMs: ctx.timeoutMs, client }),
      (err, model) => azureFailure(err, ctx.providerId, model),
      { embeddings: true },
    );
  }
}
