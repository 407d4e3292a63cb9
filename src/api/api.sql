-- src/api/api.sql: consumers over the change log (docs/sql-api.md).  Part of
-- cdc_ext--1.2.sql (the Makefile concatenates the parts).
--
-- The C functions run as their caller and check ownership themselves; they
-- read and write the state tables as the extension's owner, with
-- search_path pinned.

-- One row per consumer: its filters and committed checkpoint.  Written only
-- by the cdc functions, transactionally; read through cdc.consumers.
--   id: names the consumer in the active-reader advisory lock.
--   gap_from/gap_to: recorded by trim or retention when the consumer lost a
--   change it may see; cleared by a checkpoint at or past gap_to.
CREATE TABLE cdc.consumer_state (
	name			text PRIMARY KEY
		CHECK (name ~ '^[A-Za-z0-9_.-]{1,48}$'),
	id				integer GENERATED ALWAYS AS IDENTITY UNIQUE,
	owner			oid NOT NULL,
	entities		text[],
	exclude_entities text[],
	operations		cdc.operation[],
	checkpoint_lsn	pg_lsn NOT NULL,
	checkpoint_seq	integer NOT NULL DEFAULT 0 CHECK (checkpoint_seq >= 0),
	checkpoint_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	gap_from		pg_lsn,
	gap_to			pg_lsn,
	gap_reason		text
);
REVOKE ALL ON cdc.consumer_state FROM PUBLIC;
COMMENT ON TABLE cdc.consumer_state IS
	'Consumers and their committed checkpoints (internal: use the cdc functions and the cdc.consumers view)';

CREATE FUNCTION cdc.create_consumer(
	name text,
	entities text[] DEFAULT NULL,
	exclude_entities text[] DEFAULT NULL,
	operations cdc.operation[] DEFAULT NULL,
	start text DEFAULT 'now')
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'cdc_create_consumer'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.create_consumer(text, text[], text[], cdc.operation[], text) IS
	'Create a named consumer with stored filters, starting at ''now'', ''beginning'' (everything retained), a timestamptz or a pg_lsn; transactional; returns the position it starts after';

CREATE FUNCTION cdc.drop_consumer(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cdc_drop_consumer'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.drop_consumer(text) IS
	'Drop a consumer (transactional)';

CREATE FUNCTION cdc.stream(
	consumer text,
	from_lsn pg_lsn DEFAULT NULL,
	from_timestamp timestamptz DEFAULT NULL,
	from_beginning boolean DEFAULT false,
	entities text[] DEFAULT NULL,
	exclude_entities text[] DEFAULT NULL,
	operations cdc.operation[] DEFAULT NULL,
	batch_size integer DEFAULT 1000,
	batch_timeout interval DEFAULT '0',
	numeric_as_string boolean DEFAULT false)
RETURNS SETOF cdc.change_entry
AS 'MODULE_PATHNAME', 'cdc_stream'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval, boolean) IS
	'Changes after the consumer''s committed checkpoint (or from_*), typed, at most batch_size rows; reading never consumes';

CREATE FUNCTION cdc.consume(
	consumer text,
	batch_size integer DEFAULT 1000,
	batch_timeout interval DEFAULT '0',
	numeric_as_string boolean DEFAULT false)
RETURNS SETOF cdc.change_entry
AS 'MODULE_PATHNAME', 'cdc_consume'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.consume(text, integer, interval, boolean) IS
	'The next batch after the consumer''s checkpoint, with the checkpoint moved past it in the calling transaction (exactly-once with the sink write)';

CREATE FUNCTION cdc.checkpoint(consumer text, commit_lsn pg_lsn, seq integer DEFAULT 0)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_checkpoint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.checkpoint(text, pg_lsn, integer) IS
	'Record (transactionally) that the consumer is done with every change up to (commit_lsn, seq)';

-- Everything an operator asks of a consumer; rows of other roles' consumers
-- are hidden (superusers see all).
CREATE FUNCTION cdc.consumer_info(
	OUT name text, OUT owner regrole, OUT entities text[],
	OUT exclude_entities text[], OUT operations cdc.operation[],
	OUT checkpoint_lsn pg_lsn, OUT checkpoint_seq integer,
	OUT checkpoint_at timestamptz, OUT lag_changes bigint,
	OUT lag_seconds numeric, OUT lag_bytes bigint, OUT active_readers integer,
	OUT gap boolean, OUT gap_reason text, OUT withheld text[],
	OUT created_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cdc_consumer_info'
LANGUAGE C VOLATILE;

CREATE VIEW cdc.consumers AS SELECT * FROM cdc.consumer_info();
COMMENT ON VIEW cdc.consumers IS
	'Consumers visible to the current role: filters, checkpoint, lag (changes, seconds, bytes), active readers, gap, withheld entities';

-- The "admin cdc status" of PostgreSQL: one row.  Consumer counts cover
-- only the consumers the caller may see.
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
COMMENT ON FUNCTION cdc.status() IS
	'CDC status: enabled, writer, current and oldest retained LSN and time, retention, disk usage of the log, WAL held, consumers, and the last range of WAL whose changes could not be logged (lost_*)';
