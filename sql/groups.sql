-- Consumer groups (DESIGN §11): leasing, per-row order, ack/nack, claim,
-- dead letters, gaps, privileges, and bad input (clear errors, nothing
-- changed).  The change log is filled by hand here (fake_txn), so that the
-- test does not depend on the log writer's timing.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cdc_ext;
RESET client_min_messages;

CREATE TABLE cdc.log_1 PARTITION OF cdc.log FOR VALUES FROM (1) TO (2);
INSERT INTO cdc.log_chunk (chunk, relname) VALUES (1, 'log_1');
UPDATE cdc.log_state SET current_chunk = 1;
CREATE TABLE public.orders (id int PRIMARY KEY, v text);
CREATE TABLE public.items (id int PRIMARY KEY, v text);
-- One transaction in the log: a change per id, in order (seq 1..n).
CREATE FUNCTION public.fake_txn(entity text, ids int[], op cdc.operation DEFAULT 'insert')
RETURNS pg_lsn LANGUAGE plpgsql AS $$
DECLARE l pg_lsn;
BEGIN
	SELECT coalesce(max(commit_lsn), '0/1000000'::pg_lsn) + 4096 INTO l FROM cdc.log;
	INSERT INTO cdc.log (commit_lsn, seq, chunk, lsn, xid, "timestamp", relid, entity,
						 entity_id, operation, old_data, new_data)
	SELECT l, u.ord, 1, l - 1000 + u.ord, 1000, now(), entity::regclass, entity,
		   CASE WHEN op <> 'truncate' THEN to_jsonb(u.id) END, op, NULL,
		   CASE WHEN op IN ('insert', 'update') THEN jsonb_build_object('id', u.id) END
	FROM unnest(ids) WITH ORDINALITY AS u(id, ord);
	UPDATE cdc.log_state SET logged_commit_lsn = l, logged_seq = cardinality(ids), confirmed_lsn = l;
	RETURN l;
