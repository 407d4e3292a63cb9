-- Consumers over the change log (docs/log.md, docs/sql-api.md): transactional create,
-- drop and checkpoint; cdc.stream reads without consuming; cdc.consume moves
-- the checkpoint in the caller's transaction; every bad input is an error
-- that changes nothing.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
CREATE TABLE orders (id int PRIMARY KEY, status text);
CREATE TABLE audit (id int PRIMARY KEY);
CREATE TABLE sink (commit_lsn pg_lsn, seq int, entity_id jsonb, PRIMARY KEY (commit_lsn, seq));

-- consumers
SELECT cdc.create_consumer('search', exclude_entities => '{sink}') IS NOT NULL AS created;
SELECT cdc.create_consumer('audit-only', entities => '{audit}', operations => '{insert}') IS NOT NULL AS created;
SELECT name, owner, entities, operations, checkpoint_seq, lag_changes, active_readers, gap, withheld
FROM cdc.consumers ORDER BY name;

INSERT INTO orders VALUES (1, 'new'), (2, 'new'), (3, 'new');
UPDATE orders SET status = 'paid' WHERE id = 2;
DELETE FROM orders WHERE id = 3;
INSERT INTO audit VALUES (10);
DELETE FROM audit;
SELECT pg_temp.logged() AS logged;

-- reading never consumes: twice the same
SELECT seq, entity, entity_id, operation, old_data, new_data FROM cdc.stream('search');
SELECT count(*) FROM cdc.stream('search');
SELECT pg_typeof(lsn), pg_typeof(commit_lsn), pg_typeof(seq), pg_typeof(entity_id),
	   pg_typeof(operation), pg_typeof("timestamp")
FROM cdc.stream('search') LIMIT 1;
-- stored filters: only audit inserts
SELECT entity, operation, entity_id FROM cdc.stream('audit-only');
-- call filters narrow the consumer's own, never widen them
SELECT entity, operation, entity_id FROM cdc.stream('search', operations => '{update,delete}');
SELECT entity, operation FROM cdc.stream('search', entities => '{audit}');
SELECT count(*) FROM cdc.stream('search', exclude_entities => '{orders}');
SELECT count(*) AS widened FROM cdc.stream('audit-only', operations => '{delete}');
-- batch_size is an exact cap, inside one transaction too
SELECT seq, entity_id FROM cdc.stream('search', batch_size => 2);
-- lag as the view shows it
SELECT name, lag_changes, lag_seconds >= 0 AS lag_seconds_known, lag_bytes > 0 AS lag_bytes
FROM cdc.consumers ORDER BY name;

-- 1.0 lost rows here: a checkpoint, a read and a rollback; nothing is lost now
BEGIN;
SELECT cdc.checkpoint('search', commit_lsn, seq) FROM cdc.stream('search', batch_size => 4)
ORDER BY commit_lsn DESC, seq DESC LIMIT 1;
SELECT count(*) AS after_checkpoint FROM cdc.stream('search');
ROLLBACK;
SELECT count(*) AS all_still_there FROM cdc.stream('search');

