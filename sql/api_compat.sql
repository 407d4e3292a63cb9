-- The 1.1 library under the 1.0 SQL objects (package upgraded, ALTER
-- EXTENSION not yet run): the 1.0 definitions call C symbols that still
-- exist, and each fails cleanly without reading an argument it was not
-- given.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text; h text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' HINT: ' || nullif(h, ''), '');
END $$;
CREATE EXTENSION cdc_ext VERSION '1.0';
SELECT pg_temp.try($$SELECT cdc.create_consumer('old')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('old')$$);
SELECT pg_temp.try($$SELECT cdc.checkpoint('old', '0/10', 0)$$);
SELECT pg_temp.try($$SELECT cdc.drop_consumer('old')$$);
SELECT split_part(pg_temp.try($$SELECT * FROM cdc.trim('0/10')$$), ':', 1) AS trim_sqlstate;
-- (the upgrade itself, with consumers and unread changes, is the log's test)
DROP EXTENSION cdc_ext;
CREATE EXTENSION cdc_ext;
SELECT cdc.create_consumer('new') IS NOT NULL AS created;
SELECT count(*) AS rows FROM cdc.stream('new');
SELECT cdc.drop_consumer('new');
DROP EXTENSION cdc_ext;
