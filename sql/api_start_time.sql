-- create_consumer / create_group (start => a timestamp) after trim and
-- retention (issue 15 item 10): changes committed at or after the time were
-- removed -> 22023 at creation, whatever is left on disk (a straddling trim
-- keeps rows before the horizon; retention can leave the log empty).
\set VERBOSITY terse
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
-- the error of a statement, the start value masked
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(pg_temp.try(q), '"[0-9]{4}-[^"]*"', '"<time>"') $$;
CREATE TABLE st (id int PRIMARY KEY);
SELECT clock_timestamp() AS t0 \gset
SELECT pg_sleep(0.05);
INSERT INTO st VALUES (1);
SELECT pg_sleep(0.05);
SELECT clock_timestamp() AS t1 \gset
SELECT pg_sleep(0.05);
INSERT INTO st VALUES (2);
SELECT pg_sleep(0.05);
SELECT clock_timestamp() AS t2 \gset
SELECT pg_sleep(0.05);
INSERT INTO st VALUES (3);
SELECT pg_temp.logged() AS logged;
SELECT commit_lsn AS lsn3 FROM cdc.log WHERE new_data->>'id' = '3' \gset

-- trim before row 3: rows 1 and 2 stay in the partition, past the horizon
SELECT partitions_dropped, oldest_lsn = :'lsn3' AS horizon_at_3 FROM cdc.trim(:'lsn3');
SELECT count(*) AS rows_on_disk FROM cdc.log;
-- t1 lies between rows 1 and 2: row 2 was removed -> 22023
SELECT pg_temp.err(format('SELECT cdc.create_consumer(%L, start => %L)', 'c1', :'t1'));
SELECT pg_temp.err(format('SELECT cdc.create_group(%L, start => %L)', 'g1', :'t1'));
-- t2 lies after row 2: nothing after it was removed; starts at row 3
SELECT cdc.create_consumer('c2', start => :'t2') = :'lsn3' AS starts_at_3;
SELECT cdc.create_group('g2', start => :'t2') = :'lsn3' AS starts_at_3;
SELECT new_data FROM cdc.stream('c2');

-- retention empties the log: every row removed, none left to look at
SELECT cdc.set_retention(max_age => '2 s');
-- (each look in a transaction of its own: a reader's lock on the log
-- postpones the drop)
DO $$ BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN (SELECT count(*) = 0 FROM cdc.log);
		COMMIT;
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT count(*) AS rows_on_disk FROM cdc.log;
SELECT pg_temp.err(format('SELECT cdc.create_consumer(%L, start => %L)', 'c3', :'t2'));
SELECT pg_temp.err(format('SELECT cdc.create_consumer(%L, start => %L)', 'c3', :'t0'));
-- after the last removed change: fine
SELECT cdc.create_consumer('c4', start => clock_timestamp()::text) IS NOT NULL AS created;
SELECT cdc.set_retention();

SELECT cdc.drop_consumer(name) FROM cdc.consumers ORDER BY name;
SELECT cdc.drop_group('g2');
DROP TABLE st;
DROP EXTENSION cdc_ext;
