/**
 * A fake AWS Bedrock runtime speaking Converse's real REST wire format as
 * `@aws-sdk/client-bedrock-runtime` sends it: `POST /model/{modelId}/converse` (JSON) and
 * `/model/{modelId}/converse-stream` (binary `application/vnd.amazon.eventstream` frames), the
 * model id URL-encoded in the path, errors as `x-amzn-errortype` with a JSON `{message}` body.
 * It speaks HTTP/2 (cleartext): the client's default handler is its HTTP/2 one.
 * It answers as `test/contract/fixture.ts` says.
 */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { EventStreamCodec, type MessageHeaders } from '@smithy/core/event-streams';
import { CONTRACT_ANSWER, CONTRACT_JSON, CONTRACT_TOOL_ARGS, type Fault, type WireFake } from '../../contract/fixture';
import { listenLocal, wireFakeOf, wireRecord } from './wireRecord';

/**
 * How a call breaks. A stream, after its first piece: an exception event, the connection's end
 * without messageStop, or silence. `hang`: no answer at all (streamed or not).
 */
export type StreamBreak = 'model-stream-error' | 'cut' | 'stall' | 'hang';

export interface BedrockFake extends WireFake {
  /** Calls for the model break so (until `clear()`). */
  breakStream(model: string, how: StreamBreak): void;
}

export interface BedrockFakeOptions {
  /** Also accept calls signed with SigV4 by this access key id (the signature itself is not checked). */
  sigV4AccessKeyId?: string;
}

/** A guardrail's canned reply: Bedrock answers 200 with it and stopReason `guardrail_intervened`. */
export const GUARDRAIL_TEXT = 'Sorry, the model cannot answer this question.';

const USAGE = { inputTokens: 12, outputTokens: 7, totalTokens: 19 };

const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes).toString('utf8'),
  (text) => new Uint8Array(Buffer.from(text, 'utf8')),
);

const str = (value: string) => ({ type: 'string' as const, value });

/** One event frame of the stream, as Bedrock encodes it (`p`: the padding it adds to each event). */
function eventFrame(type: string, payload: Record<string, unknown>): Uint8Array {
  const headers: MessageHeaders = {
    ':event-type': str(type),
    ':content-type': str('application/json'),
    ':message-type': str('event'),
  };
  return codec.encode({ headers, body: Buffer.from(JSON.stringify({ ...payload, p: 'abcdefgh' })) });
}

/** An exception inside the stream (`:exception-type` is the stream union's member name). */
function exceptionFrame(member: string, payload: Record<string, unknown>): Uint8Array {
  const headers: MessageHeaders = {
    ':exception-type': str(member),
    ':content-type': str('application/json'),
    ':message-type': str('exception'),
  };
  return codec.encode({ headers, body: Buffer.from(JSON.stringify(payload)) });
}

interface ErrorReply {
  status: number;
  type: string;
  message: string;
}

function faultReply(fault: Fault): ErrorReply | 'guardrail' {
  switch (fault) {
    case 'rate-limit':
      // Bedrock's throttling carries no Retry-After.
      return {
        status: 429,
        type: 'ThrottlingException',
        message: 'Too many requests, please wait before trying again.',
      };
    case 'server-error':
      return {
        status: 503,
        type: 'ServiceUnavailableException',
        message: 'Bedrock is unable to process your request.',
      };
    case 'context-length':
      return { status: 400, type: 'ValidationException', message: 'Input is too long for requested model.' };
    case 'content-filter':
      return 'guardrail';
  }
}

/** What the model answers: a forced tool's CONTRACT_JSON, the first tool's call, or text. */
function answerOf(body: any): { kind: 'text'; text: string } | { kind: 'tool'; name: string; input: unknown } {
  const forced: string | undefined = body?.toolConfig?.toolChoice?.tool?.name;
  if (forced) return { kind: 'tool', name: forced, input: CONTRACT_JSON };
  const first: string | undefined = body?.toolConfig?.tools?.[0]?.toolSpec?.name;
  if (first) return { kind: 'tool', name: first, input: CONTRACT_TOOL_ARGS };
  return { kind: 'text', text: CONTRACT_ANSWER };
}

/** The text in pieces of a word or so (at least two). */
function pieces(text: string): string[] {
  const words = text.split(/(?<= )/);
  return words.length >= 2 ? words : [text.slice(0, 1), text.slice(1)];
}

