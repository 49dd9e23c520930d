-- Response cache hits are requests too (on record, counted in analytics): answered from the
-- cache, no workflow, no provider call and no budget; `cached_from` names the request whose
-- answer was served.
alter table requests add column cache_hit boolean not null default false;
alter table requests add column cached_from text;

-- Provider rate limits: how long an attempt waited for its turn (rpm on the provider's task
-- queue, tpm in the shared per-minute token counts below), shown in the attempt list.
alter table request_attempts add column queued_ms integer;

-- Tokens sent to each provider per minute, shared by every worker: a call under a `tpm` limit
-- adds its estimate only while the minute's total stays within the limit.
create table provider_tokens (
  provider text not null,
  minute   timestamptz not null,
  tokens   bigint not null,
  primary key (provider, minute)
);
