-- cdc.stream builds jsonb straight from the row: it must equal the plugin's
-- JSON entry and to_jsonb(row) for every type, under hostile session settings.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE typed (
	id bigint PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric, f4 float4, f8 float8,
	b bool, t text, vc varchar(10), c char(3), nm name, by bytea, d date, tm time,
	ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb,
	ai int[], at text[], a2 int[][], p pair, e mood, dom posint, r int4range, ip inet);
CREATE TABLE composite_key (a int, b text, PRIMARY KEY (a, b));
CREATE TABLE uuid_key (id uuid PRIMARY KEY);
SELECT cdc.create_consumer('types') IS NOT NULL AS created;
SELECT 'slot' FROM pg_create_logical_replication_slot('types_json', 'cdc_ext');

INSERT INTO typed VALUES
 (1, -32768, 2147483647, 9007199254740993, 12345678901234567890.123456789, 0.1, 1e300,
  true, E'quote" backslash\\ nl\n tab\t \u2028 \U0001F600', 'vc', 'ab', 'nm', '\x00ff',
  '2026-01-02', '12:34:56.789', '12:34:56+05:30', '2026-01-02 03:04:05.678901',
  '2026-01-02 03:04:05.678901+02', '1 year 2 months 3 days 04:05:06', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"k": [1, 2.5, "x"]}', '{"z": null, "a": {"b": true}}', '{1,NULL,3}', '{"a,b",NULL,"\""}',
  '{{1,2},{3,4}}', ROW(1, 'x'), 'ok', 7, '[1,5)', '192.168.0.1/24'),
 (2, NULL, NULL, -9223372036854775808, 'NaN', 'Infinity', '-Infinity', false, '', NULL, NULL,
  NULL, '\x', 'infinity', NULL, NULL, '-infinity', 'infinity', '-1 day', NULL, 'null', '[]',
  '{}', '{}', NULL, ROW(NULL, NULL), NULL, NULL, 'empty', NULL),
 (3, 0, 0, 0, '-0.000100', '-0', '1e-320', NULL, NULL, NULL, NULL, NULL, NULL, '0001-01-01 BC',
  '24:00', NULL, '2000-01-01', '1999-12-31 23:59:59.999999-12', NULL, NULL, '1', '"s"',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO composite_key VALUES (1, 'one');
INSERT INTO uuid_key VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');

-- hostile settings in the reading session
SET TimeZone = 'Asia/Kathmandu';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'iso_8601';
SET extra_float_digits = -3;
SET bytea_output = 'escape';

-- typed rows = plugin JSON entries, field by field
WITH typed_rows AS (
	SELECT commit_lsn, seq, entity, entity_id, operation::text AS op, old_data, new_data
	FROM cdc.stream('types')),
json_rows AS (
	SELECT (d->>'commit_lsn')::pg_lsn AS commit_lsn, (d->>'seq')::int AS seq, d->>'entity' AS entity,
		   d->'entity_id' AS entity_id, d->>'operation' AS op, d->'old_data' AS old_data,
		   d->'new_data' AS new_data
	FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('types_json', NULL, NULL)) s)
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE j.commit_lsn IS NULL) AS missing_in_json,
	   count(*) FILTER (WHERE t.entity_id IS DISTINCT FROM j.entity_id
					  OR t.new_data IS DISTINCT FROM j.new_data
					  OR t.old_data IS DISTINCT FROM coalesce(nullif(j.old_data, 'null'), NULL)
					  OR t.op <> j.op OR t.entity <> j.entity) AS differing
FROM typed_rows t LEFT JOIN json_rows j USING (commit_lsn, seq);

-- and = to_jsonb(row) under PostgreSQL's defaults: columns that differ, if any
SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex';
SET TimeZone = 'UTC';
-- (the stream is joined with the table it streams: the query holds it open)
SELECT s.new_data->>'id' AS id, k AS differing_column, s.new_data->k AS streamed, to_jsonb(whole_row)->k AS expected
FROM cdc.stream('types', entities => '{typed}') s
JOIN typed whole_row ON whole_row.id = (s.new_data->>'id')::bigint,
	 jsonb_object_keys(to_jsonb(whole_row)) k
WHERE s.new_data->k IS DISTINCT FROM to_jsonb(whole_row)->k
ORDER BY 1, 2;
SELECT count(*) AS rows_equal_to_jsonb
FROM cdc.stream('types', entities => '{typed}') s
JOIN typed whole_row ON whole_row.id = (s.new_data->>'id')::bigint
WHERE s.new_data = to_jsonb(whole_row);
-- keys: scalar, composite object, uuid string
SELECT entity, entity_id FROM cdc.stream('types', exclude_entities => '{typed}');
-- numeric_as_string is a plugin option; typed rows keep exact numbers
SELECT new_data->'i8' AS i8, new_data->'n' AS n FROM cdc.stream('types', entities => '{typed}') LIMIT 1;

SELECT 'drop' FROM pg_drop_replication_slot('types_json');
SELECT cdc.drop_consumer('types');
DROP TABLE typed, composite_key, uuid_key;
DROP TYPE pair, mood;
DROP DOMAIN posint;
DROP EXTENSION cdc_ext;