export async function startBedrockFake(acceptedKey: string, options: BedrockFakeOptions = {}): Promise<BedrockFake> {
  const breaks = new Map<string, StreamBreak>();
  const record = wireRecord(() => breaks.clear());
  const { calls, faults } = record;
  const sessions = new Set<http2.ServerHttp2Session>();

  const accepted = (auth: string | undefined): boolean => {
    if (auth === `Bearer ${acceptedKey}`) return true;
    const id = options.sigV4AccessKeyId;
    return id !== undefined && auth !== undefined && auth.startsWith(`AWS4-HMAC-SHA256 Credential=${id}/`);
  };

  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const requestId = randomUUID();
      const sendError = (e: ErrorReply) => {
        res.writeHead(e.status, {
          'content-type': 'application/json',
          'x-amzn-requestid': requestId,
          'x-amzn-errortype': `${e.type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
        });
        res.end(JSON.stringify({ message: e.message }));
      };
      const route = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(req.url.split('?')[0]!);
      if (req.method !== 'POST' || !route) {
        res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'UnknownOperationException' });
        res.end(JSON.stringify({ message: `no route for ${req.method} ${req.url}` }));
        return;
      }
      const model = decodeURIComponent(route[1]!);
      const streamed = route[2] === 'converse-stream';
      let body: any;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      } catch {
        sendError({ status: 400, type: 'SerializationException', message: 'Malformed JSON' });
        return;
      }
      calls.push({ method: req.method, url: req.url, headers: req.headers, body, model, streamed });

      const auth = req.headers.authorization;
      if (!accepted(auth)) {
        // The key it was sent, echoed on purpose: the suite checks Switchyard redacts it.
        const sent = String(auth ?? '').replace(/^Bearer\s+/i, '');
        sendError({
          status: 403,
          type: 'AccessDeniedException',
          message: `Authentication failed: Please make sure your API Key is valid (${sent}).`,
        });
        return;
      }
      const broken = breaks.get(model);
      // Held open, unanswered, until the client gives up (or the fake closes).
      if (broken === 'hang') return;
      const fault = faults.get(model);
      const reply = fault && faultReply(fault);
      if (reply && reply !== 'guardrail') return sendError(reply);
      const answer = reply === 'guardrail' ? { kind: 'text' as const, text: GUARDRAIL_TEXT } : answerOf(body);
      const stopReason =
        reply === 'guardrail' ? 'guardrail_intervened' : answer.kind === 'tool' ? 'tool_use' : 'end_turn';
      const toolUseId = `tooluse_${randomUUID().replace(/-/g, '').slice(0, 22)}`;

      if (!streamed) {
        res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
        res.end(
          JSON.stringify({
            output: {
              message: {
                role: 'assistant',
                content: [
                  answer.kind === 'text'
                    ? { text: answer.text }
                    : { toolUse: { toolUseId, name: answer.name, input: answer.input } },
                ],
              },
            },
            stopReason,
            usage: USAGE,
            metrics: { latencyMs: 5 },
          }),
        );
        return;
      }

      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': requestId });
      const frames: Uint8Array[] = [eventFrame('messageStart', { role: 'assistant' })];
      if (answer.kind === 'text') {
        // Bedrock opens no text block with contentBlockStart: its first delta does.
        for (const text of pieces(answer.text))
          frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text } }));
      } else {
        frames.push(
          eventFrame('contentBlockStart', {
            contentBlockIndex: 0,
            start: { toolUse: { toolUseId, name: answer.name } },
          }),
        );
        const json = JSON.stringify(answer.input);
        const cut = Math.ceil(json.length / 2);
        for (const input of [json.slice(0, cut), json.slice(cut)])
          frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input } } }));
      }
      frames.push(eventFrame('contentBlockStop', { contentBlockIndex: 0 }));
      frames.push(eventFrame('messageStop', { stopReason }));
      frames.push(eventFrame('metadata', { usage: USAGE, metrics: { latencyMs: 5 } }));
      if (broken) {
        // The opening and the first piece, then the break.
        res.write(frames[0]!);
        res.write(frames[1]!);
        if (broken === 'model-stream-error')
          res.write(
            exceptionFrame('modelStreamErrorException', {
              message: 'The model stream failed.',
              originalStatusCode: 500,
              originalMessage: 'stream error',
            }),
          );
        if (broken !== 'stall') res.end();
        return;
      }
      for (const f of frames) res.write(f);
      res.end();
    });
  });

  return {
    url: await listenLocal(server),
    ...wireFakeOf(record),
    breakStream: (model, how) => void breaks.set(model, how),
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
