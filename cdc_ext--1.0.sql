-- cdc_ext 1.0: Change Data Capture for PostgreSQL.
--
-- The output plugin (library cdc_ext) needs no SQL object.  This script adds
-- the consumer API in schema cdc: named consumers backed by logical slots,
-- typed streaming, transactional checkpoints, trim and status.
--
-- Privileges: nothing here is for PUBLIC.  An administrator grants, per role:
--   GRANT USAGE ON SCHEMA cdc TO app;
--   GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO app;
--   GRANT SELECT ON cdc.consumers TO app;
-- The C functions check ownership themselves: a consumer belongs to the role
-- that created it (and roles that are members of it; superusers see all).

\echo Use "CREATE EXTENSION cdc_ext" to load this file. \quit

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
	unchanged_toast text[]
);
COMMENT ON TYPE cdc.change_entry IS
	'One row change: the ChangeEntry fields, typed; ordered and resumable by (commit_lsn, seq)';

-- One row per consumer.  Written only by the cdc functions (as the
-- extension's owner); read through the cdc.consumers view.
CREATE TABLE cdc.consumer_state (
	name			text PRIMARY KEY
		CHECK (name ~ '^[A-Za-z0-9_.-]{1,48}$'),
	owner			oid NOT NULL,
	slot_name		name NOT NULL UNIQUE,
	entities		text[],
	exclude_entities text[],
	operations		cdc.operation[],
	checkpoint_lsn	pg_lsn NOT NULL,
	checkpoint_seq	integer NOT NULL DEFAULT 0 CHECK (checkpoint_seq >= 0),
	checkpoint_at	timestamptz NOT NULL DEFAULT now(),
	created_at		timestamptz NOT NULL DEFAULT now(),
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
	operations cdc.operation[] DEFAULT NULL)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'cdc_create_consumer'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.create_consumer(text, text[], text[], cdc.operation[]) IS
	'Create a named consumer with its own logical slot and stored filters; returns the position it starts from';

CREATE FUNCTION cdc.drop_consumer(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cdc_drop_consumer'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.drop_consumer(text) IS
	'Drop a consumer and its slot, releasing the WAL it held';

CREATE FUNCTION cdc.stream(
	consumer text,
	from_lsn pg_lsn DEFAULT NULL,
	from_timestamp timestamptz DEFAULT NULL,
	from_beginning boolean DEFAULT false,
	entities text[] DEFAULT NULL,
	exclude_entities text[] DEFAULT NULL,
	operations cdc.operation[] DEFAULT NULL,
	batch_size integer DEFAULT 1000,
	batch_timeout interval DEFAULT '0')
RETURNS SETOF cdc.change_entry
AS 'MODULE_PATHNAME', 'cdc_stream'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval) IS
	'Changes after the consumer''s committed checkpoint, typed, at most batch_size rows; reading never consumes';

CREATE FUNCTION cdc.checkpoint(consumer text, commit_lsn pg_lsn, seq integer DEFAULT 0)
RETURNS void
AS 'MODULE_PATHNAME', 'cdc_checkpoint'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdc.checkpoint(text, pg_lsn, integer) IS
	'Record (transactionally) that the consumer is done with every change up to (commit_lsn, seq)';

CREATE FUNCTION cdc.trim(before_lsn pg_lsn, consumer text DEFAULT NULL)
RETURNS TABLE (consumer text, slot_name name, slot_lsn_before pg_lsn,
			   slot_lsn_after pg_lsn, freed_bytes numeric, gap boolean)
AS 'MODULE_PATHNAME', 'cdc_trim'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdc.trim(pg_lsn, text) IS
	'Move consumers'' slots to before_lsn, releasing the WAL they retain (freed_bytes: how far the oldest WAL they need moved); consumers whose checkpoint was behind get a gap';

CREATE FUNCTION cdc.current_lsn()
RETURNS pg_lsn
AS $$ SELECT pg_catalog.pg_current_wal_lsn() $$
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION cdc.current_lsn() IS 'The current WAL write position';

-- Everything an operator asks of a consumer.  Rows of other roles' consumers
-- are hidden (superusers see all).  lag_bytes: WAL written since the
-- checkpoint's commit; lag_seconds: time since the last checkpoint while
-- there is lag, else 0.  gap: the consumer's unread history is gone.
CREATE VIEW cdc.consumers WITH (security_barrier) AS
SELECT c.name,
	   c.owner::regrole AS owner,
	   c.slot_name,
	   c.entities,
	   c.exclude_entities,
	   c.operations,
	   c.checkpoint_lsn,
	   c.checkpoint_seq,
	   c.checkpoint_at,
	   s.confirmed_flush_lsn AS slot_lsn,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), c.checkpoint_lsn)::bigint AS lag_bytes,
	   CASE WHEN pg_catalog.pg_current_wal_lsn() > c.checkpoint_lsn
			THEN extract(epoch FROM pg_catalog.now() - c.checkpoint_at)::numeric(20, 3)
			ELSE 0 END AS lag_seconds,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint AS wal_held_bytes,
	   s.active_pid,
	   (s.slot_name IS NULL OR s.restart_lsn IS NULL OR s.wal_status = 'lost'
		OR s.confirmed_flush_lsn > c.checkpoint_lsn
		OR coalesce(c.gap_to > c.checkpoint_lsn, false)) AS gap,
	   CASE WHEN s.slot_name IS NULL THEN 'slot missing'
			WHEN s.restart_lsn IS NULL OR s.wal_status = 'lost' THEN 'slot invalidated'
			WHEN c.gap_to > c.checkpoint_lsn THEN c.gap_reason
			WHEN s.confirmed_flush_lsn > c.checkpoint_lsn THEN 'slot advanced past checkpoint'
	   END AS gap_reason,
	   c.created_at
