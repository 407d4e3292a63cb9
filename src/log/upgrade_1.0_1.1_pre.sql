-- cdc_ext 1.0 -> 1.1, first part (generated into cdc_ext--1.0--1.1.sql by
-- the Makefile, before the 1.1 parts and src/log/upgrade_1.0_1.1_post.sql).
--
-- 1.0 consumers each owned a replication slot; 1.1 consumers read the change
-- log.  Their rows are kept (set aside here, moved into the 1.1 table by the
-- post part) and their slots are listed in cdc.log_state.migrate_slots: the
-- log writer copies the slot furthest behind as its own, so the log starts
-- where the slowest consumer was and every consumer continues from its
-- checkpoint, then drops them.

\echo Use "ALTER EXTENSION cdc_ext UPDATE TO '1.1'" to load this file. \quit

DROP VIEW cdc.consumers;
ALTER TABLE cdc.consumer_state RENAME TO consumer_state_1_0;
ALTER INDEX cdc.consumer_state_pkey RENAME TO consumer_state_1_0_pkey;
ALTER INDEX cdc.consumer_state_slot_name_key RENAME TO consumer_state_1_0_slot_name_key;
ALTER TABLE cdc.consumer_state_1_0 ALTER COLUMN operations TYPE text[] USING operations::text[];

DROP FUNCTION cdc.status();
DROP FUNCTION cdc.current_lsn();
DROP FUNCTION cdc.trim(pg_lsn, text);
DROP FUNCTION cdc.checkpoint(text, pg_lsn, integer);
DROP FUNCTION cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval);
DROP FUNCTION cdc.drop_consumer(text);
DROP FUNCTION cdc.create_consumer(text, text[], text[], cdc.operation[]);
DROP TYPE cdc.change_entry;
DROP TYPE cdc.operation;
