-- cdc_ext 1.0 -> 1.1, last part: the 1.0 consumers, with their positions,
-- become 1.1 consumers; their slots wait for the log writer (see the first part).
INSERT INTO cdc.consumer_state (name, owner, entities, exclude_entities, operations,
								checkpoint_lsn, checkpoint_seq, checkpoint_at, created_at,
								gap_from, gap_to, gap_reason)
SELECT name, owner, entities, exclude_entities, operations::cdc.operation[],
	   checkpoint_lsn, checkpoint_seq, checkpoint_at, created_at,
	   gap_from, gap_to, gap_reason
FROM cdc.consumer_state_1_0;
UPDATE cdc.log_state
SET migrate_slots = (SELECT pg_catalog.array_agg(slot_name) FROM cdc.consumer_state_1_0);
DROP TABLE cdc.consumer_state_1_0;

-- the writer may have been asked before the consumers were here: ask again
SELECT cdc.start_writer();
