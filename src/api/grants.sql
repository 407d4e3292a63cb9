-- src/api/grants.sql: last part of the install script.

-- Default privileges of the installing role (ALTER DEFAULT PRIVILEGES ...
-- GRANT SELECT ON TABLES TO app, a common setting) were applied to every
-- table, view, sequence and function made above: nothing of schema cdc is
-- for another role until an administrator grants it, so every privilege
-- held by a role other than the owner is revoked here, before the grants of
-- this part.  (Partitions the writer creates later get the same treatment:
-- src/log/retention.c.)
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT DISTINCT format('REVOKE ALL ON %s %s FROM %s',
				   CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
				   c.oid::pg_catalog.regclass, pg_catalog.quote_ident(a.rolname)) AS cmd
		FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x, pg_catalog.pg_roles a
		WHERE c.relnamespace OPERATOR(pg_catalog.=) 'cdc'::pg_catalog.regnamespace
		  AND a.oid OPERATOR(pg_catalog.=) x.grantee AND x.grantee OPERATOR(pg_catalog.<>) c.relowner
		UNION
		SELECT DISTINCT format('REVOKE ALL ON %s %s FROM %s',
				   CASE WHEN p.prokind OPERATOR(pg_catalog.=) 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
				   p.oid::pg_catalog.regprocedure, pg_catalog.quote_ident(a.rolname))
		FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) x, pg_catalog.pg_roles a
		WHERE p.pronamespace OPERATOR(pg_catalog.=) 'cdc'::pg_catalog.regnamespace
		  AND a.oid OPERATOR(pg_catalog.=) x.grantee AND x.grantee OPERATOR(pg_catalog.<>) p.proowner
	LOOP
		EXECUTE r.cmd;
	END LOOP;
END $$;
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
