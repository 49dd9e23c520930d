-- Console sign-ins (issue 25): a browser signs in with an API key once and then holds an opaque
-- session id in an HttpOnly cookie, so the key never sits in the page, a URL or browser storage.
-- Only the id's SHA-256 is stored; the session acts as its key (same tenant and role) and dies with
-- it: revoking or expiring the key ends the session at its next use.
create table console_sessions (
  id_hash     text primary key,
  key_id      text not null references api_keys(id),
  csrf_token  text not null,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  ended_at    timestamptz
);
create index console_sessions_expires_idx on console_sessions (expires_at);
