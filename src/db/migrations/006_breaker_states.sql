-- The breakers' projection: each providerHealth entity writes its routing-relevant state here on
-- every transition, so the request path reads one table (cached per process) instead of querying
-- a workflow per request. `published_at` is the workflow's own clock: a retried, older write
-- never overwrites a newer one.
create table if not exists breaker_states (
  endpoint text primary key,
  status text not null,
  open_until timestamptz,
  snapshot jsonb not null,
  published_at timestamptz not null
);
