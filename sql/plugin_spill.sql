-- Large transactions with logical_decoding_work_mem at its minimum: spilled
-- to disk and read back whole, in order, with subtransactions and TOAST, and
-- a million rows decoded without the backend's memory growing with them.
\set VERBOSITY terse
SET logical_decoding_work_mem = '64kB';
CREATE TABLE spill (id int PRIMARY KEY, v text, body text);
ALTER TABLE spill ALTER body SET STORAGE EXTERNAL;
SELECT 'init' FROM pg_create_logical_replication_slot('spill_slot', 'cdc_ext');

BEGIN;
INSERT INTO spill SELECT g, 'row ' || g FROM generate_series(1, 10000) g;
SAVEPOINT a;
UPDATE spill SET v = v || ' updated' WHERE id % 2 = 0;
SAVEPOINT b;
DELETE FROM spill WHERE id > 9000;          -- rolled back below
ROLLBACK TO b;
INSERT INTO spill SELECT g, 'toast', (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 100) i)
	FROM generate_series(10001, 10020) g;
RELEASE a;
DELETE FROM spill WHERE id <= 100;
COMMIT;
CREATE TEMP TABLE out AS
	SELECT row_number() OVER () AS n, data::jsonb AS d
	FROM pg_logical_slot_peek_changes('spill_slot', NULL, NULL);
SELECT spill_txns > 0 AS spilled FROM pg_stat_replication_slots WHERE slot_name = 'spill_slot';
SELECT d->>'operation' AS op, count(*), min((d->>'seq')::int) AS min_seq, max((d->>'seq')::int) AS max_seq
FROM out GROUP BY 1 ORDER BY min(n);
SELECT count(DISTINCT d->>'commit_lsn') AS transactions,
	   bool_and((d->>'seq')::int = n) AS seq_is_position,
	   count(*) FILTER (WHERE d->>'operation' = 'update' AND d->'new_data'->>'v' NOT LIKE '% updated') AS bad_updates,
	   count(*) FILTER (WHERE length(d->'new_data'->>'body') = 3200) AS toast_rows,
	   sum((d->'new_data'->>'id')::int) FILTER (WHERE d->>'operation' = 'insert') AS inserted_id_sum
FROM out;
-- the spilled transaction reads the same twice
SELECT count(*) AS differing FROM out o
JOIN (SELECT row_number() OVER () AS n, data::jsonb AS d FROM pg_logical_slot_peek_changes('spill_slot', NULL, NULL)) again
	USING (n)
WHERE o.d IS DISTINCT FROM again.d;
SELECT count(*) AS consumed FROM pg_logical_slot_get_changes('spill_slot', NULL, NULL);

-- one million rows in one transaction: the decoding backend's peak memory
-- (VmHWM, measured in a fresh backend) grows by less than 64 MB
CREATE TABLE million (id int, v text);
INSERT INTO million SELECT g, 'value ' || g FROM generate_series(1, 1000000) g;
CREATE FUNCTION peak_kb() RETURNS bigint LANGUAGE sql AS $$
	SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s*(\d+)')::bigint $$;
\c
SET logical_decoding_work_mem = '64kB';
SELECT peak_kb() AS before \gset
SELECT count(*) AS decoded, max((data::jsonb->>'seq')::int) AS last_seq
FROM pg_logical_slot_get_changes('spill_slot', NULL, NULL, 'entities', 'million');
SELECT peak_kb() - :before < 64 * 1024 AS peak_growth_under_64mb;

-- twenty thousand small transactions: nothing accumulates per transaction
DO $$ BEGIN
	FOR i IN 1..20000 LOOP
		INSERT INTO million VALUES (i, 'small');
		COMMIT;
	END LOOP;
END $$;
\c
SET logical_decoding_work_mem = '64kB';
SELECT peak_kb() AS before \gset
SELECT count(*) AS decoded, count(DISTINCT data::jsonb->>'commit_lsn') AS transactions
FROM pg_logical_slot_get_changes('spill_slot', NULL, NULL, 'transactions', 'true');
SELECT peak_kb() - :before < 32 * 1024 AS peak_growth_under_32mb;

SELECT 'drop' FROM pg_drop_replication_slot('spill_slot');
DROP TABLE spill, million;
DROP FUNCTION peak_kb;
