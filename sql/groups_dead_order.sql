-- Consumer groups, max_deliveries (issue 15 item 12): a change that reaches
-- max_deliveries goes to the dead letters naming the member it was last
-- delivered to (a nack does not erase it), and takes no room in the batch
-- of the read that moves it: the older ready change behind it is leased
-- before anything newer ("oldest first").
\set VERBOSITY terse
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
CREATE TABLE dq (id int PRIMARY KEY);
SELECT cdc.create_group('dq', entities => '{dq}', max_deliveries => 2) IS NOT NULL AS created;
INSERT INTO dq VALUES (1), (2), (3);
BEGIN; INSERT INTO dq VALUES (4); INSERT INTO dq VALUES (5); COMMIT;
INSERT INTO dq VALUES (6);
SELECT pg_temp.logged() AS logged;
SELECT count(cdc.ack('dq', commit_lsn, seq)) AS acked FROM cdc.read_group('dq', 'w', batch_size => 3);
-- w0: 4 (1st delivery), nack
SELECT entity_id, delivery_count FROM cdc.read_group('dq', 'w0', batch_size => 1);
SELECT count(cdc.nack('dq', commit_lsn, seq)) AS nacked FROM cdc.pending('dq');
-- w1: 4 (2nd: the last allowed) and 5, nack both
SELECT entity_id, delivery_count FROM cdc.read_group('dq', 'w1', batch_size => 2);
SELECT count(cdc.nack('dq', commit_lsn, seq)) AS nacked FROM cdc.pending('dq');
-- w2, batch 1: 4 goes to the dead letters, 5 (older than 6) is leased
SELECT entity_id, delivery_count FROM cdc.read_group('dq', 'w2', batch_size => 1);
SELECT entity_id, delivery_count, last_member FROM cdc.dead_letters('dq');
SELECT entity_id, delivery_count FROM cdc.read_group('dq', 'w3', batch_size => 5);
SELECT cdc.drop_group('dq');
DROP TABLE dq;
DROP EXTENSION cdc_ext;
