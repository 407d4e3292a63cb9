-- The SQL consumer API: consumers, stream, checkpoint, trim, status.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
CREATE TABLE orders (id int PRIMARY KEY, status text);
CREATE TABLE audit (id int PRIMARY KEY);
-- run a statement; show SQLSTATE, message and hint of its error, LSNs masked
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM || coalesce(' HINT: ' || nullif(h, ''), ''),
						  '[0-9A-F]+/[0-9A-F]+', 'X/X', 'g');
END $$;

-- consumers
SELECT cdc.create_consumer('search') IS NOT NULL AS created;
SELECT cdc.create_consumer('audit-only', entities => '{audit}', operations => '{insert}') IS NOT NULL AS created;
SELECT name, owner, entities, operations, checkpoint_seq, gap, active_pid
FROM cdc.consumers ORDER BY name;

INSERT INTO orders VALUES (1, 'new'), (2, 'new'), (3, 'new');
UPDATE orders SET status = 'paid' WHERE id = 2;
DELETE FROM orders WHERE id = 3;
INSERT INTO audit VALUES (10);
DELETE FROM audit;

-- reading never consumes: twice the same
SELECT seq, entity, entity_id, operation, old_data, new_data FROM cdc.stream('search');
SELECT count(*) FROM cdc.stream('search');
-- typed columns
SELECT pg_typeof(lsn), pg_typeof(commit_lsn), pg_typeof(seq), pg_typeof(entity_id),
       pg_typeof(operation), pg_typeof("timestamp")
FROM cdc.stream('search') LIMIT 1;
-- the extension's own tables never show up (checkpoints write to them)
SELECT count(*) AS own_tables FROM cdc.stream('search', from_beginning => true)
WHERE entity LIKE 'cdc.%';
-- stored filters: only audit inserts
SELECT entity, operation, entity_id FROM cdc.stream('audit-only');
-- call filters narrow the consumer's own
SELECT entity, operation, entity_id FROM cdc.stream('search', operations => '{update,delete}');
SELECT entity, operation FROM cdc.stream('search', entities => '{audit}');
SELECT count(*) FROM cdc.stream('search', exclude_entities => '{orders}');
-- batch_size is an exact cap, even inside one transaction
SELECT seq, entity_id FROM cdc.stream('search', batch_size => 2);

-- checkpoint inside a transaction that rolls back changes nothing
BEGIN;
SELECT cdc.checkpoint('search', commit_lsn, seq)
FROM cdc.stream('search', batch_size => 2) ORDER BY commit_lsn DESC, seq DESC LIMIT 1;
ROLLBACK;
SELECT count(*) AS still_all FROM cdc.stream('search');
-- committed checkpoint in the middle of a transaction resumes after it
SELECT cdc.checkpoint('search', commit_lsn, seq)
FROM cdc.stream('search', batch_size => 2) ORDER BY commit_lsn DESC, seq DESC LIMIT 1;
SELECT seq, operation, entity_id FROM cdc.stream('search');
SELECT checkpoint_seq FROM cdc.consumers WHERE name = 'search';
-- backwards is a no-op with a notice
\set VERBOSITY sqlstate
SELECT cdc.checkpoint('search', '0/1', 0);
\set VERBOSITY terse
SELECT checkpoint_seq FROM cdc.consumers WHERE name = 'search';

-- from_lsn / from_beginning / from_timestamp
SELECT count(*) AS from_future FROM cdc.stream('search', from_lsn => cdc.current_lsn());
SELECT count(*) AS from_beginning FROM cdc.stream('search', from_beginning => true);
SELECT count(*) AS from_ts_future FROM cdc.stream('search', from_timestamp => now() + interval '1 hour');

-- long poll: waits for the first change, returns nothing when none comes
SELECT cdc.checkpoint('search', commit_lsn, seq)
FROM cdc.stream('search') ORDER BY commit_lsn DESC, seq DESC LIMIT 1;
SELECT count(*) AS none_within_timeout FROM cdc.stream('search', batch_timeout => '200 ms');

