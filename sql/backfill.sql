-- Backfill (issue 18; docs/backfill.md): a consumer or group receives the
-- current rows of its tables as entries with operation read, converted by
-- the same code as changes (equal to to_jsonb of the row), keyed as changes
-- are (primary key, replica identity index, several columns), for every
-- table shape (partitions, TOAST); tables without a key are skipped and
-- said so; the owner's privileges apply at read time; nobody else receives
-- them; every bad input is an error that changes nothing.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
-- wait until backfill bid has ended; its tables and states
CREATE FUNCTION pg_temp.wait_backfill(bid bigint) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	busy boolean;
BEGIN
	FOR i IN 1..1200 LOOP
		SELECT bool_or(state IN ('pending', 'running')) INTO busy FROM cdc.backfills WHERE id = bid;
		EXIT WHEN NOT busy;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN QUERY SELECT entity || ' ' || state || ' ' || rows_done || coalesce(' ' || error, '')
		FROM cdc.backfills WHERE id = bid ORDER BY entity;
END $$;

CREATE TABLE bf_plain (id int PRIMARY KEY, v text, n numeric, f float8, j jsonb, ts timestamptz,
                       b bytea, arr int[], big bigint);
INSERT INTO bf_plain VALUES
	(1, 'one', 1.50, 'NaN', '{"a": [1, 2]}', '2026-01-31 12:00:00+05', '\x00ff', '{1,2}', 9007199254740993),
	(2, E'tab\there "quoted" \u2028', NULL, '-Infinity', 'null', NULL, '', '{}', -1),
	(3, NULL, 1e-30, 0.1, '"x"', 'infinity', NULL, NULL, NULL);
CREATE TABLE bf_comp (a int, b text, v text, PRIMARY KEY (a, b));
INSERT INTO bf_comp VALUES (1, 'x', 'first'), (1, 'y', 'second'), (2, 'x', 'third');
CREATE TABLE bf_ri (x int NOT NULL, y int, v text);
CREATE UNIQUE INDEX bf_ri_x ON bf_ri (x);
ALTER TABLE bf_ri REPLICA IDENTITY USING INDEX bf_ri_x;
INSERT INTO bf_ri VALUES (10, 1, 'ten'), (20, 2, 'twenty');
CREATE TABLE bf_nokey (v text);
INSERT INTO bf_nokey VALUES ('lost');
CREATE TABLE bf_part (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE bf_part_eu PARTITION OF bf_part FOR VALUES IN ('eu');
CREATE TABLE bf_part_us PARTITION OF bf_part FOR VALUES IN ('us');
INSERT INTO bf_part VALUES (1, 'eu', 'paris'), (2, 'us', 'austin'), (3, 'eu', 'rome');
-- a value stored out of line (TOAST), not compressible
CREATE TABLE bf_toast (id int PRIMARY KEY, big text);
INSERT INTO bf_toast SELECT 1, string_agg(md5(g::text), '') FROM generate_series(1, 40000) g;
CREATE UNLOGGED TABLE bf_unlogged (id int PRIMARY KEY);
INSERT INTO bf_unlogged VALUES (1);

-- a consumer made before: it never asks, it never receives a read entry
SELECT cdc.create_consumer('bf_none', entities => '{bf_*}') IS NOT NULL AS created;
SELECT cdc.create_consumer('bf_all', entities => '{bf_*}', start => 'snapshot') IS NOT NULL AS created;
SELECT pg_temp.wait_backfill(max(id)) FROM cdc.backfills WHERE consumer = 'bf_all';

-- every row, keyed as a change is, in key order per table
SELECT entity, operation, entity_id, old_data
FROM cdc.stream('bf_all', batch_size => 1000) WHERE entity <> 'public.bf_toast';
-- exactly as the stream writes a row: to_jsonb under the default settings
SELECT s.entity, count(*), bool_and(s.new_data = to_jsonb(p)) AS same
FROM cdc.stream('bf_all', batch_size => 1000) s JOIN bf_plain p ON p.id = (s.entity_id)::int
WHERE s.entity = 'public.bf_plain' GROUP BY 1;
SELECT new_data -> 'big' FROM cdc.stream('bf_all', batch_size => 1000) WHERE entity = 'public.bf_plain'
AND entity_id = '1';
SELECT s.entity, length(s.new_data ->> 'big'), s.new_data ->> 'big' = t.big AS whole, s.unchanged_toast
FROM cdc.stream('bf_all', batch_size => 1000) s JOIN bf_toast t ON s.entity_id = to_jsonb(t.id)
WHERE s.entity = 'public.bf_toast';
-- the consumer that did not ask
SELECT count(*) FILTER (WHERE operation = 'read') AS reads FROM cdc.stream('bf_none', batch_size => 1000);
SELECT count(*) AS reads FROM cdc.stream('bf_none', from_beginning => true, batch_size => 100000)
WHERE operation = 'read';

-- after the backfill, the changes follow, in cursor order
INSERT INTO bf_comp VALUES (3, 'z', 'after');
SELECT pg_temp.logged();
SELECT operation, entity, entity_id FROM cdc.consume('bf_all', batch_size => 1000)
WHERE entity IN ('public.bf_comp') ORDER BY commit_lsn, seq;
SELECT count(*) AS left FROM cdc.stream('bf_all', batch_size => 1000);

-- cdc.backfill() for an existing consumer, narrowed by entities
SELECT cdc.backfill('bf_none', entities => '{bf_comp,bf_part_*}') IS NOT NULL AS asked;
SELECT pg_temp.wait_backfill(max(id)) FROM cdc.backfills WHERE consumer = 'bf_none';
SELECT operation, entity, entity_id FROM cdc.stream('bf_none', batch_size => 1000) WHERE operation = 'read';
SELECT count(*) AS reads FROM cdc.stream('bf_all', batch_size => 1000) WHERE operation = 'read';

-- a group: its own read entries, leased like changes
SELECT cdc.create_group('bf_g', entities => '{bf_comp}', start => 'snapshot') IS NOT NULL AS created;
SELECT pg_temp.wait_backfill(max(id)) FROM cdc.backfills WHERE consumer = 'bf_g';
SELECT operation, entity_id, new_data FROM cdc.read_group('bf_g', 'm1', 100) ORDER BY commit_lsn, seq;
SELECT count(*) AS reads FROM cdc.stream('bf_none', batch_size => 1000)
WHERE operation = 'read' AND entity = 'public.bf_comp';

-- cancelled in the transaction that asked: never read
BEGIN;
SELECT cdc.backfill('bf_none', '{bf_ri}') AS bid \gset
SELECT cdc.cancel_backfill(:bid) AS stopped;
COMMIT;
SELECT pg_temp.wait_backfill(:bid);
SELECT cdc.cancel_backfill(:bid) AS stopped_again;

-- privileges: the owner's, at read time
CREATE ROLE bf_app;
GRANT USAGE ON SCHEMA cdc TO bf_app;
GRANT EXECUTE ON FUNCTION cdc.create_consumer(text, text[], text[], cdc.operation[], text),
	cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval, boolean),
	cdc.backfill(text, text[]), cdc.cancel_backfill(bigint), cdc.backfill_info() TO bf_app;
