/**
 * What the provider contract suite (`providers.contract.test.ts`) needs from each kind: a fake
 * server speaking the kind's real wire format, the catalog entry of an instance pointing at it,
 * and how to read, in the kind's own request shape, what that server was sent.
 *
 * Every fake answers the same way, so one suite checks every kind:
 *  - text: CONTRACT_ANSWER (streamed in at least two pieces when the request streams);
 *  - tools offered: a call of the first tool with CONTRACT_TOOL_ARGS;
 *  - an answer schema asked for (natively, or as a forced tool): CONTRACT_JSON;
 *  - embeddings: CONTRACT_EMBEDDING per input;
 *  - a key other than the one it was started with: the provider's own 401/403 body, with the key
 *    it was sent echoed in the message (as some providers do), so redaction is checked too;
 *  - `fail(model, fault)`: every call for that model fails that way, in the provider's real
 *    shape, until `clear()`.
 */
import type http from 'node:http';

export const CONTRACT_ANSWER = 'The answer is 42.';
export const CONTRACT_TOOL_ARGS = { city: 'Paris' };
export const CONTRACT_JSON = { answer: '42' };
export const CONTRACT_EMBEDDING = [0.25, -0.5, 0.75];
/** The tool every tool request offers. */
export const CONTRACT_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
/** The schema every structured-output request asks for. */
export const CONTRACT_SCHEMA = {
  name: 'answer',
  schema: {
    type: 'object',
    properties: { answer: { type: 'string' } },
    required: ['answer'],
    additionalProperties: false,
  },
};
/** A 1×1 PNG, as the image every vision request sends (a data URL). */
export const CONTRACT_PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/**
 * The faults every kind's fake can play, each in the provider's real shape:
 *  - `rate-limit`: its 429 (or throttling error) with its retry hint;
 *  - `server-error`: its 5xx;
 *  - `context-length`: its "prompt too long" 400;
 *  - `content-filter`: its content-filter block (an error or a filtered answer, as it does it).
 */
export type Fault = 'rate-limit' | 'server-error' | 'context-length' | 'content-filter';

export interface ReceivedCall {
  method: string;
  /** Path and query string. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body (undefined when there is none). */
  body: any;
  /** The model (or deployment) the call was for, as the wire format names it. */
  model: string;
  /** The call was answered with a stream. */
  streamed: boolean;
}

export interface WireFake {
  /** Where the instance's `baseUrl` points. */
  url: string;
  calls: ReceivedCall[];
  callsFor(model: string): ReceivedCall[];
  fail(model: string, fault: Fault): void;
  /** Forget faults and calls. */
  clear(): void;
  close(): Promise<void>;
}

export interface KindFixture {
  /** The registered kind name. */
  kind: string;
  /** Starts the fake; it accepts only `acceptedKey` (how the kind sends keys is the fake's concern). */
  start(acceptedKey: string): Promise<WireFake>;
  /**
   * A catalog instance of the kind on the fake (kind, baseUrl, apiVersion, region…), its key left
   * to the test stack (the stack's workers hold `providerSecret(id)` for every provider id).
   */
  instance(id: string, fake: WireFake): Record<string, unknown>;
  /** The chat model (Azure: the deployment) the fake serves; and the embeddings model, if the kind has embeddings. */
  chatModel: string;
  embedModel?: string;
  /** How the kind's request shape says what it asked for. */
  saw: {
    /** The tool names offered. */
    tools(call: ReceivedCall): string[];
    /** An answer schema was asked for (natively or as a forced tool). */
    schema(call: ReceivedCall): boolean;
    /** An image was sent, as the PNG bytes of CONTRACT_PNG_BASE64. */
    image(call: ReceivedCall): boolean;
    /** The key as the call carried it (for the bad-key case: the fake was sent the wrong one). */
    key(call: ReceivedCall): string | undefined;
  };
}
