-- Response cache hits are requests too (on record, counted in analytics): answered from the
-- cache, no workflow, no provider call and no budget; `cached_from` names the request whose
-- answer was served.
alter table requests add column cache_hit boolean not null default false;
alter table requests add column cached_from text;
