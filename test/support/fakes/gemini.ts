/**
 * A fake Gemini API (generativelanguage.googleapis.com) speaking its REST wire format as the
 * official `@google/genai` client calls it:
 *  - `POST /{version}/models/{model}:generateContent` → a GenerateContentResponse;
 *  - `POST /{version}/models/{model}:streamGenerateContent?alt=sse` → `data: {GenerateContentResponse}`
 *    events, CRLF-separated as Google sends them, the last with `finishReason` and the totals;
 *  - `POST /{version}/models/{model}:batchEmbedContents` (and `:embedContent`) → embeddings.
 * The content-filter fault blocks the prompt (`promptFeedback.blockReason`, a 200 without
 * candidates) unstreamed, and the answer (a candidate with `finishReason: SAFETY`, no text) streamed.
 * The key comes in `x-goog-api-key` (or `?key=`); a wrong one gets Google's 400 API_KEY_INVALID
 * body, the key echoed in its message. Errors are Google's `{error: {code, message, status, details}}`.
 */
import http from 'node:http';
import {
  CONTRACT_ANSWER,
  CONTRACT_EMBEDDING,
  CONTRACT_JSON,
  CONTRACT_TOOL_ARGS,
  type Fault,
  type WireFake,
} from '../../contract/fixture';
import { closeServer, listenLocal, wireFakeOf, wireRecord } from './wireRecord';

/** The retry delay the 429 asks for (short: tests wait it out). */
export const GEMINI_RETRY_DELAY = '0.05s';

const ROUTE = /^\/([^/]+)\/models\/([^/:]+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;

/** Google's error body. */
export function geminiError(code: number, status: string, message: string, details: unknown[] = []) {
  return { error: { code, message, status, ...(details.length && { details }) } };
}

/** The bodies each fault answers with: status and Google's error, or a 200 that blocks the prompt. */
export function faultBody(fault: Fault): { status: number; body: unknown } {
  switch (fault) {
    case 'rate-limit':
      return {
        status: 429,
        body: geminiError(
          429,
          'RESOURCE_EXHAUSTED',
          'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: gemini-2.5-flash\nPlease retry in 50ms.',
          [
            {
              '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
              violations: [
                {
                  quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
                  quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
                  quotaDimensions: { location: 'global', model: 'gemini-2.5-flash' },
                  quotaValue: '10',
                },
              ],
            },
            {
              '@type': 'type.googleapis.com/google.rpc.Help',
              links: [
                {
                  description: 'Learn more about Gemini API quotas',
                  url: 'https://ai.google.dev/gemini-api/docs/rate-limits',
                },
              ],
            },
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: GEMINI_RETRY_DELAY },
          ],
        ),
      };
    case 'server-error':
      return {
        status: 503,
        body: geminiError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'),
      };
    case 'context-length':
      return {
        status: 400,
        body: geminiError(
          400,
          'INVALID_ARGUMENT',
          'The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).',
        ),
      };
    case 'content-filter':
      // Gemini blocks a prompt with a 200: no candidates, the reason in promptFeedback.
      return {
        status: 200,
        body: {
          promptFeedback: {
            blockReason: 'SAFETY',
            safetyRatings: [
              { category: 'HARM_CATEGORY_HARASSMENT', probability: 'HIGH', blocked: true },
              { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'NEGLIGIBLE' },
            ],
          },
          usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 },
          modelVersion: 'gemini-2.5-flash',
        },
      };
  }
}

/** An answer blocked as it was generated: the candidate's finishReason SAFETY and no content. */
export const blockedAnswer = (model: string) => ({
  candidates: [
    {
      finishReason: 'SAFETY',
      index: 0,
      safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }],
    },
  ],
  usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 },
  modelVersion: model,
});

/** The API's refusal of a key (it comes as a 400, not a 401), quoting the key it was sent. */
export const badKeyBody = (key: string) =>
  geminiError(400, 'INVALID_ARGUMENT', `API key not valid. Please pass a valid API key. (sent: ${key})`, [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'API_KEY_INVALID',
      domain: 'googleapis.com',
      metadata: { service: 'generativelanguage.googleapis.com' },
    },
    {
      '@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
      locale: 'en-US',
      message: 'API key not valid. Please pass a valid API key.',
    },
  ]);

