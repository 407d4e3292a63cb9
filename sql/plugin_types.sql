-- Values: every built-in type as the plugin writes it equals to_jsonb(row)
-- under PostgreSQL's defaults, and the bytes never depend on the reading
-- session's settings, before or after an error.
\set VERBOSITY terse
-- PostgreSQL's defaults (pg_regress itself sets other ones)
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s "fine"');
CREATE TYPE pair AS (a int, b text, c float8[]);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN tags AS text[];
CREATE TABLE typed (
	id bigint PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric, n2 numeric(20,4),
	f4 float4, f8 float8, b bool, t text, vc varchar(10), c char(3), nm name, ch "char",
	by bytea, d date, tm time, ttz timetz, ts timestamp(3), tstz timestamptz,
	iv interval, u uuid, j json, jb jsonb, ai int[], at text[], a2 int[][], af float8[],
	ab bool[], ats timestamptz[], ajb jsonb[], ad date[], abounds int[],
	p pair, ap pair[], e mood, dom posint, tg tags, r int4range, tr tstzrange, mr int4multirange,
	ip inet, ci cidr, mac macaddr, bits bit(4), vb varbit, o oid, rc regclass, ls pg_lsn,
	pt point, tv tsvector, x xml);
SELECT 'init' FROM pg_create_logical_replication_slot('types_slot', 'cdc_ext');

INSERT INTO typed VALUES
 (1, -32768, 2147483647, 9007199254740993, 12345678901234567890.123456789, 1.5,
  1.1, 0.1, true, E'quote" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f bell\007 esc\033 del\177 \u2028 \U0001F600 é',
  'vc', 'ab', 'nm', 'q', '\x00ff0a22', '2026-01-02', '12:34:56.789', '12:34:56+05:30',
  '2026-01-02 03:04:05.678901', '2026-01-02 03:04:05.678901+02', '1 year 2 months 3 days 04:05:06.5',
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"k": [1, 2.5, "x"],  "k": 2}', '{"z": null, "a": {"b": true}}',
  '{1,NULL,3}', '{"a,b",NULL,"\"","NULL",""}', '{{1,2},{3,4}}', '{1.5,NaN,-Infinity,1e-7}',
  '{t,f,NULL}', '{"2026-01-02 03:04:05+02"}', ARRAY['{"a":1}'::jsonb, 'null'], '{2026-01-02,infinity}',
  '[0:2]={7,8,9}', ROW(1, 'x"y', '{1.25,2}'), ARRAY[ROW(1, 'a', NULL)::pair, NULL], 'it''s "fine"', 7,
  '{x,y}', '[1,5)', '[2026-01-01 00:00+00,2026-02-01 00:00+00)', '{[1,3),[7,9)}',
  '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'1010', B'101', 4294967295, 'typed',
  '16/B374D848', '(1.5,-2)', 'a fat:2 cat', '<a x="1">t&amp;</a>'),
 (2, NULL, NULL, -9223372036854775808, 'NaN', NULL, 'Infinity', '-Infinity', false, '', NULL,
  NULL, NULL, NULL, '\x', 'infinity', NULL, NULL, '-infinity', 'infinity', '-1 day -00:00:01', NULL,
  'null', '[]', '{}', '{}', NULL, '{}', NULL, NULL, NULL, NULL, NULL, ROW(NULL, NULL, NULL), '{}', NULL,
  NULL, '{}', 'empty', 'empty', '{}', '::1', NULL, NULL, NULL, B'', 0, NULL, '0/0', NULL, '', NULL);
INSERT INTO typed (id, i2, i4, i8, n, n2, f4, f8, d, tm, ts, tstz, iv, j, jb, r)
VALUES (3, 0, 0, 9223372036854775807, '-0.000100', -12345678901234.5678, '-0', '1e-320',
		'4713-01-01 BC', '24:00', '2000-01-01', '1999-12-31 23:59:59.999999-12', '178000000 years',
		'1', '"s"', '(,)');
INSERT INTO typed (id, i2, i4, i8, n, n2, f4, f8, iv, j, jb)
VALUES (4, 1, 1, 1, '1e100', 0, 3.4028235e38, 1.7976931348623157e308, '0', '1e400',
		'123456789012345678901234567890');

-- 1. equal to to_jsonb(row) under the defaults: the columns that differ, if any
CREATE TEMP TABLE decoded AS
	SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('types_slot', NULL, NULL);
SELECT w.id, k AS differing_column, d.d->'new_data'->k AS decoded, to_jsonb(w)->k AS expected
FROM decoded d JOIN typed w ON w.id = (d.d->'new_data'->>'id')::bigint,
	 jsonb_object_keys(to_jsonb(w)) k
