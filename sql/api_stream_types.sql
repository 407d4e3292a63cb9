-- Values through the log (docs/plugin.md, issue 9 item 13): cdc.stream returns
-- the plugin's jsonb whatever the session settings, and numeric_as_string
-- gives it the plugin option's meaning at read time: int8 beyond +-2^53 and
-- numerics a double would round become strings (also inside arrays and in
-- entity_id); floats, json/jsonb values and exact numbers stay numbers.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
CREATE TABLE nums (
	id bigint PRIMARY KEY, n numeric, f float8, small int, arr numeric[], j jsonb, ts timestamptz, b bytea);
CREATE TABLE pair (a bigint, b text, PRIMARY KEY (a, b));
SELECT cdc.create_consumer('types') IS NOT NULL AS created;
INSERT INTO nums VALUES
	(9007199254740995, 0.30000000000000004, 0.30000000000000004, 7, '{1.5, 12345678901234567890}',
	 '{"big": 12345678901234567890}', '2026-01-02 03:04:05.678+00', '\x00ff'),
	(42, 1.5, 1.25e10, -1, '{1,2}', '{"x": 1}', '2026-06-30 23:59:59+00', NULL);
INSERT INTO pair VALUES (-9007199254740993, 'k');
UPDATE nums SET n = n + 1 WHERE id = 42;
SELECT pg_temp.logged() AS logged;
SELECT entity_id, new_data FROM cdc.stream('types') ORDER BY commit_lsn, seq;
SELECT entity_id, new_data FROM cdc.stream('types', numeric_as_string => true) ORDER BY commit_lsn, seq;
-- JSON types with numeric_as_string: strings only where a double would round
SELECT jsonb_typeof(new_data->'id') AS id, jsonb_typeof(new_data->'n') AS n,
	   jsonb_typeof(new_data->'f') AS f, jsonb_typeof(new_data->'arr'->1) AS arr1,
	   jsonb_typeof(new_data->'j'->'big') AS json_inside
FROM cdc.stream('types', numeric_as_string => true, entities => '{nums}') LIMIT 1;
-- session settings do not change the values
SET TimeZone = 'Asia/Kathmandu';
SET DateStyle = 'SQL, DMY';
SET bytea_output = 'escape';
SET extra_float_digits = -3;
SELECT new_data->'ts' AS ts, new_data->'b' AS b, new_data->'f' AS f
FROM cdc.stream('types', entities => '{nums}', operations => '{insert}');
RESET TimeZone;
RESET DateStyle;
RESET bytea_output;
RESET extra_float_digits;
-- consume returns the same shapes
SELECT entity_id FROM cdc.consume('types', numeric_as_string => true);

SELECT cdc.drop_consumer('types');
DROP TABLE nums, pair;
DROP EXTENSION cdc_ext;