END $$;
-- SQLSTATE, message and hint of an error (the statement's work is undone)
CREATE FUNCTION public.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN st || ': ' || msg || coalesce(' HINT: ' || nullif(hint, ''), '');
END $$;
-- what is leased, compactly
CREATE VIEW leases AS
	SELECT commit_lsn, seq, member, delivery_count FROM cdc.pending('g') ORDER BY 1, 2;

-- create, with bad input first
SELECT cdc.create_group('g', start => 'beginning');
SELECT err($$SELECT cdc.create_group('g')$$);
SELECT err($$SELECT cdc.create_group('bad name')$$);
SELECT err($$SELECT cdc.create_group(NULL)$$);
SELECT err($$SELECT cdc.create_group('g2', max_deliveries => 0)$$);
SELECT err($$SELECT cdc.create_group('g2', start => 'yesterday-ish')$$);
SELECT err($$SELECT cdc.create_group('g2', start => '2999-01-01')$$);
SELECT err($$SELECT cdc.create_group('g2', start => '0/10')$$);
SELECT err($$SELECT cdc.create_group('g2', entities => '{""}')$$);
SELECT cdc.create_group('g2', entities => '{public.items}', operations => '{insert,update}', start => 'beginning');
SELECT name, owner, entities, operations, max_deliveries, ack_lsn, members, pending, gap FROM cdc.groups;

SELECT fake_txn('public.orders', '{1,2,3,1,2}');   -- 0/1001000
SELECT fake_txn('public.items', '{7,8}');          -- 0/1002000

-- member a gets the first three; the later changes of rows 1 and 2 are
-- held back for it (per-row order), so b gets the items only
SELECT commit_lsn, seq, entity, entity_id, operation, new_data, delivery_count
FROM cdc.read_group('g', 'a', 3);
SELECT commit_lsn, seq, entity, entity_id, delivery_count FROM cdc.read_group('g', 'b', 10);
SELECT * FROM leases;
-- b gets nothing more: rows 1 and 2 belong to a until acknowledged
SELECT count(*) FROM cdc.read_group('g', 'b', 10);
-- a may have them, in order
SELECT commit_lsn, seq, entity_id FROM cdc.read_group('g', 'a', 10);
-- ack (single and array), transactional: a rolled-back ack changes nothing
BEGIN;
SELECT cdc.ack('g', '0/1001000', 1);
ROLLBACK;
SELECT * FROM leases;
SELECT cdc.ack('g', '0/1001000', 1);
SELECT cdc.ack('g', ARRAY['0/1001000', '0/1001000']::pg_lsn[], ARRAY[2, 3]);
SELECT * FROM leases;

-- bad input: unknown group, bad member, non-positive sizes and timeouts
SELECT err($$SELECT * FROM cdc.read_group('nope', 'a')$$);
SELECT err($$SELECT * FROM cdc.read_group('g', '')$$);
SELECT err($$SELECT * FROM cdc.read_group('g', NULL)$$);
SELECT err($$SELECT * FROM cdc.read_group('g', 'a', 0)$$);
SELECT err($$SELECT * FROM cdc.read_group('g', 'a', -5)$$);
SELECT err($$SELECT * FROM cdc.read_group('g', 'a', 10, '0 s')$$);
SELECT err($$SELECT * FROM cdc.read_group('g', 'a', 10, '-1 s')$$);
SELECT err($$SELECT * FROM cdc.read_group('g', 'a', 10, '1 s', '-1 s')$$);
SELECT err($$SELECT * FROM cdc.pending('g', 'nobody')$$);
SELECT err($$SELECT * FROM cdc.claim('g', 'a', '0 s', from_member => 'nobody')$$);
SELECT err($$SELECT * FROM cdc.claim('g', 'a', '-1 s')$$);
SELECT err($$SELECT * FROM cdc.claim('g', 'a', '0 s', batch_size => 0)$$);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT err($$SELECT * FROM cdc.read_group('g', 'a')$$);
COMMIT;
-- bad acks: each an error, and nothing changed (the good position in the
-- same call is not acknowledged either)
SELECT err($$SELECT cdc.ack('nope', '0/1001000', 4)$$);
SELECT err($$SELECT cdc.ack('g', '0/1001000', 1)$$);  -- already acknowledged
SELECT err($$SELECT cdc.ack('g', '0/1009000', 1)$$);  -- never delivered
SELECT err($$SELECT cdc.ack('g', '0/1001800', 1)$$);  -- not a change of g
SELECT err($$SELECT cdc.ack('g', ARRAY['0/1001000', '0/1001000']::pg_lsn[], ARRAY[4, 9])$$);
SELECT err($$SELECT cdc.ack('g', ARRAY['0/1001000', '0/1001000']::pg_lsn[], ARRAY[4, 4])$$);
SELECT err($$SELECT cdc.ack('g', ARRAY['0/1001000']::pg_lsn[], ARRAY[4, 5])$$);
SELECT err($$SELECT cdc.ack('g', ARRAY[]::pg_lsn[], ARRAY[]::int[])$$);
SELECT err($$SELECT cdc.nack('g', '0/1009000', 1)$$);
SELECT * FROM leases;

-- nack: back for delivery now, with the later change of the same row the
-- member holds (0/1001000,4 and 5 are a's; nack 4 leaves 5 with a: other row)
SELECT cdc.nack('g', '0/1001000', 4);
SELECT * FROM leases;
SELECT commit_lsn, seq, entity_id, delivery_count FROM cdc.read_group('g', 'b', 10);
SELECT cdc.ack('g', ARRAY['0/1001000', '0/1001000', '0/1002000', '0/1002000']::pg_lsn[],
			   ARRAY[4, 5, 1, 2]);
SELECT * FROM leases;
SELECT ack_lsn, ack_seq, pending, lag_changes FROM cdc.groups WHERE name = 'g';

-- expired leases are delivered again, delivery_count grows
SELECT fake_txn('public.orders', '{10,11}');       -- 0/1003000
SELECT commit_lsn, seq, delivery_count FROM cdc.read_group('g', 'a', 10, '10 ms');
SELECT pg_sleep(0.05);
SELECT commit_lsn, seq, delivery_count FROM cdc.read_group('g', 'b', 1);
SELECT * FROM leases;
-- the late member's ack still counts (first ack wins) ...
SELECT cdc.ack('g', '0/1003000', 1);
-- ... and the redelivery's ack is refused: its sink work must roll back
SELECT err($$SELECT cdc.ack('g', '0/1003000', 1)$$);

-- claim: take over what a member leased at least min_idle ago
SELECT * FROM leases;
SELECT count(*) FROM cdc.claim('g', 'c', '1 hour');
SELECT commit_lsn, seq, entity_id, delivery_count FROM cdc.claim('g', 'c', '0 s', from_member => 'a');
SELECT * FROM leases;
SELECT cdc.ack('g', '0/1003000', 2);

-- max_deliveries: the third delivery of a change of a group with
-- max_deliveries 2 moves it to the dead letters; later changes of its row go on
SELECT cdc.create_group('dl', entities => '{orders}', start => '0/1003001', max_deliveries => 2);
SELECT fake_txn('public.orders', '{20,20}');       -- 0/1004000
SELECT commit_lsn, seq, delivery_count FROM cdc.read_group('dl', 'a', 1, '10 ms');
SELECT pg_sleep(0.05);
SELECT commit_lsn, seq, delivery_count FROM cdc.read_group('dl', 'a', 1, '10 ms');
SELECT pg_sleep(0.05);
SELECT commit_lsn, seq, delivery_count FROM cdc.read_group('dl', 'a', 1);
SELECT commit_lsn, seq, entity, entity_id, delivery_count, last_member, replaying
FROM cdc.dead_letters('dl');
SELECT err($$SELECT cdc.ack('dl', '0/1004000', 1)$$);
SELECT dead_letters FROM cdc.groups WHERE name = 'dl';
-- replay: held back while a holds a later change of the row, then
-- delivered again, acknowledged, gone
SELECT err($$SELECT cdc.replay_dead_letters('dl', '0/1004000', 9)$$);
SELECT cdc.replay_dead_letters('dl');
SELECT commit_lsn, seq, entity_id, delivery_count FROM cdc.read_group('dl', 'b', 10);
SELECT cdc.ack('dl', '0/1004000', 2);
SELECT commit_lsn, seq, entity_id, delivery_count FROM cdc.read_group('dl', 'b', 10);
SELECT commit_lsn, seq, delivery_count, replaying FROM cdc.dead_letters('dl');
SELECT cdc.ack('dl', '0/1004000', 1);
SELECT count(*) FROM cdc.dead_letters('dl');

-- truncate orders against every change of its table: not before the
-- earlier changes are done, nothing of the table after it until it is
SELECT fake_txn('public.orders', '{30}');                  -- 0/1005000
SELECT fake_txn('public.orders', '{0}', 'truncate');       -- 0/1006000
SELECT fake_txn('public.orders', '{31}');                  -- 0/1007000
SELECT fake_txn('public.items', '{32}');                   -- 0/1008000
SELECT commit_lsn, seq, entity, operation FROM cdc.read_group('dl', 'a', 1);
SELECT commit_lsn, seq, entity, operation FROM cdc.read_group('dl', 'b', 10);
SELECT cdc.ack('dl', '0/1005000', 1);
SELECT commit_lsn, seq, entity, operation FROM cdc.read_group('dl', 'b', 10);
SELECT commit_lsn, seq, entity, operation FROM cdc.read_group('dl', 'c', 10);
SELECT commit_lsn, seq, entity, operation FROM cdc.read_group('dl', 'c', 10);
SELECT cdc.ack('dl', '0/1006000', 1);
SELECT commit_lsn, seq, entity, operation FROM cdc.read_group('dl', 'c', 10);
SELECT cdc.ack('dl', '0/1007000', 1);

-- filters: g2 takes inserts and updates of items only
SELECT commit_lsn, seq, entity, operation FROM cdc.read_group('g2', 'a', 100);

-- privileges: another role sees no group of ours; a group of its own gets
-- only the tables it may SELECT, and the others count as done
CREATE ROLE groups_app;
GRANT USAGE ON SCHEMA cdc TO groups_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO groups_app;
GRANT SELECT ON cdc.groups TO groups_app;
GRANT SELECT ON public.items TO groups_app;
SET ROLE groups_app;
SELECT err($$SELECT * FROM cdc.read_group('g', 'x')$$);
SELECT err($$SELECT cdc.ack('g', '0/1003000', 2)$$);
SELECT err($$SELECT cdc.drop_group('g')$$);
SELECT name FROM cdc.groups;
SELECT cdc.create_group('mine', start => '0/1004001');
SELECT commit_lsn, seq, entity FROM cdc.read_group('mine', 'x', 100);
SELECT ack_lsn, ack_seq, pending FROM cdc.groups;
SELECT cdc.drop_group('mine');
RESET ROLE;

-- the horizon: a group whose unfinished changes were dropped has a gap
UPDATE cdc.log_state SET oldest_lsn = '0/1004000';
SELECT fake_txn('public.orders', '{40}');                  -- 0/1009000
SELECT err($$SELECT count(*) FROM cdc.read_group('g', 'a')$$);
SELECT name, gap FROM cdc.groups ORDER BY name;
SELECT cdc.reset_group('g');
SELECT commit_lsn, seq FROM cdc.read_group('g', 'a', 2);
-- a group that had finished everything before the horizon has no gap
SELECT name, gap FROM cdc.groups ORDER BY name;

SELECT err($$SELECT cdc.drop_group('nope')$$);
SELECT cdc.drop_group('g');
SELECT cdc.drop_group('g2');
SELECT cdc.drop_group('dl');
SELECT count(*) FROM cdc.group_entry;
SELECT count(*) FROM cdc.group_member;
SELECT count(*) FROM cdc.group_dead_letter;
DROP OWNED BY groups_app;
DROP ROLE groups_app;
