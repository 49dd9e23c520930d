/**
 * A provider kind: one wire format and its SDK, owned by one folder under `src/providers/`.
 * The folder maps requests and answers, errors onto our failure classes (by throwing `failure()`
 * where the SDK's error is not one `toProviderFailure` already reads), and declares what the
 * wire format can do. `kinds.ts` registers every kind in one map; the contract suite
 * (`test/contract/`) runs over each registered kind and fails for one without its fixture.
 */
import type { ContinuationStyle } from '../domain/catalog';
import type { ProviderAdapter } from './types';

/** What a kind's wire format carries. A capability declared false is one the contract suite checks is absent. */
export interface KindCapabilities {
  stream: boolean;
  tools: boolean;
  /** A JSON Schema for the answer (structured output), natively or through a forced tool. */
  structuredOutput: boolean;
  /** Images in user messages. */
  vision: boolean;
  embeddings: boolean;
}

/** Everything an adapter is built from: the catalog instance, resolved. */
export interface AdapterContext {
  providerId: string;
  /** The key, resolved from the instance's reference; `null`: the instance sends none. */
  apiKey: string | null;
  baseURL?: string;
  headers?: Record<string, string>;
  apiVersion?: string;
  region?: string;
  /** How an OpenAI-wire server continues a partial answer (the instance's `continuation`). */
  continuation?: ContinuationStyle;
  /** The client's default timeout (each call passes its own too). */
  timeoutMs: number;
}

export interface ProviderKind {
  /** The name a catalog instance gives as `kind`. */
  readonly name: string;
  /** One line for `GET /v1/providers` and the docs. */
  readonly label: string;
  readonly capabilities: KindCapabilities;
  /**
   * What an instance must set: `baseUrl` (Azure's resource endpoint, a self-hosted server),
   * `apiVersion`, `region` (Bedrock). Checked when a configuration is stored or loaded.
   */
  readonly requires?: ReadonlyArray<'baseUrl' | 'apiVersion' | 'region'>;
  /**
   * No key is an answer (`null`) the kind can work with: Bedrock falls back to the AWS
   * credential chain, a local server may need none.
   */
  readonly keyOptional?: boolean;
  /**
   * With no key named, the SDK finds credentials of its own (Bedrock: the AWS chain). Such an
   * instance cannot say `credential: none`, and an API write may not point it somewhere new
   * without naming a key (`src/domain/credentials.ts`): those credentials are not sent elsewhere.
   */
  readonly ambientCredentials?: boolean;
  create(ctx: AdapterContext): ProviderAdapter;
}
