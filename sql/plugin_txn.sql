-- Transaction shapes: truncate, logical messages, begin/commit entries, empty
-- and aborted transactions, savepoints, two-phase commit, partitions, table
-- rewrites and DDL between changes.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE TABLE t_a (id int PRIMARY KEY, v text);
CREATE TABLE t_b (id int PRIMARY KEY, v text);
CREATE TABLE t_c (id int PRIMARY KEY, a_id int REFERENCES t_a);
SELECT 'init' FROM pg_create_logical_replication_slot('txn_slot', 'cdc_ext');
-- run-independent view of the stream
CREATE FUNCTION entries(opts text[] DEFAULT '{}')
RETURNS TABLE (seq int, entity text, op text, entity_id jsonb, old_data jsonb, new_data jsonb, extra jsonb)
LANGUAGE sql AS $$
	SELECT (d->>'seq')::int, d->>'entity', d->>'operation', d->'entity_id', d->'old_data', d->'new_data',
		   nullif(d - '{lsn,commit_lsn,seq,xid,timestamp,entity,entity_id,operation,old_data,new_data}'::text[], '{}')
	FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('txn_slot', NULL, NULL, VARIADIC opts)) s
$$;

-- TRUNCATE: one entry per table, CASCADE included, filters apply
INSERT INTO t_a VALUES (1, 'a');
INSERT INTO t_b VALUES (1, 'b');
INSERT INTO t_c VALUES (1, 1);
SELECT 'skip' FROM pg_logical_slot_get_changes('txn_slot', NULL, NULL);
TRUNCATE t_a, t_b CASCADE;
SELECT * FROM entries();
SELECT * FROM entries('{entities,t_b}');
SELECT * FROM entries('{operations,"insert,update"}');
SELECT 'skip' FROM pg_logical_slot_get_changes('txn_slot', NULL, NULL);

-- logical messages: opt-in by prefix; transactional ones in commit order,
-- non-transactional ones at once; binary payloads as base64
BEGIN;
INSERT INTO t_a VALUES (2, 'x');
SELECT 'msg' FROM pg_logical_emit_message(true, 'app', 'hello "world"');
SELECT 'msg' FROM pg_logical_emit_message(true, 'app.bin', '\x00ff80c3'::bytea);
SELECT 'msg' FROM pg_logical_emit_message(true, 'other', 'ignored');
COMMIT;
SELECT 'msg' FROM pg_logical_emit_message(false, 'app', 'not transactional');
SELECT 'msg' FROM pg_logical_emit_message(true, 'app', '\x696e76616c6964c328'::bytea); -- not UTF-8
-- (PostgreSQL 15 does not flush non-transactional messages: a commit does)
INSERT INTO t_b VALUES (2, 'flush');
SELECT * FROM entries();                              -- messages are off by default
SELECT * FROM entries('{messages,app*}');
SELECT extra->>'content' AS content, decode(extra->>'content', 'base64') AS decoded
FROM entries('{messages,app*}') WHERE extra->>'content_encoding' = 'base64';
-- non-transactional: no commit position
SELECT d->'commit_lsn' AS commit_lsn, d->'seq' AS seq, d->'timestamp' AS ts, d->>'lsn' IS NOT NULL AS has_lsn
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('txn_slot', NULL, NULL, 'messages', 'app')) s
WHERE d->>'transactional' = 'false';
SELECT 'skip' FROM pg_logical_slot_get_changes('txn_slot', NULL, NULL);

-- begin/commit entries; empty transactions and filtered-out ones give none
BEGIN; INSERT INTO t_a VALUES (3, 'c'); UPDATE t_a SET v = 'd' WHERE id = 3; COMMIT;
BEGIN; SELECT 1 AS nothing_written; COMMIT;
BEGIN; CREATE TABLE t_tmp (i int); DROP TABLE t_tmp; COMMIT;   -- catalog only
INSERT INTO t_b VALUES (3, 'filtered');
SELECT seq, op, entity, extra FROM entries('{transactions,true,entities,t_a}');
SELECT count(*) AS entries_without_option FROM entries('{entities,t_a}');
-- begin/commit share the transaction's commit_lsn; the cursor stays strict
SELECT count(DISTINCT d->>'commit_lsn') AS commit_lsns, array_agg((d->>'seq')::int) AS seqs
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('txn_slot', NULL, NULL,
	'transactions', 'true', 'entities', 't_a')) s;
