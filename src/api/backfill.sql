-- src/api/backfill.sql: backfills, a consumer's or group's start from the
-- tables' current rows (docs/backfill.md).  Part of cdc_ext--1.2.sql (the
-- Makefile concatenates the parts).
--
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
