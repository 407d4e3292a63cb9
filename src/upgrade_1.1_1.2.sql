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

-- The commit time of the last change removed from the log (src/log/log.sql).
-- A 1.1 log that was trimmed does not know it: the time of the last row
-- left before the horizon, else of the first one after it, else now (a
-- timestamp start before it is refused rather than begin with a gap).
ALTER TABLE cdc.log_state ADD COLUMN horizon_time timestamptz;
UPDATE cdc.log_state s SET horizon_time = coalesce(
	(SELECT l."timestamp" FROM cdc.log l WHERE l.commit_lsn OPERATOR(pg_catalog.<) s.oldest_lsn
	 ORDER BY l.commit_lsn DESC, l.seq DESC LIMIT 1),
	(SELECT l."timestamp" FROM cdc.log l WHERE l.commit_lsn OPERATOR(pg_catalog.>=) s.oldest_lsn
	 ORDER BY l.commit_lsn, l.seq LIMIT 1),
	pg_catalog.now())
WHERE s.oldest_lsn OPERATOR(pg_catalog.>) '0/0';

-- Who was delivered a group's change last, for its dead letter (src/api/groups.sql).
ALTER TABLE cdc.group_entry ADD COLUMN last_member text;

-- No function is STRICT: a NULL that has no meaning is an error (22004)
-- naming the argument, never an empty result (cdc.trim(NULL) once was).
ALTER FUNCTION cdc.trim(pg_lsn) CALLED ON NULL INPUT;
ALTER FUNCTION cdc.drop_consumer(text) CALLED ON NULL INPUT;
ALTER FUNCTION cdc.checkpoint(text, pg_lsn, integer) CALLED ON NULL INPUT;
ALTER FUNCTION cdc.drop_group(text) CALLED ON NULL INPUT;
ALTER FUNCTION cdc.ack(text, pg_lsn, integer) CALLED ON NULL INPUT;
ALTER FUNCTION cdc.ack(text, pg_lsn[], integer[]) CALLED ON NULL INPUT;
ALTER FUNCTION cdc.nack(text, pg_lsn, integer) CALLED ON NULL INPUT;
ALTER FUNCTION cdc.nack(text, pg_lsn[], integer[]) CALLED ON NULL INPUT;
ALTER FUNCTION cdc.dead_letters(text) CALLED ON NULL INPUT;

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