FROM cdc.consumer_state c
LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = c.slot_name
WHERE pg_catalog.pg_has_role(c.owner, 'USAGE');
REVOKE ALL ON cdc.consumers FROM PUBLIC;
COMMENT ON VIEW cdc.consumers IS
	'Consumers visible to the current role: filters, checkpoint, lag, active reader, gap';

-- The CDC counterpart of "admin cdc status": one row.
CREATE FUNCTION cdc.status(
	OUT enabled boolean,
	OUT wal_level text,
	OUT current_lsn pg_lsn,
	OUT oldest_lsn pg_lsn,
	OUT retention text,
	OUT wal_held_bytes bigint,
	OUT wal_held text,
	OUT consumers integer,
	OUT consumers_active integer,
	OUT consumers_with_gap integer)
AS $$
	SELECT pg_catalog.current_setting('wal_level') = 'logical',
		   pg_catalog.current_setting('wal_level'),
		   pg_catalog.pg_current_wal_lsn(),
		   min(s.restart_lsn),
		   CASE pg_catalog.current_setting('max_slot_wal_keep_size')
				WHEN '-1' THEN 'unlimited'
				ELSE pg_catalog.current_setting('max_slot_wal_keep_size') END,
		   coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), min(s.restart_lsn)), 0)::bigint,
		   pg_catalog.pg_size_pretty(coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), min(s.restart_lsn)), 0)),
		   count(c.name)::integer,
		   count(s.active_pid)::integer,
		   count(*) FILTER (WHERE s.slot_name IS NULL OR s.restart_lsn IS NULL
							OR s.wal_status = 'lost'
							OR s.confirmed_flush_lsn > c.checkpoint_lsn
							OR c.gap_to > c.checkpoint_lsn)::integer
	FROM cdc.consumer_state c
	LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = c.slot_name
$$
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION cdc.status() IS
	'CDC status: enabled, wal_level, current and oldest retained LSN, retention, WAL held, consumers';

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc FROM PUBLIC;
