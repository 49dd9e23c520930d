/**
 * What the OpenAI-wire kinds (`openai`, `openai-compatible`, `azure-openai`, `huggingface`) share:
 * how their `openai` clients are built, a client that can send no key, and the adapter that maps
 * a kind's own error bodies onto our failures around the OpenAI adapter.
 */
import OpenAI, { type ClientOptions } from 'openai';
import type { FinalRequestOptions } from 'openai/internal/request-options';
import type { StreamDelta } from '../../domain/stream';
import type { AdapterContext } from '../kind';
import type { CallOptions, ChatCallInput, ChatCallOutput, EmbedOutput, ProviderAdapter, StreamOptions } from '../types';
import type { OpenAIAdapter } from './adapter';

/**
 * The options every OpenAI-wire client is built with: no SDK retries (Temporal owns retries: a
 * hidden one would double the attempts and hide them from history), the instance's timeout and
 * headers. OPENAI_ORG_ID / OPENAI_PROJECT_ID are OpenAI's: only OpenAI's own API (`openaiEnvironment`)
 * lets the SDK read them; any other server gets none (an instance's `headers` may carry one on purpose).
 */
export function openaiClientOptions(
  ctx: Pick<AdapterContext, 'timeoutMs' | 'headers'>,
  opts: { openaiEnvironment?: boolean } = {},
): ClientOptions {
  return {
    ...(!opts.openaiEnvironment && { organization: null, project: null }),
    maxRetries: 0,
    timeout: ctx.timeoutMs,
    ...(ctx.headers && { defaultHeaders: ctx.headers }),
  };
}

/** An OpenAI client that, `keyless`, sends no `Authorization` header at all (not a placeholder). */
export class OpenAIWireClient extends OpenAI {
  constructor(
    opts: ClientOptions,
    private readonly keyless: boolean,
  ) {
    super(opts);
  }

  protected override authHeaders(opts: FinalRequestOptions): ReturnType<OpenAI['authHeaders']> {
    return this.keyless ? Promise.resolve(undefined) : super.authHeaders(opts);
  }
}

/**
 * The OpenAI adapter with a kind's error mapping around each call (Azure's content filter, HF's
 * own bodies). `embeddings: false`: no `embed` at all (the kind declares none).
 */
export class ErrorMappingAdapter implements ProviderAdapter {
  readonly providerId: string;
  readonly embed?: (model: string, input: string[], options?: CallOptions) => Promise<EmbedOutput>;

  constructor(
    private readonly inner: OpenAIAdapter,
    private readonly mapError: (err: unknown, model: string) => unknown,
    opts: { embeddings: boolean },
  ) {
    this.providerId = inner.providerId;
    if (opts.embeddings)
      this.embed = (model, input, options) => this.mapped(model, () => this.inner.embed(model, input, options));
  }

  private async mapped<T>(model: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw this.mapError(err, model);
    }
  }

  chat(input: ChatCallInput, options?: CallOptions): Promise<ChatCallOutput> {
    return this.mapped(input.model, () => this.inner.chat(input, options));
  }

  chatStream(input: ChatCallInput, options: StreamOptions, onDelta: (d: StreamDelta) => void): Promise<ChatCallOutput> {
    return this.mapped(input.model, () => this.inner.chatStream(input, options, onDelta));
  }
}
