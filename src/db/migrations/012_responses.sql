-- The Responses API's object: the id a client holds, what a Response echoes, its own input items and
-- its chain. The request itself (chat body, answer, usage, attempts, status) stays the `requests` row.
create table responses (
  -- 'resp_' || request_id: derived, so an Idempotency-Key retry finds the same id.
  id                   text primary key,
  request_id           text not null unique references requests(request_id),
  tenant_id            text not null references tenants(id),
  -- No foreign key: deleting a link leaves its successors whole (each body holds its whole conversation).
  previous_response_id text,
  background           boolean not null default false,
  store                boolean not null default true,
  -- The request body's first message is this response's `instructions` (never inherited by the next link).
  has_instructions     boolean not null default false,
  -- The fields a Response echoes: the model asked for, instructions, tools, tool_choice, text,
  -- temperature, top_p, max_output_tokens, parallel_tool_calls, metadata, user.
  params               jsonb not null,
  -- This request's own input items, normalized (for input_items and item_reference); cleared on delete.
  input_items          jsonb not null,
  -- Set by the API before it cancels the workflow.
  cancelled_at         timestamptz,
  deleted_at           timestamptz,
  created_at           timestamptz not null default now()
);
create index responses_tenant_created_idx on responses (tenant_id, created_at desc);
-- The background cap's count (countBackgroundInFlight): a tenant's uncancelled background responses by age.
create index responses_background_open_idx on responses (tenant_id, created_at) where background and cancelled_at is null;
