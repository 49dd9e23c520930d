-- What each attempt consumed: an escalation pays for the invalid output it replaced.
alter table request_attempts
  add column input_tokens  integer,
  add column output_tokens integer,
  add column cost_usd      numeric(16, 10);