const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/** What the request asked for, in Gemini's request shape: a function call, JSON, or text. */
function answerOf(body: any): { text?: string; call?: { name: string; args: Record<string, unknown> } } {
  const first = (body?.tools ?? []).flatMap((t: any) => t.functionDeclarations ?? [])[0];
  if (first && body?.toolConfig?.functionCallingConfig?.mode !== 'NONE')
    return { call: { name: first.name, args: CONTRACT_TOOL_ARGS } };
  const g = body?.generationConfig ?? {};
  if (g.responseJsonSchema !== undefined || g.responseSchema !== undefined)
    return { text: JSON.stringify(CONTRACT_JSON) };
  return { text: CONTRACT_ANSWER };
}

export async function startGeminiFake(acceptedKey: string): Promise<WireFake> {
  const record = wireRecord();
  const { calls, faults } = record;
  let n = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = undefined;
      }
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(JSON.stringify(payload));
      };
      const route = ROUTE.exec(url.pathname);
      const model = route?.[2] ?? '';
      const method = route?.[3];
      const streamed = method === 'streamGenerateContent' && url.searchParams.get('alt') === 'sse';
      calls.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, model, streamed });

      const key = (req.headers['x-goog-api-key'] as string | undefined) ?? url.searchParams.get('key') ?? undefined;
      if (key !== acceptedKey) {
        if (key === undefined)
          return send(
            403,
            geminiError(
              403,
              'PERMISSION_DENIED',
              "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            ),
          );
        return send(400, badKeyBody(key));
      }
      if (req.method !== 'POST' || !route || body === undefined)
        return send(
          404,
          geminiError(
            404,
            'NOT_FOUND',
            `models/${model || '?'} is not found for API version ${route?.[1] ?? 'v1beta'}, or is not supported for ${method ?? 'this method'}.`,
          ),
        );

      if (method === 'batchEmbedContents' || method === 'embedContent') {
        const fault = faults.get(model);
        if (fault && fault !== 'content-filter') {
          const f = faultBody(fault);
          return send(f.status, f.body);
        }
        if (method === 'embedContent') return send(200, { embedding: { values: CONTRACT_EMBEDDING } });
        const requests: unknown[] = Array.isArray(body.requests) ? body.requests : [];
        return send(200, { embeddings: requests.map(() => ({ values: CONTRACT_EMBEDDING })) });
      }

      const fault = faults.get(model);
      if (fault) {
        if (fault === 'content-filter' && streamed) {
          // Streamed, the block shown here is the answer's: a candidate stopped for SAFETY, no text.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          return res.end(`data: ${JSON.stringify(blockedAnswer(model))}\r\n\r\n`);
        }
        const f = faultBody(fault);
        return send(f.status, f.body);
      }

      const prompt = tokens(JSON.stringify(body.contents ?? []) + JSON.stringify(body.systemInstruction ?? ''));
      const answer = answerOf(body);
      const id = `fake-gemini-${++n}`;
      const usage = (output: number) => ({
        promptTokenCount: prompt,
        ...(output > 0 && { candidatesTokenCount: output }),
        totalTokenCount: prompt + output,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
      });
      const response = (parts: unknown[], finish: boolean, output: number) => ({
        candidates: [{ content: { parts, role: 'model' }, ...(finish && { finishReason: 'STOP' }), index: 0 }],
        usageMetadata: usage(output),
        modelVersion: model,
        responseId: id,
      });
      const parts = answer.call ? [{ functionCall: answer.call }] : [{ text: answer.text! }];
      const output = tokens(JSON.stringify(parts));
      if (!streamed) return send(200, response(parts, true, output));

      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (answer.call) {
        res.end(`data: ${JSON.stringify(response(parts, true, output))}\r\n\r\n`);
        return;
      }
      // Text in pieces of a few words, the last one with the finish reason and the totals.
      const words = answer.text!.split(/(?<= )/);
      const pieces = words.length >= 2 ? [words.slice(0, 2).join(''), words.slice(2).join('')].filter(Boolean) : words;
      pieces.forEach((piece, i) => {
        const last = i === pieces.length - 1;
        res.write(`data: ${JSON.stringify(response([{ text: piece }], last, last ? output : 0))}\r\n\r\n`);
      });
      res.end();
    });
  });
  return {
    url: await listenLocal(server),
    ...wireFakeOf(record),
    close: () => closeServer(server),
  };
}
