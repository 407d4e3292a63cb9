-- The plugin's bytes for one fixed workload, compared byte for byte with
-- expected/plugin_bytes.out on every major cdc_ext runs on (15, 17, 18):
-- key order, spacing, number and string formatting, escapes, TOAST and
-- message entries.  Only what a run decides is replaced before printing:
-- lsn, commit_lsn, xid and timestamp (their shape is checked).  The data
-- column is printed as text, never through jsonb (which would normalise it).
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE TYPE bytes_mood AS ENUM ('sad', 'it''s "fine"');
CREATE TABLE bytes_t (
	id int PRIMARY KEY, n numeric, f8 float8, f4 float4, i8 int8, b bool, t text,
	by bytea, ts timestamptz, d date, iv interval, j json, jb jsonb, a int[],
	at text[], e bytes_mood, r int4range, big text);
ALTER TABLE bytes_t ALTER big SET STORAGE EXTERNAL;
CREATE TABLE bytes_full (k text, v int);
ALTER TABLE bytes_full REPLICA IDENTITY FULL;
SELECT 'init' FROM pg_create_logical_replication_slot('bytes_slot', 'cdc_ext');
BEGIN;
INSERT INTO bytes_t VALUES
 (1, 12345678901234567890.125, 0.1, 1.5, 9007199254740993, true,
  E'q" b\\ s/ nl\n tab\t bell\007 \u2028 \U0001F600 é', '\x00ff22', '2026-01-02 03:04:05.678901+02',
  '2026-01-02', '1 day 02:03:04.5', '{"k": [1, 2.5],  "k": 2}', '{"z": null, "a": {"b": true}}',
  '{1,NULL,3}', '{"a,b",NULL,"\""}', 'it''s "fine"', '[1,5)', repeat('x', 3000)),
 (2, 'NaN', 'Infinity', '-Infinity', -1, false, '', '\x', 'infinity', 'infinity',
  '-1 day', 'null', '[]', '{}', '{}', 'sad', 'empty', NULL);
SELECT 'message' FROM pg_logical_emit_message(true, 'bytes', 'text payload "quoted"');
SELECT 'message' FROM pg_logical_emit_message(true, 'bytes', '\xc328ff'::bytea);
COMMIT;
UPDATE bytes_t SET n = 1 WHERE id = 1;
UPDATE bytes_t SET id = 3 WHERE id = 2;
INSERT INTO bytes_full VALUES ('a', 1);
UPDATE bytes_full SET v = 2;
DELETE FROM bytes_full;
DELETE FROM bytes_t WHERE id = 3;
TRUNCATE bytes_t, bytes_full;
-- the run-dependent fields have their shape
SELECT count(*) AS entries,
       bool_and(data ~ '"lsn":"[0-9A-F]+/[0-9A-F]+"') AS lsn_shaped,
       bool_and(data !~ '"commit_lsn"' OR data ~ '"commit_lsn":"[0-9A-F]+/[0-9A-F]+"') AS commit_lsn_shaped,
       bool_and(data !~ '"xid"' OR data ~ '"xid":[0-9]+[,}]') AS xid_shaped,
       bool_and(data !~ '"timestamp"' OR data ~ '"timestamp":[0-9]+[,}]') AS timestamp_shaped
FROM pg_logical_slot_peek_changes('bytes_slot', NULL, NULL,
	'messages', 'bytes', 'transactions', 'true');
-- the bytes, with those fields replaced (unaligned: no padding added)
\pset format unaligned
SELECT regexp_replace(regexp_replace(regexp_replace(data,
         '"(lsn|commit_lsn)":"[0-9A-F]+/[0-9A-F]+"', '"\1":"L"', 'g'),
         '"xid":[0-9]+', '"xid":X', 'g'),
         '"timestamp":[0-9]+', '"timestamp":T', 'g') AS data
FROM pg_logical_slot_peek_changes('bytes_slot', NULL, NULL,
	'messages', 'bytes', 'transactions', 'true');
\pset format aligned
SELECT 'drop' FROM pg_drop_replication_slot('bytes_slot');
DROP TABLE bytes_t, bytes_full;
DROP TYPE bytes_mood;
