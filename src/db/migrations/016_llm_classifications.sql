-- The optional configured classifier's answers (issue 23: `routing.classifier.llm`), cached by the
-- sha256 of the prompt text, per tenant and model, until `expires_at`: shared by every worker, so
-- one prompt asked again is classified once. `request_id` is the classification request that paid
-- for the answer (its row in `requests`, operation `classify`).
create table llm_classifications (
  tenant_id    text not null,
  model_id     text not null,
  prompt_hash  text not null,
  task_type    text not null,
  complexity   text not null,
  request_id   text not null,
  expires_at   timestamptz not null,
  created_at   timestamptz not null default now(),
  primary key (tenant_id, model_id, prompt_hash)
);
-- The occasional sweep of answers long expired.
create index llm_classifications_expires_idx on llm_classifications (expires_at);