SELECT 'skip' FROM pg_logical_slot_get_changes('txn_slot', NULL, NULL);

-- aborted transactions and rolled-back savepoints are absent; seq counts
-- only what committed
BEGIN; INSERT INTO t_a VALUES (10, 'aborted'); ROLLBACK;
BEGIN;
INSERT INTO t_a VALUES (11, 'kept');
SAVEPOINT s1;
INSERT INTO t_a VALUES (12, 'rolled back');
SAVEPOINT s2;
INSERT INTO t_a VALUES (13, 'rolled back too');
ROLLBACK TO s1;
SAVEPOINT s3;
INSERT INTO t_a VALUES (14, 'released');
RELEASE s3;
COMMIT;
SELECT seq, entity, op, new_data FROM entries();
SELECT 'skip' FROM pg_logical_slot_get_changes('txn_slot', NULL, NULL);

-- two-phase commit: nothing at PREPARE, everything at COMMIT PREPARED,
-- nothing ever for ROLLBACK PREPARED
BEGIN; INSERT INTO t_a VALUES (20, 'prepared'); PREPARE TRANSACTION 'cdc_gid_1';
BEGIN; INSERT INTO t_a VALUES (21, 'prepared, rolled back'); PREPARE TRANSACTION 'cdc_gid_2';
SELECT count(*) AS at_prepare FROM entries();
COMMIT PREPARED 'cdc_gid_1';
ROLLBACK PREPARED 'cdc_gid_2';
SELECT seq, entity, op, new_data FROM entries();
SELECT 'skip' FROM pg_logical_slot_get_changes('txn_slot', NULL, NULL);

-- partitions: reported against the leaf; the parent is followed by its
-- partitions' names
CREATE TABLE measure (id int, at date, v int, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE measure_2026_01 PARTITION OF measure FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE measure_2026_02 PARTITION OF measure FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
INSERT INTO measure VALUES (1, '2026-01-15', 1), (2, '2026-02-15', 2);
UPDATE measure SET at = '2026-02-20' WHERE id = 1;    -- moves partition: delete + insert
TRUNCATE measure;
SELECT seq, entity, op, entity_id, new_data FROM entries();
SELECT count(*) AS via_parent_pattern FROM entries('{entities,measure_*}');
SELECT 'skip' FROM pg_logical_slot_get_changes('txn_slot', NULL, NULL);

-- table rewrites emit nothing spurious; the changes around them stay exact
INSERT INTO t_b SELECT g, 'r' || g FROM generate_series(10, 12) g;
VACUUM FULL t_b;
CLUSTER t_b USING t_b_pkey;
ALTER TABLE t_b ALTER COLUMN id TYPE bigint;
ALTER TABLE t_b ADD COLUMN extra text DEFAULT 'd';       -- no rewrite, default shown
ALTER TABLE t_b ADD COLUMN vol float8 DEFAULT random();  -- rewrite
VACUUM FULL pg_class;
UPDATE t_b SET v = 'after' WHERE id = 10;
SELECT seq, entity, op, new_data - 'vol' AS new_data, jsonb_typeof(new_data->'vol') AS vol
FROM entries();
SELECT 'skip' FROM pg_logical_slot_get_changes('txn_slot', NULL, NULL);

-- DDL between changes in one transaction: each change has the columns of
-- its time
BEGIN;
INSERT INTO t_a VALUES (30, 'before');
ALTER TABLE t_a ADD COLUMN n int;
INSERT INTO t_a VALUES (31, 'added', 7);
ALTER TABLE t_a DROP COLUMN v;
INSERT INTO t_a VALUES (32, 8);
ALTER TABLE t_a ALTER COLUMN n TYPE text;
INSERT INTO t_a VALUES (33, 'nine');
ALTER TABLE t_a RENAME TO t_a_renamed;
INSERT INTO t_a_renamed VALUES (34, 'ten');
COMMIT;
SELECT seq, entity, op, new_data FROM entries();

SELECT 'drop' FROM pg_drop_replication_slot('txn_slot');
DROP TABLE t_a_renamed, t_b, t_c, measure;
DROP FUNCTION entries;
