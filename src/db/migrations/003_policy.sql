-- Every version of the routing configuration: a decision names the version it was made with.
create table config_versions (
  version     serial primary key,
  config      jsonb not null,
  source      text not null,           -- default | file | admin | import
  source_hash text,                    -- hash of the file or default it came from
  created_at  timestamptz not null default now()
);

-- What replay needs to re-run a decision: its full input, and the config version it used.
alter table requests
  add column decision_input  jsonb,
  add column config_version  integer;

-- Admin endpoints (configuration, rules, overrides, replay) need an admin key.
alter table api_keys add column role text not null default 'member';
