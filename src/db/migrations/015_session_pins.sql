-- Sessions that keep their provider's prompt cache (issue 23): the provider instance and model a
-- session's last answer came from, per tenant, until `expires_at` (the provider's cache lifetime,
-- refreshed by each answer). Shared by every worker and API process; read by routing only for a
-- request that has a session, written once per answered request that has one.
create table session_pins (
  tenant_id    text not null,
  session_key  text not null,
  provider     text not null,
  model_id     text not null,
  expires_at   timestamptz not null,
  updated_at   timestamptz not null default now(),
  primary key (tenant_id, session_key)
);
-- The occasional sweep of pins long expired.
create index session_pins_expires_idx on session_pins (expires_at);
