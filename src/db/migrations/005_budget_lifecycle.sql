-- Budgets, second part: the window lifecycle (owned by the budgetWindow workflow of each tenant),
-- alerts, and the reservation path as two functions, so that reserving or closing is one round
-- trip and a window's row lock is held only for the function and its commit.
alter table budget_windows add column tenant_id text;
alter table budget_windows add column closed_at timestamptz;
create index budget_windows_tenant_idx on budget_windows (tenant_id, window_end);

alter table budget_reservations add column tenant_id text;
create index budget_reservations_tenant_open_idx on budget_reservations (tenant_id, expires_at) where status = 'reserved';

-- One alert per window at most: the primary key is the window's.
create table budget_alerts (
  scope         text not null,
  period        text not null,
  window_start  timestamptz not null,
  tenant_id     text not null,
  threshold     numeric(6, 4) not null,
  limit_usd     numeric(20, 10) not null,
  spent_usd     numeric(20, 10) not null,
  raised_at     timestamptz not null,
  webhook_url   text,
  delivered_at  timestamptz,
  delivery_error text,
  primary key (scope, period, window_start)
);

-- Reserve `p_amount` in every given window, or in none: locks the windows in a fixed order (no
-- deadlocks), refuses if any would go over its limit, else adds to reserved and records the
-- reservation. Idempotent by id. Returns one row: status reserved | duplicate | refused, and for
-- refused the window that refused.
create or replace function budget_reserve(p_id text, p_tenant text, p_amount numeric, p_scopes text[], p_periods text[], p_starts timestamptz[], p_ends timestamptz[], p_limits numeric[], p_expires timestamptz)
returns table (status text, scope text, period text, limit_usd numeric, spent_usd numeric, reserved_usd numeric, window_end timestamptz)
language plpgsql as $$
#variable_conflict use_column
declare
  over record;
begin
  perform 1 from budget_reservations r where r.id = p_id;
  if found then
    return query select 'duplicate'::text, null::text, null::text, null::numeric, null::numeric, null::numeric, null::timestamptz;
    return;
  end if;
  insert into budget_windows (scope, period, window_start, window_end, limit_usd, tenant_id)
    select u.s, u.p, u.st, u.en, u.l, p_tenant from unnest(p_scopes, p_periods, p_starts, p_ends, p_limits) as u(s, p, st, en, l)
    on conflict (scope, period, window_start) do nothing;
  perform 1 from budget_windows b
    where (b.scope, b.period, b.window_start) in (select u.s, u.p, u.st from unnest(p_scopes, p_periods, p_starts) as u(s, p, st))
    order by b.scope, b.period, b.window_start
    for update;
  select b.scope, b.period, u.l as limit_usd, b.spent_usd, b.reserved_usd, b.window_end into over
    from budget_windows b join unnest(p_scopes, p_periods, p_starts, p_limits) as u(s, p, st, l)
      on b.scope = u.s and b.period = u.p and b.window_start = u.st
    where b.spent_usd + b.reserved_usd + p_amount > u.l
    order by b.scope, b.period
    limit 1;
  if found then
    return query select 'refused'::text, over.scope, over.period, over.limit_usd, over.spent_usd, over.reserved_usd, over.window_end;
    return;
  end if;
  -- The limit in force is the caller's (the current configuration); the row keeps it for readers.
  update budget_windows b set reserved_usd = b.reserved_usd + p_amount, limit_usd = u.l
    from unnest(p_scopes, p_periods, p_starts, p_limits) as u(s, p, st, l)
    where b.scope = u.s and b.period = u.p and b.window_start = u.st;
  insert into budget_reservations (id, tenant_id, amount_usd, windows, status, expires_at)
    values (p_id, p_tenant, p_amount,
      (select coalesce(jsonb_agg(jsonb_build_object('scope', u.s, 'period', u.p, 'start', u.st)), '[]'::jsonb) from unnest(p_scopes, p_periods, p_starts) as u(s, p, st)),
      'reserved', p_expires);
  return query select 'reserved'::text, null::text, null::text, null::numeric, null::numeric, null::numeric, null::timestamptz;
end $$;

-- Close a reservation: settled (spent += p_actual), released or expired (nothing spent). Either
-- way its amount leaves reserved. Idempotent: only an open reservation closes; returns whether it did.
create or replace function budget_close(p_id text, p_status text, p_actual numeric)
returns boolean
language plpgsql as $$
declare
  r record;
begin
  update budget_reservations set status = p_status, actual_usd = p_actual, closed_at = now()
    where id = p_id and status = 'reserved'
    returning amount_usd, windows into r;
  if not found then
    return false;
  end if;
  perform 1 from budget_windows b
    where (b.scope, b.period, b.window_start) in (select w->>'scope', w->>'period', (w->>'start')::timestamptz from jsonb_array_elements(r.windows) w)
    order by b.scope, b.period, b.window_start
    for update;
  update budget_windows b set reserved_usd = b.reserved_usd - r.amount_usd, spent_usd = b.spent_usd + coalesce(p_actual, 0)
    where (b.scope, b.period, b.window_start) in (select w->>'scope', w->>'period', (w->>'start')::timestamptz from jsonb_array_elements(r.windows) w);
  return true;
end $$;
