-- The change log as the writer fills it: values equal to_jsonb(row), every
-- operation, spilled transactions with subtransactions, values jsonb cannot
-- hold (fallback), messages and capture filters, the extension's own tables
-- never, retention and trim, and every bad input of the log's functions.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION cdc_ext;
-- the writer is up (it logs what commits from here on)
SELECT cdc.wait_for_log() IS NOT NULL AS writer_ready;
SELECT running, preloaded FROM cdc.writer_info();

CREATE TABLE lt (id bigint PRIMARY KEY, n numeric, f float8, ts timestamptz,
				 d date, j json, jb jsonb, arr int[], b bytea, t text, u uuid);
INSERT INTO lt VALUES
	(9007199254740993, 123456789012345678901234567890.5, 'NaN', '2026-01-02 03:04:05.678901+05',
	 '2026-02-28', '{"k": [1, 2]}', '{"x": null}', '{1,NULL,3}', '\x00ff', E'tab\tquote"', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
	(2, NULL, -0.5, 'infinity', '-infinity', 'null', '[]', '{}', '', '', NULL);
UPDATE lt SET t = 'changed', n = 1 WHERE id = 2;
DELETE FROM lt WHERE id = 2;
TRUNCATE lt;
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT seq, entity, entity_id, operation, old_data, unchanged_toast, fallback
FROM cdc.log WHERE entity = 'public.lt' ORDER BY commit_lsn, seq;
-- the logged rows are to_jsonb of the rows (under the defaults, which the
-- log does not need: it is written the same under any session settings)
SET TimeZone = 'UTC';
CREATE TABLE lt_copy AS SELECT * FROM lt WITH NO DATA;
INSERT INTO lt_copy SELECT (jsonb_populate_record(NULL::lt, new_data)).*
FROM cdc.log WHERE entity = 'public.lt' AND operation = 'insert';
SELECT l.new_data = to_jsonb(c) AS equal, l.new_data->>'id' AS id
FROM cdc.log l JOIN lt_copy c ON c.id = (l.new_data->>'id')::bigint
WHERE l.entity = 'public.lt' AND l.operation = 'insert' ORDER BY 2;
SELECT new_data FROM cdc.log WHERE entity = 'public.lt' AND operation = 'update';

-- values jsonb cannot hold: logged as their JSON text, flagged; the log does not stall
CREATE TYPE holder AS (n int, j json);
CREATE TABLE fb (id int PRIMARY KEY, j json, c holder, aj json[], ok text);
INSERT INTO fb VALUES
	(1, '{"a":"\u0000"}', NULL, NULL, 'nul escape'),
	(2, '1e1000000', NULL, NULL, 'beyond numeric'),
	(3, '{"fine": true}', ROW(1, '[1,"\u0000"]'), ARRAY['"\u0000"'::json], 'nested');
INSERT INTO fb VALUES (4, '{"after": 1}', NULL, NULL, 'logged after them');
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT new_data->>'id' AS id, fallback, jsonb_typeof(new_data->'j') AS j_type, new_data->'j' AS j,
	   new_data->'c' AS c, new_data->'aj' AS aj
FROM cdc.log WHERE entity = 'public.fb' ORDER BY commit_lsn, seq;
-- the fallback string is the plugin's own text of the value
SELECT (new_data->>'j') = j::text AS same_text FROM cdc.log, fb
WHERE entity = 'public.fb' AND fb.id = (new_data->>'id')::int AND fallback IS NOT NULL AND fb.id < 3;

-- a row past jsonb's 256 MB: the values that do not fit are null, named in
-- fallback; the log goes on
CREATE TABLE huge (id int PRIMARY KEY, a text, b text);
INSERT INTO huge VALUES (1, repeat('a', 130 * 1024 * 1024), repeat('b', 130 * 1024 * 1024));
INSERT INTO huge VALUES (2, 'small', 'small');
SELECT cdc.wait_for_log(timeout => '120 s') IS NOT NULL AS logged;
SELECT new_data->>'id' AS id, length(new_data->>'a') AS a_length, new_data->'b' AS b, fallback
FROM cdc.log WHERE entity = 'public.huge' ORDER BY commit_lsn, seq;
DROP TABLE huge;

-- a transaction beyond logical_decoding_work_mem (64kB here), with TOAST and subtransactions
CREATE TABLE big (id int PRIMARY KEY, payload text);
ALTER TABLE big ALTER payload SET STORAGE EXTERNAL;
BEGIN;
INSERT INTO big SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 3000) g;
SAVEPOINT s1;
INSERT INTO big SELECT g, 'rolled back' FROM generate_series(3001, 3500) g;
ROLLBACK TO s1;
SAVEPOINT s2;
INSERT INTO big VALUES (4000, repeat('x', 100000));
RELEASE s2;
UPDATE big SET id = id + 10000 WHERE id <= 10;
COMMIT;
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT count(*) AS changes, min(seq), max(seq), count(DISTINCT commit_lsn) AS transactions,
	   count(*) FILTER (WHERE operation = 'update') AS updates,
	   max(length(new_data->>'payload')) AS longest,
	   count(*) FILTER (WHERE new_data->>'payload' = 'rolled back') AS rolled_back