-- status
SELECT enabled, wal_level, consumers, consumers_with_gap, current_lsn >= oldest_lsn AS ordered
FROM cdc.status();
SELECT cdc.current_lsn() <= pg_current_wal_lsn() AS current_lsn_ok;

-- trim: consumers behind get a gap, reported, never an empty result
INSERT INTO orders VALUES (4, 'new');
SELECT consumer, gap, slot_lsn_after > slot_lsn_before AS moved FROM cdc.trim(cdc.current_lsn(), 'search');
SELECT name, gap, gap_reason FROM cdc.consumers WHERE name = 'search';
SELECT pg_temp.try($$SELECT count(*) FROM cdc.stream('search')$$);
-- accepting the gap clears it
SELECT cdc.checkpoint('search', gap_to, 0) FROM cdc.consumer_state WHERE name = 'search';
SELECT name, gap FROM cdc.consumers WHERE name = 'search';
SELECT count(*) FROM cdc.stream('search');

-- a slot advanced behind the API's back is a gap too
INSERT INTO orders VALUES (5, 'new');
SELECT 'advanced' FROM pg_replication_slot_advance(
	(SELECT slot_name FROM cdc.consumers WHERE name = 'search'), pg_current_wal_lsn());
SELECT pg_temp.try($$SELECT count(*) FROM cdc.stream('search')$$);
SELECT gap, gap_reason FROM cdc.consumers WHERE name = 'search';

-- bad input: each with a clear error (SQLSTATE, message, hint)
SELECT q, pg_temp.try(q) FROM (VALUES
	($$SELECT cdc.create_consumer('search')$$),
	($$SELECT cdc.create_consumer('no spaces')$$),
	($$SELECT cdc.create_consumer(repeat('x', 49))$$),
	($$SELECT cdc.create_consumer(NULL)$$),
	($$SELECT cdc.create_consumer('x', entities => '{"bad\\"}')$$),
	($$SELECT cdc.create_consumer('x', entities => ARRAY[NULL])$$),
	($$SELECT cdc.create_consumer('x', operations => ARRAY[NULL]::cdc.operation[])$$),
	($$SELECT cdc.create_consumer('x', operations => '{upsert}')$$),
	($$SELECT * FROM cdc.stream('nope')$$),
	($$SELECT * FROM cdc.stream(NULL)$$),
	($$SELECT * FROM cdc.stream('audit-only', batch_size => 0)$$),
	($$SELECT * FROM cdc.stream('audit-only', batch_timeout => '-1 s')$$),
	($$SELECT * FROM cdc.stream('audit-only', from_lsn => '0/1')$$),
	($$SELECT * FROM cdc.stream('audit-only', entities => '{"x\\"}')$$),
	($$SELECT cdc.checkpoint('audit-only', '0/0', 0)$$),
	($$SELECT cdc.checkpoint('audit-only', '0/1', -1)$$),
	($$SELECT cdc.checkpoint('audit-only', 'FFFFFFFF/0', 0)$$),
	($$SELECT cdc.checkpoint('audit-only', 'not an lsn', 0)$$),
	($$SELECT cdc.checkpoint('nope', '0/1', 0)$$),
	($$SELECT cdc.drop_consumer('nope')$$),
	($$SELECT * FROM cdc.trim(NULL)$$),
	($$SELECT * FROM cdc.trim('0/0')$$)) t(q);
-- a consumer cannot be made after a write, and nothing half-made remains
BEGIN;
INSERT INTO audit VALUES (99);
SELECT pg_temp.try($$SELECT cdc.create_consumer('after-write')$$);
ROLLBACK;
SELECT count(*) AS no_half_made_consumer FROM cdc.consumers WHERE name = 'after-write';

-- drop
SELECT cdc.drop_consumer('search'), cdc.drop_consumer('audit-only');
SELECT count(*) FROM cdc.consumers;
SELECT count(*) AS leftover_slots FROM pg_replication_slots WHERE slot_name LIKE 'cdc\_%';
DROP TABLE orders, audit;
DROP EXTENSION cdc_ext;
