-- cdc_ext 1.1 -> 1.2 (copied into cdc_ext--1.1--1.2.sql by the Makefile).
-- Written by hand: every object 1.2 adds or changes in src/*/*.sql is added
-- or changed here too, so that an updated database equals a fresh 1.2
-- install (t/081_upgrade_1_2.pl compares their catalogs).

\echo Use "ALTER EXTENSION cdc_ext UPDATE TO '1.2'" to load this file. \quit


-- Issue 15 items 2, 5, 9: the log's state in three one-row tables, one per
-- writer of it (src/log/log.sql): the writer's own (cdc.log_state renamed
-- cdc.log_writer, with the capture setting in force and where it came
-- from), the administrators' settings, the horizon; cdc.log_state a view
-- of the three.  cdc_admin for administration.
ALTER TABLE cdc.log_state RENAME TO log_writer;
ALTER INDEX cdc.log_state_pkey RENAME TO log_writer_pkey;
ALTER TABLE cdc.log_writer RENAME CONSTRAINT log_state_id_check TO log_writer_id_check;

CREATE TABLE cdc.log_settings (
	id				boolean PRIMARY KEY DEFAULT true CHECK (id),
	retention_max_age interval NOT NULL DEFAULT '168 hours',
	retention_max_bytes bigint,
	chunk_max_age	interval NOT NULL DEFAULT '1 hour',
	chunk_max_bytes	bigint NOT NULL DEFAULT 268435456,
	capture_entities text[],
	capture_exclude_entities text[],
	capture_messages text[],
	capture_set_at	timestamptz
) WITH (user_catalog_table = true);
REVOKE ALL ON cdc.log_settings FROM PUBLIC;
INSERT INTO cdc.log_settings (retention_max_age, retention_max_bytes, chunk_max_age,
							  chunk_max_bytes, capture_entities, capture_exclude_entities,
							  capture_messages)
SELECT retention_max_age, retention_max_bytes, chunk_max_age, chunk_max_bytes,
	   capture_entities, capture_exclude_entities, capture_messages
FROM cdc.log_writer;

CREATE TABLE cdc.log_horizon (
	id				boolean PRIMARY KEY DEFAULT true CHECK (id),
	oldest_lsn		pg_lsn NOT NULL DEFAULT '0/0'
);
REVOKE ALL ON cdc.log_horizon FROM PUBLIC;
INSERT INTO cdc.log_horizon (oldest_lsn) SELECT oldest_lsn FROM cdc.log_writer;

ALTER TABLE cdc.log_writer
	DROP COLUMN oldest_lsn,
	DROP COLUMN retention_max_age,
	DROP COLUMN retention_max_bytes,
	DROP COLUMN chunk_max_age,
	DROP COLUMN chunk_max_bytes,
	DROP COLUMN config_version,
	ADD COLUMN capture_lsn pg_lsn,
	ADD COLUMN capture_at timestamptz,
	-- the writer's lost ranges: the existing row keeps confirm_rule 0 until
	-- its first 1.2 writer starts (src/log/log.sql)
	ADD COLUMN lost_from pg_lsn,
	ADD COLUMN lost_to pg_lsn,
	ADD COLUMN lost_reason text,
	ADD COLUMN lost_at timestamptz,
	ADD COLUMN confirm_rule integer NOT NULL DEFAULT 0,
	ADD COLUMN created_at timestamptz NOT NULL DEFAULT pg_catalog.now();

CREATE VIEW cdc.log_state AS
SELECT w.id, w.slot_name, w.logged_commit_lsn, w.logged_seq, w.confirmed_lsn,
	   (SELECT h.oldest_lsn FROM cdc.log_horizon h) AS oldest_lsn,
	   w.capture_from, w.current_chunk, w.capture_entities,
	   w.capture_exclude_entities, w.capture_messages,
	   (SELECT s.retention_max_age FROM cdc.log_settings s) AS retention_max_age,
	   (SELECT s.retention_max_bytes FROM cdc.log_settings s) AS retention_max_bytes,
	   (SELECT s.chunk_max_age FROM cdc.log_settings s) AS chunk_max_age,
	   (SELECT s.chunk_max_bytes FROM cdc.log_settings s) AS chunk_max_bytes,
	   w.migrate_slots, w.ingested_at, w.capture_lsn, w.capture_at,
	   w.lost_from, w.lost_to, w.lost_reason, w.lost_at, w.confirm_rule, w.created_at
FROM cdc.log_writer w;
REVOKE ALL ON cdc.log_state FROM PUBLIC;
COMMENT ON VIEW cdc.log_state IS
	'The change log''s state, one row: the writer''s position (cdc.log_writer), the horizon (cdc.log_horizon), retention and capture settings (cdc.log_settings; capture_* here: the setting in force)';

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'cdc_admin') THEN
		CREATE ROLE cdc_admin NOLOGIN;
	END IF;
EXCEPTION WHEN duplicate_object THEN
	NULL;	-- another database's CREATE EXTENSION made it just now
END $$;

COMMENT ON PROCEDURE cdc.ingest() IS
	'Administration: decode the WAL written since the last ingest into the change log (what the log writer does; for servers without shared_preload_libraries = ''cdc_ext'', e.g. from pg_cron)';
COMMENT ON FUNCTION cdc.set_capture(text[], text[], text[]) IS
	'Administration: what the log captures of transactions that commit after this one: tables matching entities (default all) and not exclude_entities; logical messages whose prefix matches messages (default none)';
COMMENT ON FUNCTION cdc.set_retention(interval, bigint) IS
	'Administration: keep the log for max_age and at most max_bytes (NULL: no cap); enforced by the log writer by dropping whole partitions';
COMMENT ON FUNCTION cdc.trim(pg_lsn) IS
	'Administration: drop the log of transactions that committed before before_lsn (its partitions are dropped by the log writer); consumers that had not read a change of it they may see get a gap';

GRANT USAGE ON SCHEMA cdc TO cdc_admin;
GRANT EXECUTE ON FUNCTION cdc.trim(pg_lsn), cdc.set_retention(interval, bigint),
	cdc.set_capture(text[], text[], text[]), cdc.wait_for_log(pg_lsn, interval),
	cdc.status(), cdc.writer_info(), cdc.current_lsn() TO cdc_admin;
GRANT EXECUTE ON PROCEDURE cdc.ingest() TO cdc_admin;

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

-- Issue 15 items 4, 10, 12-16 (src/log/log.sql, src/api/groups.sql)
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
ALTER TABLE cdc.log_horizon ADD COLUMN horizon_time timestamptz;
UPDATE cdc.log_horizon s SET horizon_time = coalesce(
	(SELECT l."timestamp" FROM cdc.log l WHERE l.commit_lsn OPERATOR(pg_catalog.<) s.oldest_lsn
	 ORDER BY l.commit_lsn DESC, l.seq DESC LIMIT 1),
	(SELECT l."timestamp" FROM cdc.log l WHERE l.commit_lsn OPERATOR(pg_catalog.>=) s.oldest_lsn
	 ORDER BY l.commit_lsn, l.seq LIMIT 1),
	pg_catalog.now())
WHERE s.oldest_lsn OPERATOR(pg_catalog.>) '0/0';

-- the view shows it (src/log/log.sql)
CREATE OR REPLACE VIEW cdc.log_state AS
SELECT w.id, w.slot_name, w.logged_commit_lsn, w.logged_seq, w.confirmed_lsn,
	   (SELECT h.oldest_lsn FROM cdc.log_horizon h) AS oldest_lsn,
	   w.capture_from, w.current_chunk, w.capture_entities,
	   w.capture_exclude_entities, w.capture_messages,
	   (SELECT s.retention_max_age FROM cdc.log_settings s) AS retention_max_age,
	   (SELECT s.retention_max_bytes FROM cdc.log_settings s) AS retention_max_bytes,
	   (SELECT s.chunk_max_age FROM cdc.log_settings s) AS chunk_max_age,
	   (SELECT s.chunk_max_bytes FROM cdc.log_settings s) AS chunk_max_bytes,
	   w.migrate_slots, w.ingested_at, w.capture_lsn, w.capture_at,
	   w.lost_from, w.lost_to, w.lost_reason, w.lost_at, w.confirm_rule, w.created_at,
	   (SELECT h.horizon_time FROM cdc.log_horizon h) AS horizon_time
FROM cdc.log_writer w;


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

-- Issue 19: schema changes in the stream (src/log/log.sql, src/log/schema.c,
-- src/plugin/schema.c).  Entries logged before this update have no
-- schema_version (NULL); tables that exist now are recorded at version 0/0
-- by cdc.schema_seed(), so their changes from here on carry 0/0 until
-- their first DDL.
ALTER TYPE cdc.operation ADD VALUE 'schema';
ALTER TYPE cdc.change_entry ADD ATTRIBUTE schema_version pg_lsn;
COMMENT ON TYPE cdc.change_entry IS
	'One row change: the ChangeEntry fields, typed; ordered and resumable by (commit_lsn, seq). fallback: columns whose value jsonb cannot hold, given as their JSON text in a string. schema_version: the position of the schema entry whose table shape the change follows (0/0: the shape the table had when cdc_ext 1.2 was installed; NULL: logged before 1.2)';
ALTER TABLE cdc.log ADD COLUMN schema_version pg_lsn;
ALTER TABLE cdc.group_dead_letter ADD COLUMN schema_version pg_lsn;

-- Schema changes (src/log/schema.c, src/plugin/schema.c): each shape of a
-- captured table, recorded by the event triggers below in the DDL's
-- transaction, at the version (the LSN) of the transactional logical
-- message that makes its `schema` entry.  A user catalog table: logical
-- decoding reads it as of each change it decodes, so every change gets the
-- version of the shape it follows (also inside a transaction that changes
-- rows before and after a DDL).  Version 0/0: the shape a table had when
-- cdc_ext 1.2 was installed (or updated to).  A dropped table's rows go
-- with its drop.
CREATE TABLE cdc.schema_shape (
	relid			oid NOT NULL,
	version			pg_lsn NOT NULL,
	shape			jsonb NOT NULL,
	PRIMARY KEY (relid, version)
) WITH (user_catalog_table = true);
REVOKE ALL ON cdc.schema_shape FROM PUBLIC;
COMMENT ON TABLE cdc.schema_shape IS
	'Shapes of captured tables by version (the LSN of their schema entry), read by logical decoding (internal)';

CREATE FUNCTION cdc.schema_capture()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'cdc_schema_capture'
LANGUAGE C;
COMMENT ON FUNCTION cdc.schema_capture() IS
	'Event trigger: a schema entry and a recorded shape for each table a DDL created, altered, renamed, moved or dropped (internal)';

CREATE FUNCTION cdc.schema_seed()
RETURNS integer
AS 'MODULE_PATHNAME', 'cdc_schema_seed'
LANGUAGE C;
COMMENT ON FUNCTION cdc.schema_seed() IS
	'Record the shape of every table that has none, at version 0/0 (run by CREATE EXTENSION and the update to 1.2; internal)';

CREATE EVENT TRIGGER cdc_schema_ddl ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'ALTER SCHEMA')
	EXECUTE FUNCTION cdc.schema_capture();
CREATE EVENT TRIGGER cdc_schema_drop ON sql_drop
	EXECUTE FUNCTION cdc.schema_capture();
SELECT cdc.schema_seed();

-- the group outputs carry schema_version after fallback (src/api/groups.sql)
DROP FUNCTION cdc.read_group(text, text, integer, interval, interval, boolean);
DROP FUNCTION cdc.claim(text, text, interval, interval, text, integer, boolean);
DROP FUNCTION cdc.dead_letters(text);
CREATE FUNCTION cdc.read_group(
	"group" text,
	member text,
	batch_size integer DEFAULT 100,
	visibility_timeout interval DEFAULT '30 s',
	batch_timeout interval DEFAULT '0',
	numeric_as_string boolean DEFAULT false)
RETURNS TABLE (
	lsn pg_lsn, commit_lsn pg_lsn, seq integer, xid bigint,
	"timestamp" timestamptz, entity text, entity_id jsonb,
	operation cdc.operation, old_data jsonb, new_data jsonb,
	unchanged_toast text[], fallback text[], schema_version pg_lsn, delivery_count integer)
AS 'MODULE_PATHNAME', 'cdc_read_group'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.read_group(text, text, integer, interval, interval, boolean) IS
	'Lease up to batch_size changes of the group to member for visibility_timeout, in cursor order: changes nobody holds and nobody acknowledged, expired leases again; changes to one row go to one member at a time, in order. Call it in its own transaction';

CREATE FUNCTION cdc.claim(
	"group" text,
	member text,
	min_idle interval,
	visibility_timeout interval DEFAULT '30 s',
	from_member text DEFAULT NULL,
	batch_size integer DEFAULT 100,
	numeric_as_string boolean DEFAULT false)
RETURNS TABLE (
	lsn pg_lsn, commit_lsn pg_lsn, seq integer, xid bigint,
	"timestamp" timestamptz, entity text, entity_id jsonb,
	operation cdc.operation, old_data jsonb, new_data jsonb,
	unchanged_toast text[], fallback text[], schema_version pg_lsn, delivery_count integer)
AS 'MODULE_PATHNAME', 'cdc_claim'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.claim(text, text, interval, interval, text, integer, boolean) IS
	'Take over, for member, changes that other members (or from_member) leased at least min_idle ago and did not acknowledge, with the later changes to the same rows they hold; returns them, delivered again';

CREATE FUNCTION cdc.dead_letters("group" text)
RETURNS TABLE (
	lsn pg_lsn, commit_lsn pg_lsn, seq integer, xid bigint,
	"timestamp" timestamptz, entity text, entity_id jsonb,
	operation cdc.operation, old_data jsonb, new_data jsonb,
	unchanged_toast text[], fallback text[], schema_version pg_lsn, delivery_count integer,
	last_member text, moved_at timestamptz, replaying boolean)
AS 'MODULE_PATHNAME', 'cdc_dead_letters'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.dead_letters(text) IS
	'Changes of the group moved aside after max_deliveries deliveries, as the caller may see them';

REVOKE EXECUTE ON FUNCTION cdc.read_group(text, text, integer, interval, interval, boolean),
	cdc.claim(text, text, interval, interval, text, integer, boolean),
	cdc.dead_letters(text), cdc.schema_capture(), cdc.schema_seed() FROM PUBLIC;

-- Issue 18: backfills (src/log/log.sql, src/api/backfill.sql).  The rows
-- of a backfill are log entries with operation read, for one reader
-- (cdc.log.audience); entries logged before the update have none (NULL:
-- every reader's, as before).
ALTER TYPE cdc.operation ADD VALUE 'read';
ALTER TABLE cdc.log ADD COLUMN audience integer;
ALTER TABLE cdc.group_dead_letter ADD COLUMN audience integer;

-- Two tables, one per writer of them, so that neither ever waits for the
-- other's row lock (an application's transaction left open after
-- cdc.cancel_backfill() must not stop the log writer):
--   cdc.backfill_request: one row per table of a backfill, written by
--     cdc.backfill() (and create_consumer/create_group with start =>
--     'snapshot') and cdc.cancel_backfill(); gone with its consumer or group.
--   cdc.backfill_progress: the log writer's own (src/log/backfill.c), moved
--     in the transaction that logs each chunk: the last key logged
--     (serialized, datumSerialize), counts, state.

CREATE SEQUENCE cdc.backfill_id_seq;
REVOKE ALL ON cdc.backfill_id_seq FROM PUBLIC;

CREATE TABLE cdc.backfill_request (
	id				bigint NOT NULL,
	relid			oid NOT NULL,
	entity			text NOT NULL,
	consumer_id		integer REFERENCES cdc.consumer_state (id) ON DELETE CASCADE,
	group_id		integer REFERENCES cdc.group_state (id) ON DELETE CASCADE,
	owner			oid NOT NULL,
	rows_estimated	bigint,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	cancelled_at	timestamptz,
	PRIMARY KEY (id, relid),
	CHECK ((consumer_id IS NULL) OPERATOR(pg_catalog.<>) (group_id IS NULL))
);
CREATE INDEX backfill_request_consumer ON cdc.backfill_request (consumer_id);
CREATE INDEX backfill_request_group ON cdc.backfill_request (group_id);
REVOKE ALL ON cdc.backfill_request FROM PUBLIC;
COMMENT ON TABLE cdc.backfill_request IS
	'Backfills asked for, one row per table (internal: use cdc.backfill() and the cdc.backfills view)';

CREATE TABLE cdc.backfill_progress (
	id				bigint NOT NULL,
	relid			oid NOT NULL,
	state			text NOT NULL
		CHECK (state IN ('running', 'done', 'failed', 'skipped')),
	last_key		bytea,
	rows_done		bigint NOT NULL DEFAULT 0,
	rows_dropped	bigint NOT NULL DEFAULT 0,
	chunks			integer NOT NULL DEFAULT 0,
	retries			integer NOT NULL DEFAULT 0,
	started_at		timestamptz,
	finished_at		timestamptz,
	updated_at		timestamptz,
	error			text,
	PRIMARY KEY (id, relid)
);
REVOKE ALL ON cdc.backfill_progress FROM PUBLIC;
COMMENT ON TABLE cdc.backfill_progress IS
	'Backfills'' progress, written by the log writer only (internal: see the cdc.backfills view)';

CREATE FUNCTION cdc.backfill(consumer text, entities text[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cdc_backfill'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.backfill(text, text[]) IS
	'Send the current rows of the tables a consumer or consumer group receives (narrowed by entities) to it alone, as entries with operation read, in order with the changes; transactional; returns the backfill''s id';

CREATE FUNCTION cdc.cancel_backfill(id bigint)
RETURNS integer
AS 'MODULE_PATHNAME', 'cdc_cancel_backfill'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.cancel_backfill(bigint) IS
	'Stop a backfill (transactional): returns how many of its tables had not finished';

CREATE FUNCTION cdc.backfill_info(
	OUT id bigint,
	OUT consumer text,
	OUT kind text,
	OUT entity text,
	OUT state text,
	OUT rows_done bigint,
	OUT rows_estimated bigint,
	OUT rows_superseded bigint,
	OUT rate numeric,
	OUT chunks integer,
	OUT retries integer,
	OUT created_at timestamptz,
	OUT started_at timestamptz,
	OUT finished_at timestamptz,
	OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cdc_backfill_info'
LANGUAGE C STABLE;
COMMENT ON FUNCTION cdc.backfill_info() IS
	'Backfills of the consumers and groups the current role may use, one row per table';

CREATE VIEW cdc.backfills AS SELECT * FROM cdc.backfill_info();
REVOKE ALL ON cdc.backfills FROM PUBLIC;
COMMENT ON VIEW cdc.backfills IS
	'Backfills visible to the current role, one row per table: state (pending, running, done, cancelled, failed, skipped), rows done, estimated total, rows superseded by a change, rate (rows/s), error';

REVOKE EXECUTE ON FUNCTION cdc.backfill(text, text[]), cdc.cancel_backfill(bigint),
	cdc.backfill_info() FROM PUBLIC;

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
		WHERE c.oid OPERATOR(pg_catalog.=) ANY (ARRAY['cdc.log_shape', 'cdc.schema_shape', 'cdc.backfill_request',
			'cdc.backfill_progress', 'cdc.backfill_id_seq', 'cdc.backfills']::pg_catalog.regclass[])
		  AND a.oid OPERATOR(pg_catalog.=) x.grantee AND x.grantee OPERATOR(pg_catalog.<>) c.relowner
	LOOP
		EXECUTE r.cmd;
	END LOOP;
END $$;
