-- Consumer groups (docs/groups.md) over the change log: leasing, per-row order,
-- ack/nack, expiry, claim, dead letters, truncates, filters, privileges, the
-- horizon (trim), and bad input (clear errors, nothing changed).
\set VERBOSITY terse
CREATE EXTENSION cdc_ext;

-- Wait until the writer captures.
DO $$ BEGIN
	FOR i IN 1..600 LOOP
		EXIT WHEN (SELECT capture_from IS NOT NULL FROM cdc.log_state);
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
CREATE TABLE public.orders (id int PRIMARY KEY, v text);
CREATE TABLE public.items (id int PRIMARY KEY, v text);
-- Positions differ from run to run: show a transaction as its number among
-- the logged transactions of orders and items (t), and find the n-th (p);
-- the tables' CREATE (schema entries, which these groups do not ask for)
-- is not counted.
CREATE FUNCTION public.t(l pg_lsn) RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$
	SELECT count(DISTINCT commit_lsn) FROM cdc.log
	WHERE entity IN ('public.orders', 'public.items') AND operation <> 'schema'
	AND commit_lsn <= l $$;
CREATE FUNCTION public.p(n int) RETURNS pg_lsn LANGUAGE sql SECURITY DEFINER AS $$
	SELECT commit_lsn FROM (SELECT DISTINCT commit_lsn FROM cdc.log
		WHERE entity IN ('public.orders', 'public.items') AND operation <> 'schema') x
	ORDER BY commit_lsn OFFSET n - 1 LIMIT 1 $$;