GRANT EXECUTE ON FUNCTION cdc.consumer_info() TO bf_app;
GRANT SELECT ON cdc.consumers, cdc.backfills TO bf_app;
SELECT max(id) AS all_bid FROM cdc.backfills WHERE consumer = 'bf_all' \gset
GRANT SELECT (id, v) ON bf_plain TO bf_app;
CREATE TABLE bf_rls (id int PRIMARY KEY, owner text);
INSERT INTO bf_rls VALUES (1, 'bf_app'), (2, 'someone');
ALTER TABLE bf_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON bf_rls USING (owner = current_user);
GRANT SELECT ON bf_rls TO bf_app;
SET ROLE bf_app;
SELECT cdc.create_consumer('bf_app_c', entities => '{bf_*}', start => 'snapshot') IS NOT NULL AS created;
RESET ROLE;
SELECT pg_temp.wait_backfill(max(id)) FROM cdc.backfills WHERE consumer = 'bf_app_c';
SET ROLE bf_app;
-- its own backfill only; only the columns it may see; the RLS table withheld
SELECT consumer, entity, state FROM cdc.backfills ORDER BY id, entity;
SELECT operation, entity, entity_id, new_data FROM cdc.stream('bf_app_c', batch_size => 1000);
SELECT withheld FROM cdc.consumers WHERE name = 'bf_app_c';
-- another role's consumer and backfill: off limits, not even named
SELECT pg_temp.try($$SELECT cdc.backfill('bf_all')$$);
SELECT pg_temp.try(format('SELECT cdc.cancel_backfill(%s)', :all_bid));
RESET ROLE;

-- bad input: SQLSTATE, message, hint; nothing changes
SELECT count(*) AS requests_before FROM cdc.backfill_request \gset
SELECT pg_temp.try($$SELECT cdc.backfill('nope')$$);
SELECT pg_temp.try($$SELECT cdc.backfill(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.backfill('bad name!')$$);
SELECT pg_temp.try($$SELECT cdc.backfill('bf_all', '{no_such_table}')$$);
SELECT pg_temp.try($$SELECT cdc.backfill('bf_all', '{}')$$);
SELECT pg_temp.try($$SELECT cdc.backfill('bf_all', '{"bad\\"}')$$);
SELECT pg_temp.try($$SELECT cdc.cancel_backfill(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.cancel_backfill(999999)$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('bf_bad', operations => '{read}')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('bf_all', operations => '{insert,read}')$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('bf_bad', start => 'Snapshot')$$);
SELECT pg_temp.try($$SELECT cdc.reset_group('bf_g', 'snapshot')$$);
SELECT count(*) = :requests_before AS unchanged FROM cdc.backfill_request;
SELECT count(*) AS bad_consumers FROM cdc.consumers WHERE name = 'bf_bad';

SELECT cdc.drop_group('bf_g');
SELECT count(cdc.drop_consumer(name)) AS dropped FROM cdc.consumers;
DROP TABLE bf_plain, bf_comp, bf_ri, bf_nokey, bf_part, bf_toast, bf_unlogged, bf_rls;
DROP EXTENSION cdc_ext;
DROP OWNED BY bf_app;
DROP ROLE bf_app;
