-- Prompt templates (issue 26): immutable versions, one row each. tenant_id null: an operator-wide
-- ("global") template every tenant may use; a tenant's own template of the same name wins.
create table templates (
  id               text primary key,
  tenant_id        text,
  name             text not null,
  version          integer not null,
  description      text,
  messages         jsonb not null,
  variables_schema jsonb not null,
  defaults         jsonb not null default '{}'::jsonb,
  created_at       timestamptz not null default now(),
  created_by       text,
  -- Deleting a template hides its versions from the API's lists and renders but keeps the rows:
  -- the request records that name a version still find it.
  deleted_at       timestamptz
);
-- One row per version in a scope; numbers are never reused, even after a delete.
create unique index templates_scope_name_version_idx on templates ((coalesce(tenant_id, '')), name, version);

-- Labels (`production`, `staging`, ...): a movable name for one version of a template.
create table template_labels (
  tenant_id  text,
  name       text not null,
  label      text not null,
  version    integer not null,
  updated_at timestamptz not null default now(),
  updated_by text
);
create unique index template_labels_scope_name_label_idx on template_labels ((coalesce(tenant_id, '')), name, label);

-- The template a request was rendered from (its stored body is the rendered request).
alter table requests add column template_id text;
alter table requests add column template_name text;
alter table requests add column template_version integer;
