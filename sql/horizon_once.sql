-- Trim and retention read the range they remove once, whatever the number
-- of consumers and groups (issue 15 item 5): 40 consumers of a role that
-- may not read the table (each would have scanned every row of the range
-- for a change it may see) and 8 idle groups (each read the whole range into
-- memory).  Counted with the transaction's own table statistics: the log
-- rows the trim fetched, against the rows in the range.  The decisions are
-- the same as before: the groups, which would receive the rows, get a gap;
-- the consumers, which may not see them, move on silently.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
CREATE TABLE busy (id int PRIMARY KEY, v text);
CREATE ROLE cdc_blind;
GRANT USAGE ON SCHEMA cdc TO cdc_blind;
GRANT EXECUTE ON FUNCTION cdc.create_consumer(text, text[], text[], cdc.operation[], text) TO cdc_blind;
SET ROLE cdc_blind;
SELECT count(cdc.create_consumer('blind' || g)) AS consumers FROM generate_series(1, 40) g;
RESET ROLE;
SELECT count(cdc.create_group('idle' || g)) AS groups FROM generate_series(1, 8) g;
INSERT INTO busy SELECT g, repeat('x', 100) FROM generate_series(1, 3000) g;
SELECT cdc.wait_for_log() AS upto \gset
SELECT count(*) AS rows_in_range FROM cdc.log WHERE commit_lsn < :'upto';
-- the statistics of what this session read before (the count above) are
-- only flushed from its pending counts at the next idle report: forced
-- here, or the transaction's view below includes them (PostgreSQL 17 did)
SELECT pg_stat_force_next_flush();

BEGIN;
SELECT consumers_with_gap FROM cdc.trim(:'upto');
-- what the trim fetched of the log's partitions, in this transaction (a
-- bitmap heap scan counts its rows under both)
SELECT sum(greatest(seq_tup_read, idx_tup_fetch)) BETWEEN 3000 AND 3100 AS read_once
FROM pg_stat_xact_all_tables WHERE schemaname = 'cdc' AND relname ~ '^log_[0-9]+$';
COMMIT;
SELECT count(*) FILTER (WHERE gap) AS groups_with_gap FROM cdc.groups;
SELECT count(*) FILTER (WHERE NOT gap AND checkpoint_lsn = :'upto') AS consumers_moved_on,
	   count(*) FILTER (WHERE gap) AS consumers_with_gap
FROM cdc.consumers;

-- a second trim to the same position removes nothing and reads nothing
SELECT pg_stat_force_next_flush();
BEGIN;
SELECT consumers_with_gap FROM cdc.trim(:'upto');
SELECT coalesce(sum(greatest(seq_tup_read, idx_tup_fetch)), 0) AS read_for_nothing
FROM pg_stat_xact_all_tables WHERE schemaname = 'cdc' AND relname ~ '^log_[0-9]+$';
COMMIT;

SELECT count(cdc.drop_group('idle' || g)) FROM generate_series(1, 8) g;
GRANT EXECUTE ON FUNCTION cdc.drop_consumer(text) TO cdc_blind;
SET ROLE cdc_blind;
SELECT count(cdc.drop_consumer('blind' || g)) FROM generate_series(1, 40) g;
RESET ROLE;
DROP TABLE busy;
DROP EXTENSION cdc_ext;
DROP OWNED BY cdc_blind;
DROP ROLE cdc_blind;