-- SQLSTATE, message and hint of an error (the statement's work is undone)
CREATE FUNCTION public.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN regexp_replace(st || ': ' || msg || coalesce(' HINT: ' || nullif(hint, ''), ''),
						  '[0-9A-F]+/[0-9A-F]+', 'X/X', 'g');
END $$;
-- what is leased, compactly
CREATE VIEW leases AS
	SELECT t(commit_lsn) AS txn, seq, member, delivery_count FROM cdc.pending('g') ORDER BY 1, 2;

-- create, with bad input first
SELECT cdc.create_group('g', entities => '{orders,items}', start => 'beginning') IS NOT NULL AS created;
SELECT err($$SELECT cdc.create_group('g')$$);
SELECT err($$SELECT cdc.create_group('bad name')$$);
SELECT err($$SELECT cdc.create_group(NULL)$$);
SELECT err($$SELECT cdc.create_group('g2', max_deliveries => 0)$$);
SELECT err($$SELECT cdc.create_group('g2', start => 'yesterday-ish')$$);
SELECT err($$SELECT cdc.create_group('g2', start => '2999-01-01')$$);
-- one start and one operations rule for consumers and groups (args.c):
-- 'now' is lower case, an LSN beyond the end of WAL is refused, and an
-- empty operations array is an error (NULL means every table operation)
SELECT err($$SELECT cdc.create_group('g2', start => 'NOW')$$);
SELECT err($$SELECT cdc.create_group('g2', start => 'FFFFFFFF/0')$$);
SELECT err($$SELECT cdc.create_group('g2', operations => '{}')$$);
SELECT err($$SELECT cdc.create_group('g2', entities => '{""}')$$);
SELECT cdc.create_group('g2', entities => '{public.items}', operations => '{insert,update}', start => 'beginning') IS NOT NULL AS created;
SELECT name, owner, entities, operations, max_deliveries, members, pending, gap FROM cdc.groups;

-- transaction 1: rows 1 2 3 1 2 of orders; 2: items 7 8
BEGIN;
INSERT INTO orders VALUES (1), (2), (3);
UPDATE orders SET v = 'a' WHERE id = 1;
UPDATE orders SET v = 'b' WHERE id = 2;
COMMIT;
INSERT INTO items VALUES (7), (8);
SELECT cdc.wait_for_log() IS NOT NULL AS logged;

-- member a gets the first three; the later changes of rows 1 and 2 are
-- held back for it (per-row order), so b gets the items only
SELECT t(commit_lsn) AS txn, seq, entity, entity_id, operation, new_data, delivery_count
FROM cdc.read_group('g', 'a', 3);
SELECT t(commit_lsn) AS txn, seq, entity, entity_id, delivery_count FROM cdc.read_group('g', 'b', 10);
SELECT * FROM leases;
-- b gets nothing more: rows 1 and 2 belong to a until acknowledged
SELECT count(*) FROM cdc.read_group('g', 'b', 10);
-- a may have them, in order
SELECT t(commit_lsn) AS txn, seq, entity_id FROM cdc.read_group('g', 'a', 10);
-- ack (single and array), transactional: a rolled-back ack changes nothing
BEGIN;
SELECT cdc.ack('g', p(1), 1);
ROLLBACK;
SELECT * FROM leases;
SELECT cdc.ack('g', p(1), 1);
SELECT cdc.ack('g', ARRAY[p(1), p(1)], ARRAY[2, 3]);
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
-- positions of more than one dimension (flattened before), none, or nulls
SELECT err($$SELECT cdc.ack('g', ARRAY[[p(1)],[p(1)]], ARRAY[[1],[2]])$$);
SELECT err($$SELECT cdc.nack('g', '{}'::pg_lsn[], '{}'::int[])$$);
SELECT err($$SELECT cdc.ack('g', ARRAY[NULL::pg_lsn], ARRAY[1])$$);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT err($$SELECT * FROM cdc.read_group('g', 'a')$$);
COMMIT;
-- bad acks: each an error, and nothing changed (the good position in the
-- same call is not acknowledged either)
SELECT err($$SELECT cdc.ack('nope', p(1), 4)$$);
SELECT err($$SELECT cdc.ack('g', p(1), 1)$$);  -- already acknowledged
SELECT err($$SELECT cdc.ack('g', 'FF/0', 1)$$);  -- never delivered
SELECT err($$SELECT cdc.ack('g', p(1) + 1, 1)$$);  -- not a change of g
SELECT err($$SELECT cdc.ack('g', ARRAY[p(1), p(1)], ARRAY[4, 9])$$);
SELECT err($$SELECT cdc.ack('g', ARRAY[p(1), p(1)], ARRAY[4, 4])$$);
SELECT err($$SELECT cdc.ack('g', ARRAY[p(1)], ARRAY[4, 5])$$);
SELECT err($$SELECT cdc.ack('g', ARRAY[]::pg_lsn[], ARRAY[]::int[])$$);
SELECT err($$SELECT cdc.nack('g', 'FF/0', 1)$$);
SELECT * FROM leases;

-- nack: back for delivery now, with the later change of the same row the
-- member holds ((1,4) and (1,5) are a's; nack 4 leaves 5 with a: other row)
SELECT cdc.nack('g', p(1), 4);
SELECT * FROM leases;
SELECT t(commit_lsn) AS txn, seq, entity_id, delivery_count FROM cdc.read_group('g', 'b', 10);
SELECT cdc.ack('g', ARRAY[p(1), p(1), p(2), p(2)],
			   ARRAY[4, 5, 1, 2]);
SELECT * FROM leases;
SELECT t(ack_lsn) AS acked_through, ack_seq, pending, lag_changes FROM cdc.groups WHERE name = 'g';

-- expired leases are delivered again, delivery_count grows
INSERT INTO orders VALUES (10), (11);                      -- 3
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT t(commit_lsn) AS txn, seq, delivery_count FROM cdc.read_group('g', 'a', 10, '10 ms');
SELECT pg_sleep(0.05);
SELECT t(commit_lsn) AS txn, seq, delivery_count FROM cdc.read_group('g', 'b', 1);
SELECT * FROM leases;
-- the late member's ack still counts (first ack wins) ...
SELECT cdc.ack('g', p(3), 1);
-- ... and the redelivery's ack is refused: its sink work must roll back
SELECT err($$SELECT cdc.ack('g', p(3), 1)$$);

-- claim: take over what a member leased at least min_idle ago
SELECT * FROM leases;
SELECT count(*) FROM cdc.claim('g', 'c', '1 hour');
SELECT t(commit_lsn) AS txn, seq, entity_id, delivery_count FROM cdc.claim('g', 'c', '0 s', from_member => 'a');
SELECT * FROM leases;
SELECT cdc.ack('g', p(3), 2);

-- max_deliveries: the third delivery of a change of a group with
-- max_deliveries 2 moves it to the dead letters; later changes of its row go on
SELECT cdc.create_group('dl', entities => '{orders}', start => (p(3) + 1)::text, max_deliveries => 2)
	= p(3) + 1 AS created;
BEGIN;                                                     -- 4
INSERT INTO orders VALUES (20);
UPDATE orders SET v = 'x' WHERE id = 20;
COMMIT;
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT t(commit_lsn) AS txn, seq, delivery_count FROM cdc.read_group('dl', 'a', 1, '10 ms');
SELECT pg_sleep(0.05);
SELECT t(commit_lsn) AS txn, seq, delivery_count FROM cdc.read_group('dl', 'a', 1, '10 ms');
SELECT pg_sleep(0.05);
SELECT t(commit_lsn) AS txn, seq, delivery_count FROM cdc.read_group('dl', 'a', 1);
SELECT t(commit_lsn) AS txn, seq, entity, entity_id, delivery_count, last_member, replaying
FROM cdc.dead_letters('dl');
SELECT err($$SELECT cdc.ack('dl', p(4), 1)$$);
SELECT dead_letters FROM cdc.groups WHERE name = 'dl';
-- replay: held back while a holds a later change of the row, then
-- delivered again, acknowledged, gone
SELECT err($$SELECT cdc.replay_dead_letters('dl', p(4), 9)$$);
SELECT cdc.replay_dead_letters('dl');
SELECT t(commit_lsn) AS txn, seq, entity_id, delivery_count FROM cdc.read_group('dl', 'b', 10);
SELECT cdc.ack('dl', p(4), 2);
SELECT t(commit_lsn) AS txn, seq, entity_id, delivery_count FROM cdc.read_group('dl', 'b', 10);
SELECT t(commit_lsn) AS txn, seq, delivery_count, replaying FROM cdc.dead_letters('dl');
SELECT cdc.ack('dl', p(4), 1);
SELECT count(*) FROM cdc.dead_letters('dl');

-- truncate orders against every change of its table: not before the
-- earlier changes are done, nothing of the table after it until it is
INSERT INTO orders VALUES (30);                            -- 5
TRUNCATE orders;                                           -- 6
INSERT INTO orders VALUES (31);                            -- 7
INSERT INTO items VALUES (32);                             -- 8
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT t(commit_lsn) AS txn, seq, entity, operation FROM cdc.read_group('dl', 'a', 1);
SELECT t(commit_lsn) AS txn, seq, entity, operation FROM cdc.read_group('dl', 'b', 10);
SELECT cdc.ack('dl', p(5), 1);
SELECT t(commit_lsn) AS txn, seq, entity, operation FROM cdc.read_group('dl', 'b', 10);
SELECT t(commit_lsn) AS txn, seq, entity, operation FROM cdc.read_group('dl', 'c', 10);
SELECT t(commit_lsn) AS txn, seq, entity, operation FROM cdc.read_group('dl', 'c', 10);
SELECT cdc.ack('dl', p(6), 1);
SELECT t(commit_lsn) AS txn, seq, entity, operation FROM cdc.read_group('dl', 'c', 10);
SELECT cdc.ack('dl', p(7), 1);

-- filters: g2 takes inserts and updates of items only
SELECT t(commit_lsn) AS txn, seq, entity, operation FROM cdc.read_group('g2', 'a', 100);

-- privileges: another role sees no group of ours; a group of its own gets
-- only the tables it may SELECT, and the others count as done
CREATE ROLE groups_app;
GRANT USAGE ON SCHEMA cdc TO groups_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO groups_app;
GRANT SELECT ON cdc.groups TO groups_app;
GRANT SELECT ON public.items TO groups_app;
SET ROLE groups_app;
SELECT err($$SELECT * FROM cdc.read_group('g', 'x')$$);
SELECT err($$SELECT cdc.ack('g', p(3), 2)$$);
SELECT err($$SELECT cdc.drop_group('g')$$);
SELECT name FROM cdc.groups;
SELECT cdc.create_group('mine', entities => '{orders,items}', start => (p(4) + 1)::text) = p(4) + 1 AS created;
SELECT t(commit_lsn) AS txn, seq, entity FROM cdc.read_group('mine', 'x', 100);
SELECT t(ack_lsn) AS acked_through, ack_seq, pending FROM cdc.groups;
-- a withheld change (orders) has no entry left, like an acknowledged one,
-- but it is not one of this role's changes: said so, not "already
-- acknowledged"; an item it received and acknowledged is
SELECT err($$SELECT cdc.ack('mine', p(5), 1)$$);
SELECT cdc.ack('mine', p(8), 1);
SELECT err($$SELECT cdc.ack('mine', p(8), 1)$$);
SELECT cdc.drop_group('mine');
RESET ROLE;

-- the horizon: trim drops transactions 1 to 3.  g2 had not finished with
-- transaction 2 (leased, never acknowledged): it has a gap, until reset;
-- g had acknowledged all of them: it follows the horizon, no gap
INSERT INTO orders VALUES (40);                            -- 9
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT consumers_with_gap FROM cdc.trim(p(4));
SELECT name, gap, gap_reason IS NOT NULL AS has_reason FROM cdc.groups ORDER BY name;
SELECT err($$SELECT count(*) FROM cdc.read_group('g2', 'a')$$);
SELECT t(commit_lsn) AS txn, seq FROM cdc.read_group('g', 'a', 2);
SELECT cdc.reset_group('g2') = (SELECT oldest_lsn FROM cdc.log_state) AS reset;
SELECT t(commit_lsn) AS txn, seq, entity FROM cdc.read_group('g2', 'a');
SELECT name, gap FROM cdc.groups ORDER BY name;

-- a group's change far behind rows it does not read: one read finds it
-- (a read looks at a bounded stretch of log at a time; it used to return
-- an empty batch after the first stretch, batch_timeout or not, with the
-- change still waiting)
CREATE TABLE far_noise (id int PRIMARY KEY);
CREATE TABLE far (id int PRIMARY KEY);
SELECT cdc.create_group('far', entities => '{public.far}', start => 'now') IS NOT NULL AS created;
INSERT INTO far_noise SELECT generate_series(1, 5000);
INSERT INTO far VALUES (1);
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT entity, entity_id FROM cdc.read_group('far', 'a', 10);
INSERT INTO far_noise SELECT generate_series(5001, 10000);
INSERT INTO far VALUES (2);
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT entity, entity_id FROM cdc.read_group('far', 'a', 10, batch_timeout => '5 s');
SELECT cdc.drop_group('far');
DROP TABLE far_noise, far;

SELECT err($$SELECT cdc.drop_group('nope')$$);
SELECT cdc.drop_group('g');
SELECT cdc.drop_group('g2');
SELECT cdc.drop_group('dl');
SELECT count(*) FROM cdc.group_entry;
SELECT count(*) FROM cdc.group_member;
SELECT count(*) FROM cdc.group_dead_letter;
DROP OWNED BY groups_app;
DROP ROLE groups_app;
DROP VIEW leases;
DROP FUNCTION t(pg_lsn), p(int), err(text);
DROP TABLE orders, items;
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
DROP EXTENSION cdc_ext;
