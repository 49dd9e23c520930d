-- Operator alerts (issue 25): each row is one EPISODE of a condition (a breaker open, a budget
-- window past its threshold or exhausted, latency over its objective, a key near its rate limit),
-- opened once when the condition starts and resolved when it ends.
create table alerts (
  id                  text primary key,
  kind                text not null,
  subject             text not null,
  -- The tenant whose alert it is (budget, rate limit); null for the operator's (provider, latency).
  tenant_id           text,
  severity            text not null,
  summary             text not null,
  details             jsonb not null default '{}'::jsonb,
  opened_at           timestamptz not null,
  resolved_at         timestamptz,
  -- When the webhooks were told of the opening / the resolution (null: not yet: the monitor will).
  open_notified_at    timestamptz,
  resolve_notified_at timestamptz
);
-- At most one open episode per condition, whichever process sees it first: a second opener's
-- insert does nothing, so it is never raised (nor sent) twice while open.
create unique index alerts_one_open_idx on alerts (kind, subject) where resolved_at is null;
create index alerts_opened_idx on alerts (opened_at desc, id desc);
create index alerts_tenant_idx on alerts (tenant_id, opened_at desc);
create index alerts_unnotified_idx on alerts (opened_at) where open_notified_at is null or (resolved_at is not null and resolve_notified_at is null);

-- Each webhook's delivery of an episode's event (opened, resolved): one row per webhook, updated
-- by each attempt, so a retry resends only to the webhooks that have not answered yet.
create table alert_deliveries (
  alert_id  text not null references alerts(id),
  event     text not null,
  -- sha-256 of the URL: the key (a webhook's URL may hold a token; only its host is shown).
  url_hash  text not null,
  url_host  text not null,
  status    text not null,
  attempts  integer not null default 0,
  at        timestamptz not null,
  error     text,
  primary key (alert_id, event, url_hash)
);
