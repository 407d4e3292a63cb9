-- A consumer filtered to a quiet table does not hold WAL while other tables
-- churn: a stream call that finds nothing for it moves its checkpoint (and
-- slot) past what it decoded.  A call narrowed by its own filters does not.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
CREATE TABLE quiet (id int PRIMARY KEY);
CREATE TABLE busy (id int PRIMARY KEY, pad text);
SELECT cdc.create_consumer('quiet-one', entities => '{quiet}') IS NOT NULL AS created;
SELECT cdc.create_consumer('narrowed') IS NOT NULL AS created;
SELECT pg_current_wal_lsn() AS before_churn \gset
INSERT INTO busy SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g;   -- about 1.5 MB of WAL
SELECT pg_current_wal_lsn() AS after_churn \gset
SELECT count(*) AS rows FROM cdc.stream('quiet-one');
-- (the checkpoint is the churn's commit record: its last change done)
SELECT pg_wal_lsn_diff(:'after_churn', checkpoint_lsn) BETWEEN 0 AND 1024 AS checkpoint_at_churn_end,
	   checkpoint_seq, lag_bytes < 65536 AS lag_small, gap
FROM cdc.consumers WHERE name = 'quiet-one';
-- the consumer that wants everything is not moved by a narrowed call
SELECT count(*) AS rows FROM cdc.stream('narrowed', entities => '{quiet}');
SELECT checkpoint_lsn < :'before_churn'::pg_lsn + 65536 AS checkpoint_unmoved, gap
FROM cdc.consumers WHERE name = 'narrowed';
SELECT count(*) AS busy_rows_still_there FROM cdc.stream('narrowed', batch_size => 100000);
-- after the quiet table changes, its consumer gets exactly that
INSERT INTO quiet VALUES (1);
SELECT entity, operation, new_data FROM cdc.stream('quiet-one');
-- the slot follows the committed checkpoint at the next call (slots move
-- outside transactions); its restart_lsn, and so the WAL it holds, follows
-- at the next running-transactions record
SELECT slot_lsn = checkpoint_lsn AS slot_follows
FROM cdc.consumers WHERE name = 'quiet-one';
-- little churn (under 64 kB) leaves the checkpoint where it is
SELECT cdc.checkpoint('quiet-one', commit_lsn, seq) IS NOT NULL AS checkpointed FROM cdc.stream('quiet-one');
SELECT checkpoint_lsn AS cp FROM cdc.consumers WHERE name = 'quiet-one' \gset
INSERT INTO busy VALUES (-1, 'small');
SELECT count(*) AS rows FROM cdc.stream('quiet-one');
SELECT checkpoint_lsn = :'cp' AS unmoved_by_small_churn FROM cdc.consumers WHERE name = 'quiet-one';

-- trim marks a gap only where a consumer loses something it would read: a
-- consumer that has read everything, or whose tables were quiet, keeps no
-- gap and its checkpoint follows the slot; one with unread changes gets one
SELECT cdc.checkpoint('narrowed', commit_lsn, seq)
FROM (SELECT commit_lsn, seq FROM cdc.stream('narrowed', batch_size => 100000)
	  ORDER BY commit_lsn DESC, seq DESC LIMIT 1) s;
SELECT cdc.create_consumer('behind') IS NOT NULL AS created;
INSERT INTO busy VALUES (-2, 'unread by behind and quiet-one is not interested');
SELECT cdc.checkpoint('narrowed', commit_lsn, seq) FROM cdc.stream('narrowed');
SELECT consumer, gap, slot_lsn_after > slot_lsn_before AS slot_moved FROM cdc.trim(cdc.current_lsn()) ORDER BY 1;
SELECT name, gap, gap_reason, checkpoint_lsn = slot_lsn AS checkpoint_follows_slot
FROM cdc.consumers ORDER BY 1;
INSERT INTO quiet VALUES (2);
SELECT entity, new_data FROM cdc.stream('quiet-one');
-- a gap that is already there stays one, even when nothing it would read
-- lies in the trimmed stretch
SELECT 'moved' FROM pg_replication_slot_advance((SELECT slot_name FROM cdc.consumers WHERE name = 'quiet-one'),
	pg_current_wal_lsn());
INSERT INTO busy VALUES (-3, 'not for quiet-one');
SELECT consumer, gap FROM cdc.trim(cdc.current_lsn(), 'quiet-one');
SELECT name, gap FROM cdc.consumers WHERE name IN ('quiet-one', 'behind') ORDER BY 1;
SELECT cdc.drop_consumer('behind');
SELECT cdc.drop_consumer('quiet-one'), cdc.drop_consumer('narrowed');
DROP TABLE quiet, busy;
DROP EXTENSION cdc_ext;