-- cdc.consume: the batch, and the checkpoint moved in the caller's transaction
BEGIN;
SELECT seq, entity_id, operation FROM cdc.consume('search', batch_size => 2);
SELECT checkpoint_seq AS moved_to FROM cdc.consumers WHERE name = 'search';
ROLLBACK;
SELECT checkpoint_seq AS rolled_back FROM cdc.consumers WHERE name = 'search';
-- exactly-once in one statement: every change once, in order
INSERT INTO sink SELECT commit_lsn, seq, entity_id FROM cdc.consume('search', batch_size => 2);
INSERT INTO sink SELECT commit_lsn, seq, entity_id FROM cdc.consume('search', batch_size => 2);
INSERT INTO sink SELECT commit_lsn, seq, entity_id FROM cdc.consume('search', batch_size => 2);
INSERT INTO sink SELECT commit_lsn, seq, entity_id FROM cdc.consume('search', batch_size => 2);
SELECT seq, entity_id FROM sink ORDER BY commit_lsn, seq;
SELECT pg_temp.logged() AS logged;
SELECT count(*) AS nothing_left FROM cdc.consume('search');
-- (consume moved past sink's rows, which the consumer never receives)
SELECT lag_changes FROM cdc.consumers WHERE name = 'search';
-- a consumer that receives one change of seven moves past all seven: rows it
-- can never receive are not scanned again by the next call
SELECT entity, operation FROM cdc.consume('audit-only');
SELECT c.checkpoint_lsn = s.logged_commit_lsn AND c.checkpoint_seq = s.logged_seq AS at_log_head
FROM cdc.consumers c, cdc.log_state s WHERE c.name = 'audit-only';

-- checkpoints: backwards is a notice and changes nothing; ahead is an error
SELECT checkpoint_lsn AS cp, checkpoint_seq AS cps FROM cdc.consumers WHERE name = 'search' \gset
-- (the NOTICE names LSNs: it is not shown here; its text is
-- "checkpoint (X/X, 0) is behind consumer "search"'s checkpoint (X/X, N); nothing changed")
SET client_min_messages = warning;
SELECT cdc.checkpoint('search', :'cp', 0);
RESET client_min_messages;
SELECT checkpoint_lsn = :'cp' AND checkpoint_seq = :cps AS unchanged FROM cdc.consumers WHERE name = 'search';
SELECT pg_temp.try($$SELECT cdc.checkpoint('search', 'FFFFFFFF/0', 0)$$);
SELECT pg_temp.try($$SELECT cdc.checkpoint('search', '0/0', 0)$$);
SELECT pg_temp.try($$SELECT cdc.checkpoint('search', '0/10', -1)$$);
SELECT checkpoint_lsn = :'cp' AND checkpoint_seq = :cps AS unchanged FROM cdc.consumers WHERE name = 'search';

-- drop and create are transactional
BEGIN;
SELECT cdc.drop_consumer('search');
SELECT count(*) AS inside FROM cdc.consumers WHERE name = 'search';
ROLLBACK;
SELECT name, checkpoint_lsn = :'cp' AS checkpoint_kept FROM cdc.consumers WHERE name = 'search';
BEGIN;
SELECT cdc.create_consumer('fleeting') IS NOT NULL AS created;
ROLLBACK;
SELECT count(*) AS fleeting FROM cdc.consumers WHERE name = 'fleeting';
SELECT pg_temp.try($$SELECT cdc.create_consumer('search')$$);

-- where a consumer starts: 'beginning' is everything retained, also what
-- was committed before it existed; a timestamp, the first change committed
-- at or after it; an LSN, changes committed at or after it
SELECT cdc.create_consumer('late', start => 'beginning') IS NOT NULL AS created;
SELECT count(*) AS from_the_beginning FROM cdc.stream('late', batch_size => 100,
	exclude_entities => '{sink}');
SELECT min("timestamp") AS t_upd FROM cdc.stream('late') WHERE operation = 'update' \gset
SELECT commit_lsn AS lsn_upd FROM cdc.stream('late') WHERE operation = 'update' \gset
SELECT cdc.create_consumer('from-time', start => :'t_upd') = :'lsn_upd'::pg_lsn AS starts_at_update;
SELECT operation, entity_id FROM cdc.stream('from-time', exclude_entities => '{sink}');
SELECT cdc.create_consumer('from-lsn', start => :'lsn_upd') = :'lsn_upd'::pg_lsn AS starts_at_update;
SELECT operation, entity_id FROM cdc.stream('from-lsn', exclude_entities => '{sink}');
SELECT cdc.create_consumer('from-now', start => 'now') IS NOT NULL AS created;
SELECT count(*) AS nothing_yet FROM cdc.stream('from-now');
-- from_* address the whole retained log, whatever the consumer's age
SELECT count(*) AS from_beginning FROM cdc.stream('from-now', from_beginning => true,
	entities => '{orders,audit}');
SELECT operation, entity_id FROM cdc.stream('from-now', from_timestamp => :'t_upd', entities => '{orders,audit}');
SELECT operation, entity_id FROM cdc.stream('from-now', from_lsn => :'lsn_upd', entities => '{orders,audit}');
SELECT operation, entity_id FROM cdc.stream('from-now', from_lsn => :'lsn_upd', operations => '{delete}');
-- a long poll with nothing to read returns empty at its timeout
SELECT count(*) AS timed_out FROM cdc.stream('from-now', batch_timeout => '200 ms');

-- bad input: an error with SQLSTATE and hint, and nothing changed
SELECT pg_temp.try($$SELECT * FROM cdc.stream('nobody')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.consume('nobody')$$);
SELECT pg_temp.try($$SELECT cdc.checkpoint('nobody', '0/10', 0)$$);
SELECT pg_temp.try($$SELECT cdc.drop_consumer('nobody')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('bad name!')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', entities => '{NULL}')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', entities => '{""}')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', exclude_entities => ARRAY['bad\'])$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', operations => '{}')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', operations => '{insert,NULL}')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', operations => '{upsert}')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', start => 'yesterday-ish')$$);
-- the same start rules as cdc.create_group (args.c): lower-case 'now' and
-- 'beginning', a time with digits, not in the future
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', start => 'Beginning')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', start => 'today')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', start => '2999-01-01 00:00:00+00')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', start => NULL)$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', start => 'FFFFFFFF/0')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('search', batch_size => 0)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.consume('search', batch_size => -5)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('search', batch_timeout => '-1 s')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('search', entities => '{NULL}')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('search', operations => '{}')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('search', from_beginning => true, from_lsn => '0/1')$$);
-- arrays of more than one dimension, more than 1,000 patterns or a pattern
-- longer than 1,024 bytes, an interval that does not fit in 64 bits of
-- microseconds (read as negative before): refused, nothing made
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', entities => '{{a,b},{c,d}}')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', operations => '{{insert},{delete}}')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', entities => (SELECT array_agg('t' || g) FROM generate_series(1, 1001) g))$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', entities => ARRAY[repeat('a', 1025)])$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('search', batch_timeout => '100000000 years')$$);
SELECT pg_temp.try($$SELECT cdc.wait_for_log(NULL, '100000000 years')$$);
SELECT count(*) AS no_stray_consumers FROM cdc.consumers WHERE name = 'x';
SELECT checkpoint_lsn = :'cp' AND checkpoint_seq = :cps AS search_unchanged FROM cdc.consumers WHERE name = 'search';

SELECT cdc.drop_consumer(name) FROM cdc.consumers ORDER BY name;
DROP TABLE orders, audit, sink;
DROP EXTENSION cdc_ext;
