-- The output plugin end to end: one entry per change, each operation.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE TABLE basic (id int PRIMARY KEY, name text, amount numeric);
SELECT 'init' FROM pg_create_logical_replication_slot('basic_slot', 'cdc_ext');
INSERT INTO basic VALUES (1, 'one', 1.50), (2, 'two', NULL);
UPDATE basic SET name = 'uno' WHERE id = 1;
UPDATE basic SET id = 3 WHERE id = 2;
DELETE FROM basic WHERE id = 1;
TRUNCATE basic;
-- strip the run-dependent fields (lsn, xid, timestamp)
SELECT d - 'lsn' - 'commit_lsn' - 'xid' - 'timestamp' AS entry
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('basic_slot', NULL, NULL)) s;
-- the cursor is strictly increasing in (commit_lsn, seq)
SELECT bool_and(ok) AS cursor_increasing FROM (
  SELECT (d->>'commit_lsn')::pg_lsn > lag((d->>'commit_lsn')::pg_lsn) OVER w
      OR ((d->>'commit_lsn')::pg_lsn = lag((d->>'commit_lsn')::pg_lsn) OVER w
          AND (d->>'seq')::int = lag((d->>'seq')::int) OVER w + 1)
      OR lag(d) OVER w IS NULL AS ok
  FROM (SELECT data::jsonb AS d, row_number() OVER () AS n
        FROM pg_logical_slot_peek_changes('basic_slot', NULL, NULL)) s
  WINDOW w AS (ORDER BY n)) c;
SELECT 'drop' FROM pg_drop_replication_slot('basic_slot');
DROP TABLE basic;
