-- Tenancy: keys with a per-key salt (a stolen table of hashes cannot be matched against a
-- precomputed list), a lookup prefix, expiry and last use; deleted tenants; the audit log.
alter table api_keys
  add column key_salt     text,
  add column expires_at   timestamptz,
  add column last_used_at timestamptz,
  add column created_by   text;
create index api_keys_prefix on api_keys (key_prefix);

alter table tenants add column deleted_at timestamptz;

create table audit_log (
  id            bigserial primary key,
  at            timestamptz not null default now(),
  actor_key_id  text,
  actor_tenant  text,
  actor_role    text,
  -- The tenant the change concerns (null: the shared configuration as a whole).
  tenant_id     text,
  action        text not null,
  target        text,
  before        jsonb,
  after         jsonb
);
create index audit_log_tenant on audit_log (tenant_id, id);
