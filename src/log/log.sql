-- src/log/log.sql: the change log (how it is written exactly once:
-- src/log/ingest.c).  Part of cdc_ext--1.2.sql
-- (the Makefile concatenates the parts); written by the log writer only.

CREATE TYPE cdc.operation AS ENUM ('insert', 'update', 'delete', 'truncate', 'message', 'schema', 'read');
COMMENT ON TYPE cdc.operation IS 'Kind of change in a ChangeEntry';

CREATE TYPE cdc.change_entry AS (
	lsn				pg_lsn,
	commit_lsn		pg_lsn,
	seq				integer,
	xid				bigint,
	"timestamp"		timestamptz,
	entity			text,
	entity_id		jsonb,
	operation		cdc.operation,
	old_data		jsonb,
	new_data		jsonb,
	unchanged_toast text[],
	fallback		text[],
	schema_version	pg_lsn
);
COMMENT ON TYPE cdc.change_entry IS
	'One row change: the ChangeEntry fields, typed; ordered and resumable by (commit_lsn, seq). fallback: columns whose value jsonb cannot hold, given as their JSON text in a string. schema_version: the position of the schema entry whose table shape the change follows (0/0: the shape the table had when cdc_ext 1.2 was installed; NULL: logged before 1.2)';

-- The log: one row per ChangeEntry, in partitions ("chunks") that the writer
-- opens as it goes and retention drops whole.  The partition key is the
-- chunk number, not the position, so that a chunk can be closed at any
-- moment; readers prune with cdc.log_chunk.  relid: the table as of the
-- change, for privilege checks at read time (NULL for messages).
-- audience: NULL for changes and messages (every reader's); for a
-- backfill's rows (operation read), the one reader that asked: a
-- consumer's id, or minus a consumer group's id (src/log/backfill.c).
CREATE TABLE cdc.log (
	commit_lsn		pg_lsn NOT NULL,
	seq				integer NOT NULL,
	chunk			integer NOT NULL,
	lsn				pg_lsn NOT NULL,
	xid				bigint NOT NULL,
	"timestamp"		timestamptz NOT NULL,
	relid			oid,
	entity			text,
	entity_id		jsonb,
	operation		cdc.operation NOT NULL,
	old_data		jsonb,
	new_data		jsonb,
	unchanged_toast text[],
	fallback		text[],
	schema_version	pg_lsn,
	audience		integer,
	PRIMARY KEY (commit_lsn, seq, chunk)
) PARTITION BY RANGE (chunk);
REVOKE ALL ON cdc.log FROM PUBLIC;
COMMENT ON TABLE cdc.log IS
	'The change log, ordered by (commit_lsn, seq) (internal: read it with cdc.stream / cdc.consume)';

-- One row per partition of cdc.log: its bounds, for pruning, retention and status.
CREATE TABLE cdc.log_chunk (
	chunk			integer PRIMARY KEY,
	relname			name NOT NULL,
	first_commit_lsn pg_lsn,
	last_commit_lsn	pg_lsn,
	first_timestamp	timestamptz,
	last_timestamp	timestamptz,
	rows			bigint NOT NULL DEFAULT 0,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	closed			boolean NOT NULL DEFAULT false
);
REVOKE ALL ON cdc.log_chunk FROM PUBLIC;

-- The columns of a logged table as its changes were made: a row each time
-- the writer logs a change of relid whose shape differs from the last one
-- recorded (first logged change, ADD/DROP/RENAME COLUMN, a new key).  A
-- change follows the last shape at or before its (commit_lsn, seq).  Read
-- privileges follow a column's identity (attnum), not its name: a column
-- dropped and re-created under the same name is another column, and a grant
-- on the new one never reveals the old one's values.  key: the attnums of
-- the entity_id columns (empty: none).
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

-- The log's state is kept in three one-row tables, one per writer of it, so
-- that nobody ever waits on another's row lock (issue 15 item 2): an
-- administrator's transaction left open after cdc.set_retention() or
-- cdc.trim() must not stop the log writer, whose every ingest updates its
-- own row.  cdc.log_state (a view) shows the three as one row.
--
-- cdc.log_writer: the writer's own state, written only by the log writer
-- (and CALL cdc.ingest()), in the transaction that logs:
--   logged_commit_lsn/logged_seq: the position of the last logged change
--     (the log head); ingest skips what is at or before it.
--   confirmed_lsn: every transaction that ended at or before it is fully
--     logged (or had nothing to log); the slot is confirmed up to here only.
--   capture_from: where the writer's slot started decoding.
--   capture_entities/capture_exclude_entities/capture_messages: the capture
--     setting in force at confirmed_lsn (src/log/capture.c); capture_lsn and
--     capture_at: the commit of the cdc.set_capture() that made it (NULL:
--     the default since the log began).
CREATE TABLE cdc.log_writer (
	id				boolean PRIMARY KEY DEFAULT true CHECK (id),
	slot_name		name NOT NULL,
	logged_commit_lsn pg_lsn NOT NULL DEFAULT '0/0',
	logged_seq		integer NOT NULL DEFAULT 0,
	confirmed_lsn	pg_lsn NOT NULL DEFAULT '0/0',
	capture_from	pg_lsn,
	current_chunk	integer NOT NULL DEFAULT 0,
	capture_entities text[],
	capture_exclude_entities text[],
	capture_messages text[],
	migrate_slots	name[],
	ingested_at		timestamptz,
	capture_lsn		pg_lsn,
	capture_at		timestamptz,
	-- the last range of WAL whose changes could not be logged (the writer's
	-- slot invalidated, moved or dropped by someone else, or the log began
	-- after consumers did; src/log/slot.c): every consumer and group
	-- behind lost_to got a gap.  confirm_rule 1: the slot is never
	-- confirmed past confirmed_lsn (1.1 confirmed idle progress in memory
	-- only, so the first 1.2 writer after an update cannot tell that from a
	-- move).  created_at: since when the log exists (after an update: 1.2).
	lost_from		pg_lsn,
	lost_to			pg_lsn,
	lost_reason		text,
	lost_at			timestamptz,
	confirm_rule	integer NOT NULL DEFAULT 0,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON cdc.log_writer FROM PUBLIC;
INSERT INTO cdc.log_writer (slot_name, confirm_rule)
SELECT 'cdc_ext_log_' || oid, 1 FROM pg_catalog.pg_database
WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database();

-- cdc.log_settings: what administrators set (cdc.set_retention,
-- cdc.set_capture), in their own transaction; the writer only reads it.
-- capture_*: the capture setting last committed, with when (the writer
-- applies it at that commit's position in the WAL, reading this table as of
-- that position: hence a user catalog table).
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
INSERT INTO cdc.log_settings DEFAULT VALUES;

-- cdc.log_horizon: oldest_lsn, the horizon; changes that committed before
-- it are gone (trimmed or dropped by retention) and consumers behind it
-- have a gap.  Moved by cdc.trim() and by retention, one at a time (row
-- lock); the partitions wholly behind it are dropped by maintenance.
CREATE TABLE cdc.log_horizon (
	id				boolean PRIMARY KEY DEFAULT true CHECK (id),
	oldest_lsn		pg_lsn NOT NULL DEFAULT '0/0',
	-- the commit time of the last change removed from the log (trim,
	-- retention; NULL: none removed yet): a start at or before it would
	-- begin with a gap
	horizon_time	timestamptz
);
REVOKE ALL ON cdc.log_horizon FROM PUBLIC;
INSERT INTO cdc.log_horizon DEFAULT VALUES;

-- The log's state and configuration as one row (what cdc_ext 1.1 kept in
-- one table).  Updatable for the writer's own columns.
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
	   w.lost_from, w.lost_to, w.lost_reason, w.lost_at, w.confirm_rule, w.created_at,
	   (SELECT h.horizon_time FROM cdc.log_horizon h) AS horizon_time
FROM cdc.log_writer w;
REVOKE ALL ON cdc.log_state FROM PUBLIC;
COMMENT ON VIEW cdc.log_state IS
	'The change log''s state, one row: the writer''s position (cdc.log_writer), the horizon (cdc.log_horizon), retention and capture settings (cdc.log_settings; capture_* here: the setting in force)';

-- Administration (cdc.trim, cdc.set_retention, cdc.set_capture, CALL
-- cdc.ingest()) is for superusers and members of cdc_admin, checked by the
-- functions themselves when called (a blanket GRANT EXECUTE ON ALL
-- FUNCTIONS to an application does not reach it).  Roles are shared by the
-- databases of the cluster: made by the first CREATE EXTENSION, kept by
-- DROP EXTENSION.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'cdc_admin') THEN
		CREATE ROLE cdc_admin NOLOGIN;
	END IF;
