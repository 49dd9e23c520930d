/**
 * The OpenAI adapter over a client that keeps HF's error bodies: the `openai` SDK keeps only a
 * body's `error` field, and HF's `estimated_time` sits beside it.
 */
import { APIError } from 'openai';
import type { AdapterContext } from '../kind';
import { OpenAIAdapter } from '../openai/adapter';
import { ErrorMappingAdapter, openaiClientOptions, OpenAIWireClient } from '../openai/clientOptions';
import { hfFailure } from './errors';

/** The whole error body each status error was made from. */
const bodies = new WeakMap<APIError, unknown>();

/** No token: no Authorization header (a private TGI endpoint), not a placeholder. */
class HuggingFaceClient extends OpenAIWireClient {
  protected override makeStatusError(
    status: number,
    error: object,
    message: string | undefined,
    headers: Headers,
  ): APIError {
    const err = super.makeStatusError(status, error, message, headers);
    bodies.set(err, error);
    return err;
  }
}

/** Chat only: the router's OpenAI route has no embeddings. */
export class HuggingFaceAdapter extends ErrorMappingAdapter {
  constructor(ctx: AdapterContext & { baseURL: string }) {
    const client = new HuggingFaceClient(
      { ...openaiClientOptions(ctx), apiKey: ctx.apiKey ?? 'none', baseURL: ctx.baseURL },
      ctx.apiKey === null,
    );
    super(
      new OpenAIAdapter({
        providerId: ctx.providerId,
        apiKey: '',
        timeoutMs: ctx.timeoutMs,
        client,
        // A TGI endpoint continues with `continue_final_message`, as vLLM does.
        ...(ctx.continuation && { continuation: ctx.continuation }),
      }),
      (err, model) =>
        hfFailure(err, err instanceof APIError ? bodies.get(err) : undefined, ctx.providerId, model, ctx.apiKey),
      { embeddings: false },
    );
  }
}
