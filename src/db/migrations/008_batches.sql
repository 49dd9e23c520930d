-- Batch jobs: one engine for summarization batches and the OpenAI Batch API. The inputs are
-- stored before the workflow starts (the workflow carries ids and counts), and each item's result
-- is one row, unique per (batch, item): a retried write finds the row there and changes nothing.
create table batches (
  id              text primary key,
  tenant_id       text not null references tenants(id),
  -- 'summarize' (documents → summaries) or 'openai' (request lines → responses).
  kind            text not null,
  status          text not null default 'queued',
  -- Why the batch waits (an open breaker, an exhausted budget) while status = 'waiting'.
  status_reason   text,
  -- What every item is run with: model, maxWords, style, the routing context, concurrency…
  options         jsonb not null,
  total           integer not null,
  workflow_id     text not null,
  input_file_id   text,
  webhook_url     text,
  webhook_sent_at timestamptz,
  created_by      text,
  created_at      timestamptz not null default now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  -- Set by the API before it acknowledges a cancel; a batch call's start checks it under a lock.
  cancelled_at    timestamptz
);
create index batches_tenant_created on batches (tenant_id, created_at desc);

create table batch_items (
  batch_id  text not null references batches(id),
  -- The order in the upload (1-based line number for JSONL): results come back in this order.
  seq       integer not null,
  item_id   text not null,
  -- Summaries: {text, metadata}. OpenAI lines: {method, url, body}.
  input     jsonb not null,
  -- How many times the item was started (a deferred item runs again with new request ids).
  runs      integer not null default 0,
  primary key (batch_id, seq),
  unique (batch_id, item_id)
);

create table batch_results (
  batch_id      text not null,
  item_id       text not null,
  ok            boolean not null,
  -- json, not jsonb: results read back with their keys in the order they were written.
  result        json,
  error         json,
  models        text[] not null default '{}',
  request_ids   text[] not null default '{}',
  input_tokens  integer not null default 0,
  output_tokens integer not null default 0,
  cost_usd      numeric(16, 10) not null default 0,
  created_at    timestamptz not null default now(),
  primary key (batch_id, item_id),
  foreign key (batch_id, item_id) references batch_items (batch_id, item_id)
);

-- The requests a batch made (chunk summaries, combines, lines): its cost and tokens so far.
alter table requests add column batch_id text;
create index requests_batch on requests (batch_id) where batch_id is not null;

-- OpenAI Files: uploaded batch inputs. Output and error files are not stored: their content is
-- read from batch_results when asked for.
create table files (
  id          text primary key,
  tenant_id   text not null references tenants(id),
  purpose     text not null,
  filename    text not null,
  bytes       integer not null,
  -- 'upload' (content in file_lines) or 'batch_output' / 'batch_error' (of batch_id).
  source      text not null,
  batch_id    text,
  created_at  timestamptz not null default now()
);
create index files_tenant_created on files (tenant_id, created_at desc);

create table file_lines (
  file_id  text not null references files(id),
  line_no  integer not null,
  -- json, not jsonb: the file reads back as uploaded (key order kept).
  content  json not null,
  primary key (file_id, line_no)
);
