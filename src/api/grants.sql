-- src/api/grants.sql: last part of the install script.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA cdc FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA cdc FROM PUBLIC;

-- Administration is granted on its own: GRANT cdc_admin TO ops.  The
-- functions also check the role when called (src/log/capture.c,
-- CdcRequireAdmin), so that EXECUTE granted to an application, even on
-- every function of the schema, does not reach them.
GRANT USAGE ON SCHEMA cdc TO cdc_admin;
GRANT EXECUTE ON FUNCTION cdc.trim(pg_lsn), cdc.set_retention(interval, bigint),
	cdc.set_capture(text[], text[], text[]), cdc.wait_for_log(pg_lsn, interval),
	cdc.status(), cdc.writer_info(), cdc.current_lsn() TO cdc_admin;
GRANT EXECUTE ON PROCEDURE cdc.ingest() TO cdc_admin;

-- Start this database's log writer now rather than at the launcher's next
-- look (a no-op without shared_preload_libraries = 'cdc_ext').
SELECT cdc.start_writer();
