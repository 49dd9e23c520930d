-- Spend windows: one row per scope (tenant or user), period and window start. Amounts are exact
-- decimals in USD. A reservation only succeeds if spent + reserved + amount stays within the
-- limit of every applicable window, checked and written in one statement under row locks.
create table budget_windows (
  scope         text not null,
  period        text not null,
  window_start  timestamptz not null,
  window_end    timestamptz not null,
  limit_usd     numeric(20, 10) not null,
  spent_usd     numeric(20, 10) not null default 0,
  reserved_usd  numeric(20, 10) not null default 0,
  alerted_at    timestamptz,
  primary key (scope, period, window_start)
);

-- One reservation per request attempt (idempotent by id), with the windows it holds.
create table budget_reservations (
  id           text primary key,
  amount_usd   numeric(20, 10) not null,
  windows      jsonb not null,
  status       text not null,          -- reserved | settled | released | expired
  actual_usd   numeric(20, 10),
  created_at   timestamptz not null default now(),
  expires_at   timestamptz not null,
  closed_at    timestamptz
);
create index budget_reservations_open_idx on budget_reservations (expires_at) where status = 'reserved';