FROM cdc.log WHERE entity = 'public.big';

-- the extension's own tables are never logged
SELECT count(*) AS own_rows FROM cdc.log WHERE entity LIKE 'cdc.%';

-- capture settings: messages by prefix (transactional only), tables by pattern
SELECT cdc.set_capture(exclude_entities => '{fb}', messages => '{app.*}');
SELECT pg_logical_emit_message(true, 'app.audit', 'kept') IS NOT NULL AS emitted;
SELECT pg_logical_emit_message(true, 'other', 'not captured') IS NOT NULL AS emitted;
SELECT pg_logical_emit_message(false, 'app.audit', 'not transactional: no cursor position') IS NOT NULL AS emitted;
INSERT INTO fb VALUES (5, '{}', NULL, NULL, 'excluded');
INSERT INTO lt (id) VALUES (5);
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT entity, operation, relid IS NULL AS no_relid, new_data->>'id' AS id, new_data->>'content' AS content
FROM cdc.log WHERE operation = 'message' OR (entity IN ('public.fb', 'public.lt') AND new_data->>'id' = '5')
ORDER BY commit_lsn, seq;
SELECT cdc.set_capture();
INSERT INTO fb VALUES (6, '{}', NULL, NULL, 'captured again');
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT new_data->>'ok' AS ok FROM cdc.log WHERE entity = 'public.fb' AND new_data->>'id' IN ('5', '6');

-- trim: the horizon moves; partitions wholly before it go
SELECT oldest_lsn = '0/0' AS nothing_trimmed FROM cdc.log_state;
SELECT partitions_dropped >= 0 AS ok, oldest_lsn = (SELECT max(commit_lsn) FROM cdc.log WHERE entity = 'public.big') AS horizon
FROM cdc.trim((SELECT max(commit_lsn) FROM cdc.log WHERE entity = 'public.big'));
SELECT oldest_lsn = (SELECT max(commit_lsn) FROM cdc.log WHERE entity = 'public.big') AS horizon_kept FROM cdc.log_state;
-- trimming less than before changes nothing
SELECT partitions_dropped, freed_bytes, oldest_lsn = (SELECT oldest_lsn FROM cdc.log_state) AS same
FROM cdc.trim('0/1');

-- retention by age: with max_age shortened the old partitions go (the
-- wait commits between looks: a reader's open transaction on cdc.log holds
-- off the partition changes until it ends)
SELECT cdc.set_retention(max_age => '2 seconds');
INSERT INTO lt (id) VALUES (6);
DO $$
DECLARE
	start pg_lsn := (SELECT oldest_lsn FROM cdc.log_state);
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN (SELECT oldest_lsn FROM cdc.log_state) > start
			  AND NOT EXISTS (SELECT FROM cdc.log WHERE entity = 'public.big');
		COMMIT;
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT count(*) AS big_rows_left FROM cdc.log WHERE entity = 'public.big';
SELECT count(*) AS partitions_of_big FROM cdc.log_chunk
WHERE last_commit_lsn <= (SELECT oldest_lsn FROM cdc.log_state) AND closed;
SELECT cdc.set_retention();
SELECT retention_max_age, retention_max_bytes FROM cdc.log_state;

-- cdc.status() knows how far the writer got also when its last stretch of
-- WAL had nothing to log (the writer then writes nothing to its table)
CREATE TABLE quiet_ddl (id int);
SELECT cdc.wait_for_log() AS upto \gset
SELECT ingested_lsn >= :'upto' AS ingested_reaches_it, writer_running FROM cdc.status();
DROP TABLE quiet_ddl;

-- bad input: SQLSTATE, message, hint; nothing changes
\set VERBOSITY default
SELECT cdc.set_retention(NULL);
SELECT cdc.set_retention('-1 hour');
SELECT cdc.set_retention('500 ms');
SELECT cdc.set_retention('1 day', 1000);
SELECT cdc.set_capture(entities => '{NULL}');
SELECT cdc.set_capture(exclude_entities => '{"bad\\"}');
SELECT * FROM cdc.trim('0/0');
SELECT cdc.wait_for_log(NULL, '-1 s');
-- errors that name positions and processes, with those masked
CREATE FUNCTION pg_temp.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text; d text; h text;
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN regexp_replace(SQLSTATE || ' ' || m || ' / ' || d || ' / ' || h,
						  '[0-9A-F]+/[0-9A-F]+|PID \d+', '<x>', 'g');
END $$;
SELECT pg_temp.error_of($$SELECT * FROM cdc.trim('FFFFFFFF/FFFFFFFF')$$);
SELECT pg_temp.error_of($$SELECT cdc.wait_for_log('FFFFFFFF/0', '100 ms')$$);
SELECT pg_temp.error_of($$CALL cdc.ingest()$$);
\set VERBOSITY terse
SELECT retention_max_age, capture_entities, capture_exclude_entities, capture_lsn IS NOT NULL AS capture_changed FROM cdc.log_state;

DROP TABLE lt, lt_copy, fb, big;
DROP TYPE holder;
DROP EXTENSION cdc_ext;
