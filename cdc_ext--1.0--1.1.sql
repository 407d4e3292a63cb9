-- cdc_ext 1.0 -> 1.1.  Released: this file is frozen.
--
-- 1.0 consumers each owned a replication slot; 1.1 consumers read the change
-- log.  Their rows are kept (set aside here, moved into the 1.1 table by the
-- post part) and their slots are listed in cdc.log_state.migrate_slots: the
-- log writer copies the slot furthest behind as its own, so the log starts
-- where the slowest consumer was and every consumer continues from its
-- checkpoint, then drops them.

\echo Use "ALTER EXTENSION cdc_ext UPDATE TO '1.1'" to load this file. \quit

DROP VIEW cdc.consumers;
ALTER TABLE cdc.consumer_state RENAME TO consumer_state_1_0;
ALTER INDEX cdc.consumer_state_pkey RENAME TO consumer_state_1_0_pkey;
ALTER INDEX cdc.consumer_state_slot_name_key RENAME TO consumer_state_1_0_slot_name_key;
ALTER TABLE cdc.consumer_state_1_0 ALTER COLUMN operations TYPE text[] USING operations::text[];

DROP FUNCTION cdc.status();
DROP FUNCTION cdc.current_lsn();
DROP FUNCTION cdc.trim(pg_lsn, text);
DROP FUNCTION cdc.checkpoint(text, pg_lsn, integer);
DROP FUNCTION cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval);
DROP FUNCTION cdc.drop_consumer(text);
DROP FUNCTION cdc.create_consumer(text, text[], text[], cdc.operation[]);
DROP TYPE cdc.change_entry;
DROP TYPE cdc.operation;
-- src/log/log.sql: the change log (DESIGN §10).  Part of cdc_ext--1.1.sql
-- (the Makefile concatenates the parts); written by the log writer only.

CREATE TYPE cdc.operation AS ENUM ('insert', 'update', 'delete', 'truncate', 'message');
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
	fallback		text[]
);
COMMENT ON TYPE cdc.change_entry IS
	'One row change: the ChangeEntry fields, typed; ordered and resumable by (commit_lsn, seq). fallback: columns whose value jsonb cannot hold, given as their JSON text in a string';

-- The log: one row per ChangeEntry, in partitions ("chunks") that the writer
-- opens as it goes and retention drops whole.  The partition key is the
-- chunk number, not the position, so that a chunk can be closed at any
-- moment; readers prune with cdc.log_chunk.  relid: the table as of the
-- change, for privilege checks at read time (NULL for messages).
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

-- The writer's state and the log's configuration: exactly one row.
--   logged_commit_lsn/logged_seq: the position of the last logged change
--     (the log head); ingest skips what is at or before it.
--   confirmed_lsn: every transaction that ended at or before it is fully
--     logged (or had nothing to log); the slot is confirmed up to here only.
--   oldest_lsn: the horizon; changes that committed before it are gone
--     (trimmed or dropped by retention).  Consumers behind it have a gap.
--   capture_from: where the writer's slot started decoding.
CREATE TABLE cdc.log_state (
	id				boolean PRIMARY KEY DEFAULT true CHECK (id),
	slot_name		name NOT NULL,
	logged_commit_lsn pg_lsn NOT NULL DEFAULT '0/0',
	logged_seq		integer NOT NULL DEFAULT 0,
	confirmed_lsn	pg_lsn NOT NULL DEFAULT '0/0',
	oldest_lsn		pg_lsn NOT NULL DEFAULT '0/0',
	capture_from	pg_lsn,
	current_chunk	integer NOT NULL DEFAULT 0,
	capture_entities text[],
	capture_exclude_entities text[],
	capture_messages text[],
	retention_max_age interval NOT NULL DEFAULT '168 hours',
	retention_max_bytes bigint,
	chunk_max_age	interval NOT NULL DEFAULT '1 hour',
	chunk_max_bytes	bigint NOT NULL DEFAULT 268435456,
	migrate_slots	name[],
	config_version	integer NOT NULL DEFAULT 1,
	ingested_at		timestamptz
);
REVOKE ALL ON cdc.log_state FROM PUBLIC;
INSERT INTO cdc.log_state (slot_name)
SELECT 'cdc_ext_log_' || oid FROM pg_catalog.pg_database
WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database();

CREATE PROCEDURE cdc.ingest()
AS 'MODULE_PATHNAME', 'cdc_ingest'
LANGUAGE C;
COMMENT ON PROCEDURE cdc.ingest() IS
	'Decode the WAL written since the last ingest into the change log (what the log writer does; for servers without shared_preload_libraries = ''cdc_ext'', e.g. from pg_cron)';

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
	'What the log captures from now on: tables matching entities (default all) and not exclude_entities; logical messages whose prefix matches messages (default none)';

