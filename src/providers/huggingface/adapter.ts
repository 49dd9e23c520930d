/**
 * The OpenAI adapter over a client that keeps HF's error bodies: the `openai` SDK keeps only a
 * body's `error` field, and HF's `estimated_time` sits beside it.
 */
import OpenAI, { APIError } from 'openai';
import type { FinalRequestOptions } from 'openai/internal/request-options';
import type { StreamDelta } from '../../domain/stream';
import type { StreamLimits } from '../deadline';
import type { AdapterContext } from '../kind';
import { OpenAIAdapter } from '../openai/adapter';
import type { CallOptions, ChatCallInput, ChatCallOutput, ProviderAdapter } from '../types';
import { hfFailure } from './errors';

/** The whole error body each status error was made from. */
const bodies = new WeakMap<APIError, unknown>();

class HuggingFaceClient extends OpenAI {
  constructor(
    opts: ConstructorParameters<typeof OpenAI>[0],
    private readonly keyless: boolean,
  ) {
    super(opts);
  }

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

  // No token: no Authorization header (a private TGI endpoint), not a placeholder.
  protected override authHeaders(opts: FinalRequestOptions): ReturnType<OpenAI['authHeaders']> {
    return this.keyless ? Promise.resolve(undefined) : super.authHeaders(opts);
  }
}

export class HuggingFaceAdapter implements ProviderAdapter {
  readonly providerId: string;
  private readonly inner: OpenAIAdapter;
  private readonly apiKey: string | null;

  constructor(ctx: AdapterContext & { baseURL: string }) {
    this.providerId = ctx.providerId;
    this.apiKey = ctx.apiKey;
    const client = new HuggingFaceClient(
      {
        apiKey: ctx.apiKey ?? 'none',
        baseURL: ctx.baseURL,
        // Not OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment: they are OpenAI's, not HF's.
        organization: null,
        project: null,
        maxRetries: 0,
        timeout: ctx.timeoutMs,
        ...(ctx.headers && { defaultHeaders: ctx.headers }),
      },
      ctx.apiKey === null,
    );
    this.inner = new OpenAIAdapter({ providerId: ctx.providerId, apiKey: '', timeoutMs: ctx.timeoutMs, client });
  }

  private mapped(err: unknown, model: string): unknown {
    return hfFailure(err, err instanceof APIError ? bodies.get(err) : undefined, this.providerId, model, this.apiKey);
  }

  async chat(input: ChatCallInput, options?: CallOptions): Promise<ChatCallOutput> {
    try {
      return await this.inner.chat(input, options);
    } catch (err) {
      throw this.mapped(err, input.model);
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
      throw this.mapped(err, input.model);
    }
  }
}
