-- cdc_ext 1.1 -> 1.2 (copied into cdc_ext--1.1--1.2.sql by the Makefile).
-- Written by hand: every object 1.2 adds or changes in src/*/*.sql is added
-- or changed here too, so that an updated database equals a fresh 1.2
-- install (t/081_upgrade_1_2.pl compares their catalogs).

\echo Use "ALTER EXTENSION cdc_ext UPDATE TO '1.2'" to load this file. \quit


-- Column identity for read-time column privileges (src/log/log.sql).
CREATE TABLE cdc.log_shape (
	relid			oid NOT NULL,
	commit_lsn		pg_lsn NOT NULL,
	seq				integer NOT NULL,
	attnums			smallint[] NOT NULL,
	names			text[] NOT NULL,
	key				smallint[] NOT NULL,
	PRIMARY KEY (relid, commit_lsn, seq)
);
REVOKE ALL ON cdc.log_shape FROM PUBLIC;
COMMENT ON TABLE cdc.log_shape IS
	'Columns (attnum, name) and key of logged tables as of their changes, for column privileges at read time (internal)';

-- Objects this update creates carry the owner's privileges only, as in a
-- fresh install (src/api/grants.sql): the installing role's default
-- privileges, applied by CREATE, are revoked.  List every object 1.2 adds.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT DISTINCT format('REVOKE ALL ON TABLE %s FROM %s', c.oid::pg_catalog.regclass,
							   pg_catalog.quote_ident(a.rolname)) AS cmd
		FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x, pg_catalog.pg_roles a
		WHERE c.oid OPERATOR(pg_catalog.=) ANY (ARRAY['cdc.log_shape']::pg_catalog.regclass[])
		  AND a.oid OPERATOR(pg_catalog.=) x.grantee AND x.grantee OPERATOR(pg_catalog.<>) c.relowner
	LOOP
		EXECUTE r.cmd;
	END LOOP;
END $$;
