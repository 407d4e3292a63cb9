-- Retention and trim (docs/log.md; issue 10; issue 9 item 11): when
-- the log's horizon moves, a consumer that had not read a change it may see
-- gets a gap (ERROR naming the lost range, the one way out in the hint, a
-- flag in cdc.consumers); one that could not have seen any of the removed
-- changes (its filters, its role's privileges) moves on silently.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
CREATE FUNCTION pg_temp.try_raw(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE ROLE cdc_eve;
GRANT USAGE ON SCHEMA cdc TO cdc_eve;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO cdc_eve;
CREATE TABLE t (id int PRIMARY KEY);
CREATE TABLE other (id int PRIMARY KEY);
GRANT SELECT ON other TO cdc_eve;
SELECT cdc.create_consumer('reader') IS NOT NULL AS created;
SELECT cdc.create_consumer('quiet', entities => '{other}') IS NOT NULL AS created;
SELECT cdc.create_consumer('uptodate') IS NOT NULL AS created;
SET ROLE cdc_eve;
SELECT cdc.create_consumer('eve') IS NOT NULL AS created;
RESET ROLE;
INSERT INTO t SELECT generate_series(1, 5);
SELECT pg_temp.logged() AS logged;
SELECT confirmed_lsn AS cut FROM cdc.log_state \gset
SELECT count(*) AS read_all FROM cdc.consume('uptodate');
SELECT checkpoint_lsn AS reader_cp FROM cdc.consumers WHERE name = 'reader' \gset
SELECT consumers_with_gap FROM cdc.trim(:'cut');
SELECT oldest_lsn = :'cut' AS horizon_moved FROM cdc.status();
-- reader lost t's changes; quiet (filters) and eve (no SELECT on t) lost
-- nothing they could read and follow the horizon; uptodate had read them
SELECT name, gap, gap_reason, checkpoint_lsn = :'cut' AS at_horizon
FROM cdc.consumers ORDER BY name;
SELECT consumers, consumers_with_gap FROM cdc.status();
-- the gap is an error for every read, with the lost range and the way out
SELECT pg_temp.try($$SELECT * FROM cdc.stream('reader')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.consume('reader')$$);
-- the range named is exactly [the reader's checkpoint, the new horizon)
SELECT replace(replace(regexp_replace(pg_temp.try_raw($$SELECT * FROM cdc.stream('reader')$$), E'\n.*', '', 'g'),
	:'reader_cp', '<checkpoint>'), :'cut', '<horizon>') AS error;
-- reads of other consumers go on
SELECT count(*) AS quiet_reads FROM cdc.stream('quiet');
-- the hint's way out works: the gap is accepted and reading resumes
SELECT cdc.checkpoint('reader', :'cut');
SELECT name, gap, gap_reason FROM cdc.consumers WHERE name = 'reader';
INSERT INTO t VALUES (6);
SELECT pg_temp.logged() AS logged;
SELECT entity_id FROM cdc.stream('reader');
-- the log no longer holds what came before the horizon: starting or
-- reading there is an error; 'beginning' starts at the horizon
SELECT pg_temp.try($$SELECT * FROM cdc.stream('reader', from_lsn => '0/1')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('too-early', start => '0/1')$$);
SELECT cdc.create_consumer('retained', start => 'beginning') = :'cut'::pg_lsn AS at_horizon;
SELECT entity_id FROM cdc.stream('retained', entities => '{t}');
SELECT count(*) AS from_beginning FROM cdc.stream('uptodate', from_beginning => true, entities => '{t}');
-- a checkpoint behind the horizon that no trim decided on is a gap too
UPDATE cdc.consumer_state SET checkpoint_lsn = '0/1' WHERE name = 'quiet';
SELECT name, gap, gap_reason FROM cdc.consumers WHERE name = 'quiet';
SELECT pg_temp.try($$SELECT * FROM cdc.stream('quiet')$$);
SELECT cdc.checkpoint('quiet', :'cut');
SELECT count(*) AS quiet_reads FROM cdc.stream('quiet');
-- a second trim keeps a gap that is there, extended to the new horizon
SELECT cdc.checkpoint('reader', :'cut');
UPDATE cdc.consumer_state SET gap_from = '0/1', gap_to = :'cut', gap_reason = 'earlier trim',
	checkpoint_lsn = '0/1' WHERE name = 'reader';
INSERT INTO t VALUES (7);
SELECT pg_temp.logged() AS logged;
SELECT confirmed_lsn AS cut2 FROM cdc.log_state \gset
SELECT consumers_with_gap FROM cdc.trim(:'cut2');
SELECT name, gap_from = '0/1' AS kept_from, gap_from IS NOT NULL AS has_gap, gap_to = :'cut2' AS to_new_horizon, gap_reason
FROM cdc.consumer_state ORDER BY name;
SELECT pg_temp.try($$SELECT * FROM cdc.stream('reader')$$);

SELECT cdc.drop_consumer(name) FROM cdc.consumers ORDER BY name;
DROP TABLE t, other;
DROP EXTENSION cdc_ext;
DROP OWNED BY cdc_eve;
DROP ROLE cdc_eve;
