/** A request as the API stored it: its operation and body, read back by the activities that need the text. */
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../src/db';
import * as requests from '../src/db/requests';
import { ChatCompletionRequestSchema, type ChatMessage } from '../src/domain/chat';
import { OperationBodySchemas, operationMessages } from '../src/domain/operations';
import type { Operation } from '../src/domain/request';
import { classifyInputOf as classifyInputOfBody } from '../src/services/classifiers';

export interface StoredRequest {
  operation: Operation;
  body: Record<string, unknown>;
  /** When the API accepted it: the request's end-to-end latency runs from here. */
  createdAt: number;
  /** Its session, when its decision read the session's pin: the answer becomes the pin. */
  session?: string;
  tenantId?: string;
}

/** `original`: the client's body even when the decision fitted the conversation (issue 26). */
export async function loadRequest(
  db: Db,
  requestId: string,
  opts: { original?: boolean } = {},
): Promise<StoredRequest> {
  return storedRequestOf(requestId, await requests.getRequestBody(db, requestId, opts));
}

export function storedRequestOf(requestId: string, row: requests.StoredBody | undefined): StoredRequest {
  if (!row) throw ApplicationFailure.nonRetryable(`request ${requestId} is not in the database`, 'RequestNotFound');
  return {
    operation: row.operation as Operation,
    body: row.body as Record<string, unknown>,
    createdAt: new Date(row.created_at).getTime(),
    ...(row.tenant_id && { tenantId: row.tenant_id }),
    ...(row.session_key && { session: row.session_key }),
  };
}

/** What classification reads of a request: its messages and output cap (the body parsed once). */
export function classifyInputOf(r: StoredRequest): { messages: ChatMessage[]; maxOutputTokens?: number } {
  return classifyInputOfBody(r.operation, r.body);
}

/** The chat messages a request sends (for chat, the client's; for operations, their prompt). */
export function messagesOf(r: StoredRequest): ChatMessage[] {
  if (r.operation === 'chat') return ChatCompletionRequestSchema.parse(r.body).messages;
  if (r.operation === 'embed') {
    const input = OperationBodySchemas.embed.parse(r.body).input;
    return [{ role: 'user', content: Array.isArray(input) ? input.join('\n') : input }];
  }
  return operationMessages(r.operation, r.body);
}
