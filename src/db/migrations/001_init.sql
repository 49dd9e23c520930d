-- Tenants and their API keys. Keys are stored as SHA-256 hashes; the plain key is shown once.
create table tenants (
  id          text primary key,
  name        text not null,
  created_at  timestamptz not null default now()
);

create table api_keys (
  id          text primary key,
  tenant_id   text not null references tenants(id),
  key_hash    text not null unique,
  key_prefix  text not null,
  name        text not null,
  created_at  timestamptz not null default now(),
  revoked_at  timestamptz
);

-- One row per routed request. The API writes the body here and passes only the request id to the
-- workflow, so workflow payloads and history stay small whatever the prompt size.
create table requests (
  request_id       text primary key,
  workflow_id      text not null,
  tenant_id        text not null references tenants(id),
  idempotency_key  text,
  operation        text not null,
  requested_model  text not null,
  body             jsonb not null,
  body_hash        text not null,
  status           text not null default 'received',
  provider         text,
  model            text,
  classification   jsonb,
  decision         jsonb,
  attempts         jsonb not null default '[]'::jsonb,
  response         jsonb,
  input_tokens     integer,
  output_tokens    integer,
  cost_usd         numeric(16, 10),
  error            jsonb,
  latency_ms       integer,
  created_at       timestamptz not null default now(),
  completed_at     timestamptz
);

create index requests_tenant_created_idx on requests (tenant_id, created_at desc);

-- Every provider call attempt, written by the activity itself: only it knows the attempt number,
-- and Temporal's own retries would otherwise be invisible to the request record.
create table request_attempts (
  request_id       text not null references requests(request_id),
  candidate_index  integer not null,
  attempt          integer not null,
  provider         text not null,
  model            text not null,
  outcome          text not null,
  error_type       text,
  error_message    text,
  status           integer,
  started_at       timestamptz not null,
  latency_ms       integer not null,
  primary key (request_id, candidate_index, attempt)
);
