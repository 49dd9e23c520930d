-- Configuration writes are compare-and-swap: a writer names the version it computed its change
-- from and inserts that version plus one, only while that is still the latest (the primary key
-- refuses a second writer of the same number). No default: a version number always comes from the
-- writer, never from a sequence a writer of an older release could still use without the check.
alter table config_versions alter column version drop default;
drop sequence if exists config_versions_version_seq;
