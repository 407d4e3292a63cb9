-- A NULL where a value is needed (issue 15 item 13): every function of
-- schema cdc says so (22004, the argument's name, a hint) instead of
-- returning nothing, as a STRICT function would (SELECT * FROM
-- cdc.trim(NULL) returned no row and no error).  NULLs that mean
-- something (a default) keep their meaning.
\set VERBOSITY terse
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
-- no function of the extension is STRICT
SELECT p.oid::regprocedure AS strict_function FROM pg_proc p
WHERE p.pronamespace = 'cdc'::regnamespace AND p.proisstrict ORDER BY 1;
SELECT cdc.create_consumer('c') IS NOT NULL AS created;
SELECT cdc.create_group('g') IS NOT NULL AS created;

-- the log
SELECT pg_temp.try($$SELECT * FROM cdc.trim(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.set_retention(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.set_retention(max_bytes => NULL)$$);
SELECT pg_temp.try($$SELECT cdc.set_capture(NULL, NULL, NULL)$$);
SELECT pg_temp.try($$SELECT cdc.wait_for_log(NULL, NULL)$$);
-- consumers
SELECT pg_temp.try($$SELECT cdc.create_consumer(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.create_consumer('x', start => NULL)$$);
SELECT pg_temp.try($$SELECT cdc.drop_consumer(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('c', batch_size => NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.stream('c', from_lsn => NULL, from_timestamp => NULL, entities => NULL, batch_timeout => NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.consume(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.consume('c', batch_size => NULL)$$);
SELECT pg_temp.try($$SELECT cdc.checkpoint(NULL, '0/1', 0)$$);
SELECT pg_temp.try($$SELECT cdc.checkpoint('c', NULL, 0)$$);
SELECT pg_temp.try($$SELECT cdc.checkpoint('c', '0/1', NULL)$$);
-- groups
SELECT pg_temp.try($$SELECT cdc.create_group(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.create_group('x', start => NULL)$$);
SELECT pg_temp.try($$SELECT cdc.create_group('x', max_deliveries => NULL)$$);
SELECT pg_temp.try($$SELECT cdc.drop_group(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.read_group(NULL, 'm')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.read_group('g', NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.read_group('g', 'm', batch_size => NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.read_group('g', 'm', visibility_timeout => NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.read_group('g', 'm', batch_timeout => NULL)$$);
SELECT pg_temp.try($$SELECT cdc.ack(NULL, '0/1'::pg_lsn, 1)$$);
SELECT pg_temp.try($$SELECT cdc.ack('g', NULL::pg_lsn, 1)$$);
SELECT pg_temp.try($$SELECT cdc.ack('g', '0/1'::pg_lsn, NULL)$$);
SELECT pg_temp.try($$SELECT cdc.ack(NULL, '{0/1}'::pg_lsn[], '{1}')$$);
SELECT pg_temp.try($$SELECT cdc.ack('g', NULL::pg_lsn[], '{1}')$$);
SELECT pg_temp.try($$SELECT cdc.ack('g', '{0/1}'::pg_lsn[], NULL::int[])$$);
SELECT pg_temp.try($$SELECT cdc.nack(NULL, '0/1'::pg_lsn, 1)$$);
SELECT pg_temp.try($$SELECT cdc.nack('g', NULL::pg_lsn, 1)$$);
SELECT pg_temp.try($$SELECT cdc.nack('g', '0/1'::pg_lsn, NULL)$$);
SELECT pg_temp.try($$SELECT cdc.nack(NULL, '{0/1}'::pg_lsn[], '{1}')$$);
SELECT pg_temp.try($$SELECT cdc.nack('g', NULL::pg_lsn[], '{1}')$$);
SELECT pg_temp.try($$SELECT cdc.nack('g', '{0/1}'::pg_lsn[], NULL::int[])$$);
SELECT pg_temp.try($$SELECT * FROM cdc.pending(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.pending('g', NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.claim(NULL, 'm', '1 s')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.claim('g', NULL, '1 s')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.claim('g', 'm', NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.claim('g', 'm', '1 s', visibility_timeout => NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.claim('g', 'm', '1 s', batch_size => NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.claim('g', 'm', '1 s', from_member => NULL)$$);
SELECT pg_temp.try($$SELECT * FROM cdc.dead_letters(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.replay_dead_letters(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.replay_dead_letters('g', NULL, NULL)$$);
SELECT pg_temp.try($$SELECT cdc.reset_group(NULL)$$);
SELECT pg_temp.try($$SELECT cdc.reset_group('g', NULL)$$);
-- nothing was made or dropped by any of them
SELECT name FROM cdc.consumers ORDER BY name;
SELECT name FROM cdc.groups ORDER BY name;

SELECT cdc.drop_consumer('c');
SELECT cdc.drop_group('g');
DROP EXTENSION cdc_ext;
