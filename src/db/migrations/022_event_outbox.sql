-- Usage events out (src/db/eventOutbox.ts): every finished request, attempt, batch item and budget
-- alert is written here by the statement that records it, and delivered to the configured sinks
-- by the usageEvents workflow.
create table event_outbox (
  -- Insertion order. Not commit order: a transaction holding seq 5 can commit after seq 6.
  seq bigserial primary key,
  -- Derived from what the event is about (md5 of its kind and subject): the same finish recorded
  -- twice (a retried activity) is one event, and consumers de-duplicate on it.
  id uuid not null unique,
  tenant_id text not null,
  type text not null,
  occurred_at timestamptz not null default now(),
  data jsonb not null,
  -- The delivery position: assigned after commit by one sequencer at a time (under an advisory
  -- lock), so a row that commits late gets a later position and a sink's cursor never skips it.
  pos bigint unique
);
create index event_outbox_unsequenced on event_outbox (seq) where pos is null;

-- Each sink's cursor: every event with pos <= delivered_pos was accepted by the sink.
create table event_sinks (
  name text primary key,
  delivered_pos bigint not null default 0,
  updated_at timestamptz not null default now()
);
