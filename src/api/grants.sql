-- src/api/grants.sql: last part of the install script.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA cdc FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA cdc FROM PUBLIC;

-- Start this database's log writer now rather than at the launcher's next
-- look (a no-op without shared_preload_libraries = 'cdc_ext').
SELECT cdc.start_writer();
