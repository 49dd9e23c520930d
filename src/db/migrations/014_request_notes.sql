-- What a request's outcome adds to its decision's notes: a stream broken mid-answer and finished
-- by another candidate says "continued after N pieces on X" (issue 29). A JSON array of strings.
alter table requests add column notes jsonb;
