-- No code of an unprivileged role runs while decoding (docs/sql-api.md).  A plain
-- role owns types with a CREATE CAST (... AS json) in PL/pgSQL; when a
-- superuser decodes a table using them, the casts never run (their
-- WARNING never shows) and the values come out by the types' own output,
-- walked through composites, arrays and domains.  A cast whose function a
-- superuser owns (an extension's, or the superuser's own) is used, as
-- to_jsonb() uses it, until its function changes hands.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE ROLE cdc_mallory;
CREATE SCHEMA mallory AUTHORIZATION cdc_mallory;
SET ROLE cdc_mallory;
CREATE TYPE mallory.level AS ENUM ('low', 'high');
CREATE TYPE mallory.span AS RANGE (subtype = int4);
CREATE TYPE mallory.wrap AS (l mallory.level, n int, s mallory.span);
CREATE DOMAIN mallory.dlevel AS mallory.level;
CREATE FUNCTION mallory.level_json(mallory.level) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'mallory''s level_json ran as %', current_user;
	RETURN '"pwned"';
END $$;
CREATE FUNCTION mallory.span_json(mallory.span) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'mallory''s span_json ran as %', current_user;
	RETURN '"pwned"';
END $$;
CREATE FUNCTION mallory.wrap_json(mallory.wrap) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'mallory''s wrap_json ran as %', current_user;
	RETURN '"pwned"';
END $$;
CREATE CAST (mallory.level AS json) WITH FUNCTION mallory.level_json(mallory.level);
CREATE CAST (mallory.span AS json) WITH FUNCTION mallory.span_json(mallory.span);
CREATE CAST (mallory.wrap AS json) WITH FUNCTION mallory.wrap_json(mallory.wrap);
CREATE TABLE mallory.t (id int PRIMARY KEY, l mallory.level, s mallory.span,
	w mallory.wrap, al mallory.level[], aw mallory.wrap[], d mallory.dlevel,
	ad mallory.dlevel[]);
-- the casts work, for mallory
SELECT 'high'::mallory.level::json AS cast_for_mallory;
RESET ROLE;

SELECT 'init' FROM pg_create_logical_replication_slot('security_slot', 'cdc_ext');
INSERT INTO mallory.t VALUES (1, 'high', '[1,5)', ROW('low', 2, '[3,4]'),
	'{low,high,NULL}', ARRAY[ROW('high', 3, 'empty')::mallory.wrap, NULL],
	'high', '{low}');
-- a superuser decodes: no WARNING above or below, values in text form
SELECT data::jsonb->'new_data' AS new_data
FROM pg_logical_slot_peek_changes('security_slot', NULL, NULL);
SELECT data::jsonb->'new_data' AS new_data
FROM pg_logical_slot_peek_changes('security_slot', NULL, NULL, 'numeric_as_string', 'true');
-- and as to_jsonb() writes these values where no cast is involved
SELECT (SELECT data::jsonb->'new_data' FROM pg_logical_slot_peek_changes('security_slot', NULL, NULL))
	 - 'l' - 's' - 'w' - 'al' - 'aw' - 'd' - 'ad' = jsonb_build_object('id', 1) AS only_cast_columns_differ;

-- a cast whose function a superuser owns is used: an extension's (hstore)
-- and the superuser's own; the output equals to_jsonb()
CREATE EXTENSION hstore;
CREATE TYPE boss AS ENUM ('me');
CREATE FUNCTION boss_json(boss) RETURNS json LANGUAGE sql IMMUTABLE
	AS $$ SELECT json_build_object('boss', $1::text) $$;
CREATE CAST (boss AS json) WITH FUNCTION boss_json(boss);
CREATE TABLE trusted (id int PRIMARY KEY, h hstore, b boss, ab boss[]);
INSERT INTO trusted VALUES (1, 'a=>1, "b c"=>NULL', 'me', '{me}');
-- the function changes hands: from then on the cast is not used
ALTER FUNCTION boss_json(boss) OWNER TO cdc_mallory;
INSERT INTO trusted VALUES (2, 'x=>y', 'me', '{me}');
-- (to_jsonb() runs the cast whoever owns it: row 2 differs from it)
SELECT data::jsonb->'new_data' AS new_data,
	   data::jsonb->'new_data' = (SELECT to_jsonb(t) FROM trusted t
								  WHERE id = (data::jsonb->'new_data'->>'id')::int) AS equals_to_jsonb
FROM pg_logical_slot_peek_changes('security_slot', NULL, NULL, 'entities', 'public.trusted');

SELECT 'drop' FROM pg_drop_replication_slot('security_slot');
DROP TABLE trusted;
DROP FUNCTION boss_json(boss) CASCADE;
DROP TYPE boss;
DROP EXTENSION hstore;
DROP SCHEMA mallory CASCADE;
DROP ROLE cdc_mallory;
