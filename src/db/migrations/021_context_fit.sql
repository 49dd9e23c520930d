-- Context fitting (issue 26). A request whose conversation was fitted to a context window keeps
-- the client's body in `body` (the record) and the fitted one here: what its provider calls send.
alter table requests add column fitted_body jsonb;
-- Summaries of dropped turns, per tenant by the sha256 of those turns: the same earlier
-- conversation sent again (the next turn of a chat) is not summarized twice.
-- `summary_request_id` is the summarizing request that paid for it (its row in `requests`).
create table fit_summaries (
  tenant_id           text not null,
  turns_hash          text not null,
  summary             text not null,
  summary_request_id  text not null,
  created_at          timestamptz not null default now(),
  primary key (tenant_id, turns_hash)
);
