-- Hostile input: every character that JSON must escape, in values and in
-- column names; 1600 columns; values near the 1 GB limit of one output row.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE TABLE hostile (id int PRIMARY KEY, t text, "col""quote" int, "back\slash" int,
	U&"new\000Aline" int, U&"tab\0009and\0001ctl" int, "ü ñ 😀" int, "a.b,c" int, "{}[]:" int);
SELECT 'init' FROM pg_create_logical_replication_slot('hostile_slot', 'cdc_ext');
-- every code point 1..127, then a few beyond, each alone and all together
INSERT INTO hostile (id, t) SELECT c, chr(c) FROM generate_series(1, 127) c;
INSERT INTO hostile (id, t) SELECT c, chr(c) FROM unnest('{128,255,2028,8232,8233,65279,65533,128512}'::int[]) c;
INSERT INTO hostile (id, t) SELECT 0, string_agg(chr(c), '' ORDER BY c) FROM generate_series(1, 300) c;
INSERT INTO hostile VALUES (-1, 'names', 1, 2, 3, 4, 5, 6, 7);
CREATE TEMP TABLE out AS SELECT data FROM pg_logical_slot_peek_changes('hostile_slot', NULL, NULL);
-- every entry is valid JSON with no raw control character, and every value
-- reads back exactly as stored
SELECT count(*) AS entries,
	   count(*) FILTER (WHERE data ~ '[\x01-\x1f]') AS raw_control_chars,
	   count(*) FILTER (WHERE data::json IS NULL) AS invalid
FROM out;
SELECT count(*) AS exact FROM out o JOIN hostile h ON h.id = (o.data::jsonb->'new_data'->>'id')::int
WHERE o.data::jsonb->'new_data'->>'t' = h.t;
-- how the short escapes and a control character are written
SELECT (regexp_match(data, '"t":("[^"\\]*(\\.[^"\\]*)*")'))[1] AS written
FROM out WHERE (data::jsonb->'new_data'->>'id')::int IN (1, 8, 9, 10, 12, 13, 31, 34, 47, 92, 127)
ORDER BY (data::jsonb->'new_data'->>'id')::int;
-- column names are escaped as keys and read back exactly
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(data::jsonb->'new_data') k) =
	   (SELECT array_agg(attname::text ORDER BY attname::text) FROM pg_attribute
		WHERE attrelid = 'hostile'::regclass AND attnum > 0) AS keys_exact
FROM out WHERE data::jsonb->'new_data'->>'id' = '-1';
SELECT 'drop' FROM pg_logical_slot_get_changes('hostile_slot', NULL, NULL) LIMIT 1;

-- 1600 columns, the most a table may have
DO $$ BEGIN
	EXECUTE 'CREATE TABLE wide (' ||
		(SELECT string_agg(format('c%s int DEFAULT %s', g, g), ', ') FROM generate_series(1, 1600) g) || ')';
END $$;
INSERT INTO wide DEFAULT VALUES;
UPDATE wide SET c1600 = -1;
SELECT data::jsonb->>'operation' AS op, (SELECT count(*) FROM jsonb_object_keys(data::jsonb->'new_data')) AS keys,
	   data::jsonb->'new_data'->'c1' AS c1, data::jsonb->'new_data'->'c1600' AS c1600
FROM pg_logical_slot_get_changes('hostile_slot', NULL, NULL, 'entities', 'wide');

-- large values: 200 MB of quotes is 400 MB as JSON and is written; 600 MB
-- would be 1.2 GB, more than one output row can hold: a clear error, the
-- slot does not move, and excluding the table reads past it (lz4 keeps the
-- test quick)
CREATE TABLE huge (id int PRIMARY KEY, t text COMPRESSION lz4);
INSERT INTO huge VALUES (1, repeat('"', 200 * 1000 * 1000));
SELECT length(data) > 400000000 AS written_whole FROM pg_logical_slot_get_changes('hostile_slot', NULL, NULL);
INSERT INTO huge VALUES (2, repeat('"', 600 * 1000 * 1000));
INSERT INTO hostile (id, t) VALUES (1000, 'after the huge one');
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT count(*) FROM pg_logical_slot_get_changes('hostile_slot', NULL, NULL);
\set VERBOSITY terse
SELECT data::jsonb->>'entity' AS entity, data::jsonb->'new_data' AS new_data
FROM pg_logical_slot_get_changes('hostile_slot', NULL, NULL, 'exclude_entities', 'huge');

SELECT 'drop' FROM pg_drop_replication_slot('hostile_slot');
DROP TABLE hostile, wide, huge;
