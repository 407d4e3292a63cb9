-- Included by the api_* suites right after CREATE EXTENSION: waits until the
-- log writer logs, and defines the helpers they share.
SELECT cdc.wait_for_log() IS NOT NULL AS writer_ready;
-- wait until the log holds everything committed so far
CREATE FUNCTION pg_temp.logged() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM cdc.wait_for_log();
	RETURN true;
END $$;
-- run a statement; show SQLSTATE, message, detail and hint of its error, LSNs masked
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text; h text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM || coalesce(E'\nDETAIL: ' || nullif(d, ''), '')
						  || coalesce(E'\nHINT: ' || nullif(h, ''), ''),
						  '[0-9A-F]+/[0-9A-F]+', 'X/X', 'g');
END $$;