EXCEPTION WHEN duplicate_object THEN
	NULL;	-- another database's CREATE EXTENSION made it just now
END $$;

CREATE PROCEDURE cdc.ingest()
AS 'MODULE_PATHNAME', 'cdc_ingest'
LANGUAGE C;
COMMENT ON PROCEDURE cdc.ingest() IS
	'Administration: decode the WAL written since the last ingest into the change log (what the log writer does; for servers without shared_preload_libraries = ''cdc_ext'', e.g. from pg_cron)';

CREATE FUNCTION cdc.wait_for_log(upto pg_lsn DEFAULT NULL, timeout interval DEFAULT '30 s')
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'cdc_wait_for_log'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.wait_for_log(pg_lsn, interval) IS
	'Wait until the log writer has logged every transaction that committed before upto (default: the current WAL position); returns how far the log reaches';

CREATE FUNCTION cdc.set_capture(
	entities text[] DEFAULT NULL,
	exclude_entities text[] DEFAULT NULL,
	messages text[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_set_capture'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.set_capture(text[], text[], text[]) IS
	'Administration: what the log captures of transactions that commit after this one: tables matching entities (default all) and not exclude_entities; logical messages whose prefix matches messages (default none)';

CREATE FUNCTION cdc.set_retention(
	max_age interval DEFAULT '168 hours',
	max_bytes bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_set_retention'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.set_retention(interval, bigint) IS
	'Administration: keep the log for max_age and at most max_bytes (NULL: no cap); enforced by the log writer by dropping whole partitions';

CREATE FUNCTION cdc.trim(before_lsn pg_lsn)
RETURNS TABLE (partitions_dropped integer, freed_bytes bigint,
			   oldest_lsn pg_lsn, consumers_with_gap integer)
AS 'MODULE_PATHNAME', 'cdc_trim'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.trim(pg_lsn) IS
	'Administration: drop the log of transactions that committed before before_lsn (its partitions are dropped by the log writer); consumers that had not read a change of it they may see get a gap';

CREATE FUNCTION cdc.current_lsn()
RETURNS pg_lsn
AS $$ SELECT pg_catalog.pg_current_wal_lsn() $$
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION cdc.current_lsn() IS 'The current WAL write position';

-- The writer's live state (shared memory): running, pid, start time.
CREATE FUNCTION cdc.writer_info(OUT running boolean, OUT pid integer,
								OUT started_at timestamptz, OUT preloaded boolean)
AS 'MODULE_PATHNAME', 'cdc_writer_info'
LANGUAGE C VOLATILE;

-- Wake the launcher: this database now has the extension.
CREATE FUNCTION cdc.start_writer()
RETURNS boolean
AS 'MODULE_PATHNAME', 'cdc_start_writer'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.start_writer() IS
	'Ask the launcher to start this database''s log writer now (it also finds it within seconds on its own); false without shared_preload_libraries';

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
