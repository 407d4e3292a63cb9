-- Replay (issue 10): a consumer created after 10,000 changes reads every one
-- of them with start => 'beginning' or from_beginning, and from a timestamp
-- in the middle exactly those committed at or after it.
\set VERBOSITY terse
SET TimeZone = 'UTC';
SET synchronous_commit = off;
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
CREATE TABLE big (id int PRIMARY KEY, v text);
-- 10,000 transactions of one row each
DO $$ BEGIN
	FOR i IN 1..10000 LOOP
		INSERT INTO big VALUES (i, 'v' || i);
		COMMIT;
	END LOOP;
END $$;
SELECT pg_temp.logged() AS logged;
SELECT cdc.create_consumer('late', start => 'beginning', entities => '{big}') IS NOT NULL AS created;
SELECT cdc.create_consumer('later') IS NOT NULL AS created;
CREATE TABLE got AS SELECT (entity_id)::int AS id, commit_lsn, seq, "timestamp" AS ts
FROM cdc.stream('late', batch_size => 20000);
SELECT count(*), count(DISTINCT id), min(id), max(id) FROM got;
SELECT count(*) AS from_beginning FROM cdc.stream('later', from_beginning => true, batch_size => 20000,
	entities => '{big}');
-- in cursor order
SELECT bool_and(prev_id = id - 1) AS in_order
FROM (SELECT id, lag(id) OVER (ORDER BY commit_lsn, seq) AS prev_id FROM got) s WHERE prev_id IS NOT NULL;
-- consume drains it in batches: each change once
CREATE TABLE drained (id int PRIMARY KEY);
DO $$ BEGIN
	LOOP
		INSERT INTO drained SELECT (entity_id)::int FROM cdc.consume('late', batch_size => 700);
		EXIT WHEN NOT FOUND;
		COMMIT;
	END LOOP;
END $$;
SELECT count(*) AS drained FROM drained;
-- a timestamp in the middle: exactly the changes committed at or after it
SELECT ts AS mid FROM got WHERE id = 5001 \gset
SELECT count(*) BETWEEN 4990 AND 5000 AS about_half FROM got WHERE ts >= :'mid';
SELECT count(*) = (SELECT count(*) FROM got WHERE ts >= :'mid') AS from_timestamp,
	   count(*) FILTER (WHERE "timestamp" < :'mid') AS earlier
FROM cdc.stream('later', from_timestamp => :'mid', batch_size => 20000, entities => '{big}');
(SELECT (entity_id)::int FROM cdc.stream('later', from_timestamp => :'mid', batch_size => 20000, entities => '{big}')
 EXCEPT SELECT id FROM got WHERE ts >= :'mid')
UNION ALL
(SELECT id FROM got WHERE ts >= :'mid'
 EXCEPT SELECT (entity_id)::int FROM cdc.stream('later', from_timestamp => :'mid', batch_size => 20000, entities => '{big}'));
SELECT cdc.create_consumer('mid', start => :'mid', entities => '{big}') IS NOT NULL AS created;
SELECT count(*) = (SELECT count(*) FROM got WHERE ts >= :'mid') AS from_mid,
	   min((entity_id)::int) = (SELECT min(id) FROM got WHERE ts >= :'mid') AS first_at_mid
FROM cdc.stream('mid', batch_size => 20000);

SELECT cdc.drop_consumer(name) FROM cdc.consumers ORDER BY name;
DROP TABLE big, got, drained;
DROP EXTENSION cdc_ext;
