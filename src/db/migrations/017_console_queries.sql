-- The operator console's queries (issue 25), kept fast at 100,000 requests and more.
--
-- The end user a request was made for (OpenAI's `user`, Anthropic's `metadata.user_id`, the
-- X-Switchyard-User header): the console filters by it. Set once, by the API, as the row is written.
alter table requests add column end_user text;

-- Whether the request fell back (attempts of more than one candidate), set as it completes: the
-- analytics read it per row, where a subquery over its attempts cost ~100,000 index probes a week.
-- Requests finished before this migration are filled in once here.
alter table requests add column fell_back boolean not null default false;
update requests r set fell_back = true
 where exists (select 1 from request_attempts a where a.request_id = r.request_id
                 group by a.request_id having count(distinct a.candidate_index) > 1);

-- The request list pages by keyset on (created_at desc, request_id desc), for one tenant or all:
-- each page is an index range scan however deep it is. The tenant index replaces 001's, which it covers.
create index requests_created_id_idx on requests (created_at desc, request_id desc);
create index requests_tenant_created_id_idx on requests (tenant_id, created_at desc, request_id desc);
drop index requests_tenant_created_idx;
-- The list's filters (model, status, user, …) walk the keyset index until a page is full: at 100,000
-- requests even a user's (1 in 500) stays near 30 ms (bench:console), so they get no index of their
-- own; every index here is written by each request's insert and completion.
-- `q`: a request id prefix uses this (text_pattern_ops: LIKE 'prefix%' under any collation); a workflow id
-- prefix, rarer, scans (about 35 ms at 100,000 requests).
create index requests_request_id_pattern_idx on requests (request_id text_pattern_ops);

-- The last provider errors: attempts that failed, newest first.
create index request_attempts_errors_idx on request_attempts (started_at desc)
  where error_type is not null;

-- Every tenant's batches (an operator's list), keyset-paged as the request list is.
create index batches_created_id_idx on batches (created_at desc, id desc);