CREATE FUNCTION cdc.set_retention(
	max_age interval DEFAULT '168 hours',
	max_bytes bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_set_retention'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.set_retention(interval, bigint) IS
	'Keep the log for max_age and at most max_bytes (NULL: no cap); enforced by the log writer by dropping whole partitions';

CREATE FUNCTION cdc.trim(before_lsn pg_lsn)
RETURNS TABLE (partitions_dropped integer, freed_bytes bigint,
			   oldest_lsn pg_lsn, consumers_with_gap integer)
AS 'MODULE_PATHNAME', 'cdc_trim'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.trim(pg_lsn) IS
	'Drop the log of transactions that committed before before_lsn; consumers that had not read a change of it they may see get a gap';

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
-- src/api/api.sql: consumers over the change log (DESIGN §5, §6).  Part of
-- cdc_ext--1.1.sql (the Makefile concatenates the parts).
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
LANGUAGE C VOLATILE STRICT;
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
LANGUAGE C VOLATILE STRICT;
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
	OUT consumers_with_gap integer)
AS 'MODULE_PATHNAME', 'cdc_status'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.status() IS
	'CDC status: enabled, writer, current and oldest retained LSN and time, retention, disk usage of the log, WAL held, consumers';
-- src/api/groups.sql: consumer groups over the change log (DESIGN §11).
-- Part of cdc_ext--1.1.sql (the Makefile concatenates the parts).
--
-- Several members share one stream: each change is leased to one member at
-- a time, acknowledged once, redelivered when its lease expires, moved to a
-- dead-letter table after max_deliveries.  The state lives in the tables
-- below, written only by the C functions of src/api/groups.c, which run as
-- their caller, check ownership themselves and switch to the extension's
-- owner (search_path pinned) for their statements, like the consumer
-- functions of api.sql.
--
-- Positions are the cursor (commit_lsn, seq) of DESIGN §2.  For a group:
--   (ack_lsn, ack_seq)   the acknowledged low watermark: every change at or
--                        before it is done (acknowledged, dead-lettered, or
--                        not for this group).  Counts for the log's
--                        retention like a consumer's checkpoint.
--   (scan_lsn, scan_seq) the frontier: every log row at or before it that
--                        the group receives has a cdc.group_entry row, or is
--                        at or before the watermark.  Only the member that
--                        holds the group's frontier lock moves it.
-- Between the two, cdc.group_entry holds one row per change of the group:
-- leased (member, lease_until) or ready (member NULL: never leased, nacked,
-- or held back behind an earlier change to the same row).  An
-- acknowledgement deletes the row (acked: rows marked by earlier builds,
-- skipped, deleted when the horizon passes them).

