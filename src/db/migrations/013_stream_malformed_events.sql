-- Malformed events a streamed attempt skipped (not JSON, or not the wire format's shape): the
-- stream went on past them; past the bound (SWITCHYARD_STREAM_MAX_MALFORMED) it ended as cut.
alter table request_attempts add column malformed_events integer;