WHERE d.d->'new_data'->k IS DISTINCT FROM to_jsonb(w)->k
ORDER BY 1, 2;
SELECT count(*) AS rows_equal_to_jsonb
FROM decoded d JOIN typed w ON w.id = (d.d->'new_data'->>'id')::bigint
WHERE d.d->'new_data' = to_jsonb(w);
-- exactness that jsonb comparison would hide: the text as written
SELECT substring(data from '"i8":[^,]*') AS i8, substring(data from '"n":[^,]*') AS n,
	   substring(data from '"f4":[^,]*') AS f4, substring(data from '"f8":[^,]*') AS f8
FROM pg_logical_slot_peek_changes('types_slot', NULL, NULL) ORDER BY lsn;
-- the whole first row
SELECT jsonb_pretty(data::jsonb->'new_data') AS row1 FROM pg_logical_slot_peek_changes('types_slot', NULL, NULL) LIMIT 1;
SELECT bool_and(data::json IS NOT NULL) AS all_valid_json FROM pg_logical_slot_peek_changes('types_slot', NULL, NULL);

-- timestamps across the whole calendar (the plugin writes years 1..9999
-- itself, the rest as PostgreSQL does): equal to to_jsonb, every one
CREATE TABLE stamps (id serial PRIMARY KEY, a timestamp, b timestamptz);
SELECT 'init' FROM pg_create_logical_replication_slot('stamps_slot', 'cdc_ext');
SELECT setseed(0.5);
INSERT INTO stamps (a, b) SELECT t, t FROM (
	SELECT '0001-01-01'::timestamp + (random() * 3652000)::int * interval '1 day'
		   + (random() * 86400000000)::bigint * interval '1 microsecond' AS t
	FROM generate_series(1, 5000)
	UNION ALL
	SELECT unnest('{0001-01-01 00:00:00, 9999-12-31 23:59:59.999999, 2000-01-01, 1999-12-31 23:59:59.999999,
		1970-01-01 00:00:00.000001, 2026-01-01 12:00:00.5, 2026-01-01 12:00:00.05, 0001-12-31 23:59:59.9 BC,
		0044-03-15 12:00 BC, 10000-01-01, 294276-12-31 23:59:59, infinity, -infinity, 1582-10-04}'::timestamp[])) s;
SELECT count(*) AS stamps, count(*) FILTER (WHERE (d.data::jsonb->'new_data') <> to_jsonb(w)) AS differing
FROM pg_logical_slot_peek_changes('stamps_slot', NULL, NULL) d
JOIN stamps w ON w.id = (d.data::jsonb->'new_data'->>'id')::int;
SELECT data::jsonb->'new_data'->'b' AS b FROM pg_logical_slot_peek_changes('stamps_slot', NULL, NULL)
OFFSET 5000;
SELECT 'drop' FROM pg_drop_replication_slot('stamps_slot');
DROP TABLE stamps;

-- 2. the same bytes under hostile session settings
CREATE TEMP TABLE baseline AS
	SELECT row_number() OVER () AS n, data FROM pg_logical_slot_peek_changes('types_slot', NULL, NULL);
SET TimeZone = 'Asia/Kathmandu';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'iso_8601';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
SELECT count(*) AS rows, count(*) FILTER (WHERE b.data IS DISTINCT FROM h.data) AS differing
FROM baseline b FULL JOIN (SELECT row_number() OVER () AS n, data
	FROM pg_logical_slot_peek_changes('types_slot', NULL, NULL)) h USING (n);
-- decoding left the session's own settings as they were
SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds,
	   current_setting('IntervalStyle') AS ivs, current_setting('extra_float_digits') AS efd,
	   current_setting('bytea_output') AS bo, now()::date = current_date AS dates_work;
SELECT '2026-01-02 03:04:05+00'::timestamptz AS session_tz_still_applies, '1 day'::interval AS iv;

-- 3. ... and after decoding is cancelled half way (statement_timeout fires
-- while rows are being converted), the session's settings are its own
INSERT INTO typed (id, tstz, iv, by, f8) SELECT g, '2026-01-02 03:04:05+00', '1 day', '\x01', 0.1
	FROM generate_series(100, 50099) g;
SET statement_timeout = '10ms';
SELECT count(*) FROM pg_logical_slot_peek_changes('types_slot', NULL, NULL);
RESET statement_timeout;
SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds,
	   current_setting('IntervalStyle') AS ivs, current_setting('extra_float_digits') AS efd,
	   current_setting('bytea_output') AS bo;
SELECT '2026-01-02 03:04:05+00'::timestamptz AS tstz, '1 day 01:02:03'::interval AS iv,
	   0.1::float8 AS f8, '\x01'::bytea AS by;
-- and the slot reads the same bytes as before
SELECT count(*) AS rows, count(*) FILTER (WHERE b.data IS DISTINCT FROM h.data) AS differing
FROM baseline b JOIN (SELECT row_number() OVER () AS n, data
	FROM pg_logical_slot_peek_changes('types_slot', NULL, NULL)) h USING (n);

RESET ALL;
SELECT 'drop' FROM pg_drop_replication_slot('types_slot');
DROP TABLE typed;
DROP TYPE pair, mood;
DROP DOMAIN posint;
DROP DOMAIN tags;