CREATE TABLE cdc.group_state (
	id				integer GENERATED ALWAYS AS IDENTITY UNIQUE,
	name			text PRIMARY KEY
		CHECK (name ~ '^[A-Za-z0-9_.-]{1,48}$'),
	owner			oid NOT NULL,
	entities		text[],
	exclude_entities text[],
	operations		cdc.operation[],
	max_deliveries	integer NOT NULL DEFAULT 10 CHECK (max_deliveries > 0),
	ack_lsn			pg_lsn NOT NULL,
	ack_seq			integer NOT NULL DEFAULT 0 CHECK (ack_seq >= 0),
	scan_lsn		pg_lsn NOT NULL,
	scan_seq		integer NOT NULL DEFAULT 0 CHECK (scan_seq >= 0),
	gap_from		pg_lsn,
	gap_to			pg_lsn,
	gap_reason		text,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON cdc.group_state FROM PUBLIC;
COMMENT ON TABLE cdc.group_state IS
	'Consumer groups: filters, acknowledged low watermark, frontier (internal: use the cdc group functions and the cdc.groups view)';

-- Members are named by their callers and remembered from their first read,
-- for cdc.groups ("members seen") and for naming errors.
CREATE TABLE cdc.group_member (
	grp				integer NOT NULL,
	member			text NOT NULL,
	first_seen		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	last_seen		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (grp, member)
);
REVOKE ALL ON cdc.group_member FROM PUBLIC;

-- One row per change of a group between its watermark and its frontier
-- (and per replayed dead letter).  khash: hash of (entity, entity_id), the
-- per-row ordering key (a collision only orders two rows more strictly
-- than needed); ehash: hash of the entity; barrier: a truncate, ordered
-- against every change of its table.  chunk: the log partition, so that a
-- delivery reads one partition.  replay: content comes from
-- cdc.group_dead_letter (cdc.replay_dead_letters), not from the log.
CREATE TABLE cdc.group_entry (
	grp				integer NOT NULL,
	commit_lsn		pg_lsn NOT NULL,
	seq				integer NOT NULL,
	chunk			integer NOT NULL,
	khash			integer NOT NULL,
	ehash			integer NOT NULL,
	barrier			boolean NOT NULL DEFAULT false,
	member			text,
	lease_until		timestamptz,
	delivered_at	timestamptz,
	delivery_count	integer NOT NULL DEFAULT 0,
	acked			boolean NOT NULL DEFAULT false,
	replay			boolean NOT NULL DEFAULT false,
	PRIMARY KEY (grp, commit_lsn, seq)
) WITH (fillfactor = 70,
	  -- every change goes through here: vacuum as soon as a few thousand are done
	  autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
	  autovacuum_vacuum_cost_delay = 0);
-- No index covers a column that a lease or a nack changes, so those
-- updates are HOT (no index insertions; fillfactor leaves them room): the
-- primary key orders what to lease next and where the watermark goes
-- (acknowledged rows are deleted by the acknowledgement); per-row
-- ordering walks a key's changes in cursor order:
CREATE INDEX group_entry_key ON cdc.group_entry (grp, khash, commit_lsn, seq);
-- replayed dead letters, which may lie below the watermark
CREATE INDEX group_entry_replay ON cdc.group_entry (grp, commit_lsn, seq) WHERE replay;
-- truncates, which hold back later changes of their table
CREATE INDEX group_entry_barrier ON cdc.group_entry (grp, ehash) WHERE barrier;
REVOKE ALL ON cdc.group_entry FROM PUBLIC;
COMMENT ON TABLE cdc.group_entry IS
	'Changes of consumer groups that are leased or ready above the watermark (internal: see cdc.pending)';

-- Changes delivered max_deliveries times without an acknowledgement: the
-- log row as it was (cdc.log's columns), with the delivery history.  Read
-- through cdc.dead_letters(), which applies the reader's privileges like a
-- read; cdc.replay_dead_letters() hands them to the group again.
CREATE TABLE cdc.group_dead_letter (
	grp				integer NOT NULL,
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
	delivery_count	integer NOT NULL,
	last_member		text,
	moved_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	replaying		boolean NOT NULL DEFAULT false,
	PRIMARY KEY (grp, commit_lsn, seq)
);
REVOKE ALL ON cdc.group_dead_letter FROM PUBLIC;
COMMENT ON TABLE cdc.group_dead_letter IS
	'Changes of consumer groups delivered max_deliveries times without an acknowledgement (internal: see cdc.dead_letters)';

CREATE FUNCTION cdc.create_group(
	name text,
	entities text[] DEFAULT NULL,
	exclude_entities text[] DEFAULT NULL,
	operations cdc.operation[] DEFAULT NULL,
	start text DEFAULT 'now',
	max_deliveries integer DEFAULT 10)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'cdc_create_group'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.create_group(text, text[], text[], cdc.operation[], text, integer) IS
	'Create a consumer group with stored filters, starting at ''now'', ''beginning'' (everything retained), a timestamptz or a pg_lsn; transactional; returns the position it starts after';

CREATE FUNCTION cdc.drop_group(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cdc_drop_group'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.drop_group(text) IS
	'Drop a consumer group with its leases and dead letters (transactional)';

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
	unchanged_toast text[], fallback text[], delivery_count integer)
AS 'MODULE_PATHNAME', 'cdc_read_group'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.read_group(text, text, integer, interval, interval, boolean) IS
	'Lease up to batch_size changes of the group to member for visibility_timeout, in cursor order: changes nobody holds and nobody acknowledged, expired leases again; changes to one row go to one member at a time, in order. Call it in its own transaction';

CREATE FUNCTION cdc.ack("group" text, commit_lsn pg_lsn, seq integer)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_ack'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.ack(text, pg_lsn, integer) IS
	'Acknowledge one delivered change of the group, in the calling transaction (exactly-once when it is the sink''s)';

CREATE FUNCTION cdc.ack("group" text, commit_lsns pg_lsn[], seqs integer[])
RETURNS integer
AS 'MODULE_PATHNAME', 'cdc_ack_array'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.ack(text, pg_lsn[], integer[]) IS
	'Acknowledge delivered changes of the group (pairs commit_lsns[i], seqs[i]) in the calling transaction; all or nothing; returns how many';

CREATE FUNCTION cdc.nack("group" text, commit_lsn pg_lsn, seq integer)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_nack'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.nack(text, pg_lsn, integer) IS
	'Give a leased change back for delivery now (with the later changes to the same row that its member holds)';

CREATE FUNCTION cdc.nack("group" text, commit_lsns pg_lsn[], seqs integer[])
RETURNS integer
AS 'MODULE_PATHNAME', 'cdc_nack_array'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.nack(text, pg_lsn[], integer[]) IS
	'Give leased changes back for delivery now; all or nothing; returns how many';

CREATE FUNCTION cdc.pending("group" text, member text DEFAULT NULL)
RETURNS TABLE (commit_lsn pg_lsn, seq integer, member text,
			   delivery_count integer, idle interval, lease_until timestamptz)
AS 'MODULE_PATHNAME', 'cdc_pending'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.pending(text, text) IS
	'Leased, unacknowledged changes of the group (of one member when given): member, deliveries, time since delivery, lease end';

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
	unchanged_toast text[], fallback text[], delivery_count integer)
AS 'MODULE_PATHNAME', 'cdc_claim'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.claim(text, text, interval, interval, text, integer, boolean) IS
	'Take over, for member, changes that other members (or from_member) leased at least min_idle ago and did not acknowledge, with the later changes to the same rows they hold; returns them, delivered again';

CREATE FUNCTION cdc.dead_letters("group" text)
RETURNS TABLE (
	lsn pg_lsn, commit_lsn pg_lsn, seq integer, xid bigint,
	"timestamp" timestamptz, entity text, entity_id jsonb,
	operation cdc.operation, old_data jsonb, new_data jsonb,
	unchanged_toast text[], fallback text[], delivery_count integer,
	last_member text, moved_at timestamptz, replaying boolean)
AS 'MODULE_PATHNAME', 'cdc_dead_letters'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.dead_letters(text) IS
	'Changes of the group moved aside after max_deliveries deliveries, as the caller may see them';

CREATE FUNCTION cdc.replay_dead_letters(
	"group" text,
	commit_lsn pg_lsn DEFAULT NULL,
	seq integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'cdc_replay_dead_letters'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.replay_dead_letters(text, pg_lsn, integer) IS
	'Hand dead letters of the group (all, or the one at commit_lsn, seq) to its members again, with a fresh delivery count; returns how many';

CREATE FUNCTION cdc.reset_group("group" text, start text DEFAULT 'beginning')
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'cdc_reset_group'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.reset_group(text, text) IS
	'Move a group to start (as in cdc.create_group), forgetting its leases and its gap; the way out of a gap';

CREATE FUNCTION cdc.group_info(
	OUT name text, OUT owner regrole, OUT entities text[],
	OUT exclude_entities text[], OUT operations cdc.operation[],
	OUT max_deliveries integer, OUT ack_lsn pg_lsn, OUT ack_seq integer,
	OUT members integer, OUT pending bigint,
	OUT oldest_pending_age interval, OUT lag_changes bigint,
	OUT lag_seconds numeric, OUT dead_letters bigint, OUT gap boolean,
	OUT gap_reason text, OUT created_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cdc_group_info'
LANGUAGE C VOLATILE;

CREATE VIEW cdc.groups AS SELECT * FROM cdc.group_info();
COMMENT ON VIEW cdc.groups IS
	'Consumer groups visible to the current role: filters, watermark, members seen, pending leases and the oldest one''s age, lag, dead letters, gap';
-- src/api/grants.sql: last part of the install script.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA cdc FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA cdc FROM PUBLIC;

-- Start this database's log writer now rather than at the launcher's next
-- look (a no-op without shared_preload_libraries = 'cdc_ext').
SELECT cdc.start_writer();
-- cdc_ext 1.0 -> 1.1, last part: the 1.0 consumers, with their positions,
-- become 1.1 consumers; their slots wait for the log writer (see the first part).
INSERT INTO cdc.consumer_state (name, owner, entities, exclude_entities, operations,
								checkpoint_lsn, checkpoint_seq, checkpoint_at, created_at,
								gap_from, gap_to, gap_reason)
SELECT name, owner, entities, exclude_entities, operations::cdc.operation[],
	   checkpoint_lsn, checkpoint_seq, checkpoint_at, created_at,
	   gap_from, gap_to, gap_reason
FROM cdc.consumer_state_1_0;
UPDATE cdc.log_state
SET migrate_slots = (SELECT pg_catalog.array_agg(slot_name) FROM cdc.consumer_state_1_0);
DROP TABLE cdc.consumer_state_1_0;

-- the writer may have been asked before the consumers were here: ask again
SELECT cdc.start_writer();
