-- src/api/groups.sql: consumer groups over the change log (docs/groups.md).
-- Part of cdc_ext--1.2.sql (the Makefile concatenates the parts).
--
-- Several members share one stream: each change is leased to one member at
-- a time, acknowledged once, redelivered when its lease expires, moved to a
-- dead-letter table after max_deliveries.  The state lives in the tables
-- below, written only by the C functions of src/api/groups.c, which run as
-- their caller, check ownership themselves and switch to the extension's
-- owner (search_path pinned) for their statements, like the consumer
-- functions of api.sql.
--
-- Positions are the cursor (commit_lsn, seq) of docs/log.md.  For a group:
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
-- last_member: who was delivered it last (a nack clears member, not this),
-- recorded in its dead letter.
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
	last_member		text,
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
	schema_version	pg_lsn,
	audience		integer,
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
LANGUAGE C VOLATILE;
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
	unchanged_toast text[], fallback text[], schema_version pg_lsn, delivery_count integer)
AS 'MODULE_PATHNAME', 'cdc_read_group'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.read_group(text, text, integer, interval, interval, boolean) IS
	'Lease up to batch_size changes of the group to member for visibility_timeout, in cursor order: changes nobody holds and nobody acknowledged, expired leases again; changes to one row go to one member at a time, in order. Call it in its own transaction';

CREATE FUNCTION cdc.ack("group" text, commit_lsn pg_lsn, seq integer)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_ack'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.ack(text, pg_lsn, integer) IS
	'Acknowledge one delivered change of the group, in the calling transaction (exactly-once when it is the sink''s)';

CREATE FUNCTION cdc.ack("group" text, commit_lsns pg_lsn[], seqs integer[])
RETURNS integer
AS 'MODULE_PATHNAME', 'cdc_ack_array'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.ack(text, pg_lsn[], integer[]) IS
	'Acknowledge delivered changes of the group (pairs commit_lsns[i], seqs[i]) in the calling transaction; all or nothing; returns how many';

CREATE FUNCTION cdc.nack("group" text, commit_lsn pg_lsn, seq integer)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_nack'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.nack(text, pg_lsn, integer) IS
	'Give a leased change back for delivery now (with the later changes to the same row that its member holds)';

CREATE FUNCTION cdc.nack("group" text, commit_lsns pg_lsn[], seqs integer[])
RETURNS integer
AS 'MODULE_PATHNAME', 'cdc_nack_array'
LANGUAGE C VOLATILE;
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
