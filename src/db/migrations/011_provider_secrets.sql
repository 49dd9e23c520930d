-- Provider keys stored through the operator API (`PUT /v1/admin/secrets/{name}`), encrypted by the
-- API process before they are written: AES-256-GCM, the name as additional authenticated data.
-- No column holds a plaintext. `key_id` names the master key that sealed the row (a fingerprint),
-- so a master key can be rotated later by re-sealing the rows of the old id.
create table if not exists provider_secrets (
  name text primary key,
  key_id text not null,
  iv text not null,
  ciphertext text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
