-- cdc_ext 1.1 -> 1.2 (copied into cdc_ext--1.1--1.2.sql by the Makefile).
-- Written by hand: every object 1.2 adds or changes in src/*/*.sql is added
-- or changed here too, so that an updated database equals a fresh 1.2
-- install (t/081_upgrade_1_2.pl compares their catalogs).

\echo Use "ALTER EXTENSION cdc_ext UPDATE TO '1.2'" to load this file. \quit

-- The writer's lost ranges (src/log/log.sql): the existing row keeps
-- confirm_rule 0 until its first 1.2 writer starts.
ALTER TABLE cdc.log_state
	ADD COLUMN lost_from pg_lsn,
	ADD COLUMN lost_to pg_lsn,
	ADD COLUMN lost_reason text,
	ADD COLUMN lost_at timestamptz,
	ADD COLUMN confirm_rule integer NOT NULL DEFAULT 0,
	ADD COLUMN created_at timestamptz NOT NULL DEFAULT pg_catalog.now();

-- cdc.status() reports the last lost range: its row type grows, so it is
-- made again, keeping the privileges granted on it.
DO $upgrade$
DECLARE
	acl aclitem[] := (SELECT proacl FROM pg_catalog.pg_proc WHERE oid = 'cdc.status()'::pg_catalog.regprocedure);
	g record;
BEGIN
	DROP FUNCTION cdc.status();
	CREATE FUNCTION cdc.status(
		OUT enabled boolean,
		OUT wal_level text,
		OUT writer_running boolean,
		OUT writer_pid integer,
		OUT ingest_lag_bytes bigint,
		OUT current_lsn pg_lsn,
		OUT log_head_lsn pg_lsn,
		OUT ingested_lsn pg_lsn,
		OUT oldest_lsn pg_lsn,
		OUT oldest_time timestamptz,
		OUT retention text,
		OUT disk_usage_bytes bigint,
		OUT disk_usage text,
		OUT wal_held_bytes bigint,
		OUT consumers integer,
		OUT consumers_with_gap integer,
		OUT lost_from pg_lsn,
		OUT lost_to pg_lsn,
		OUT lost_reason text,
		OUT lost_at timestamptz)
	AS 'MODULE_PATHNAME', 'cdc_status'
	LANGUAGE C VOLATILE;
	REVOKE EXECUTE ON FUNCTION cdc.status() FROM PUBLIC;
	FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable
			 FROM pg_catalog.aclexplode(acl) a
			 WHERE a.grantee <> 0 AND a.grantee <> (SELECT proowner FROM pg_catalog.pg_proc WHERE oid = 'cdc.status()'::pg_catalog.regprocedure)
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION cdc.status() TO %s%s',
								  g.grantee::pg_catalog.regrole, CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$upgrade$;
COMMENT ON FUNCTION cdc.status() IS
	'CDC status: enabled, writer, current and oldest retained LSN and time, retention, disk usage of the log, WAL held, consumers, and the last range of WAL whose changes could not be logged (lost_*)';

-- the log writer waited for this update (an older version's objects): ask
-- for it now rather than at the launcher's next look
SELECT cdc.start_writer();
