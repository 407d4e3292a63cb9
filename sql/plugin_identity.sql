-- entity_id and old_data under every REPLICA IDENTITY, key changes, tables
-- without a key, and unchanged TOASTed columns (never a placeholder).
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE TABLE ri_default (id int PRIMARY KEY, v text);
CREATE TABLE ri_composite (a int, b text, v text, PRIMARY KEY (b, a));
CREATE TABLE ri_index (id int PRIMARY KEY, code text NOT NULL, v text);
CREATE UNIQUE INDEX ri_index_code ON ri_index (code);
ALTER TABLE ri_index REPLICA IDENTITY USING INDEX ri_index_code;
CREATE TABLE ri_index_nopk (code text NOT NULL, v text);
CREATE UNIQUE INDEX ri_index_nopk_code ON ri_index_nopk (code);
ALTER TABLE ri_index_nopk REPLICA IDENTITY USING INDEX ri_index_nopk_code;
CREATE TABLE ri_full (id int PRIMARY KEY, v text, w int);
ALTER TABLE ri_full REPLICA IDENTITY FULL;
CREATE TABLE ri_full_nokey (v text, w int);
ALTER TABLE ri_full_nokey REPLICA IDENTITY FULL;
CREATE TABLE ri_nothing (id int PRIMARY KEY, v text);
ALTER TABLE ri_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE no_key (v text);
SELECT 'init' FROM pg_create_logical_replication_slot('ri_slot', 'cdc_ext');

INSERT INTO ri_default VALUES (1, 'a');
UPDATE ri_default SET v = 'b' WHERE id = 1;          -- key unchanged: no old_data
UPDATE ri_default SET id = 2 WHERE id = 1;           -- key changed: old key
DELETE FROM ri_default WHERE id = 2;
INSERT INTO ri_composite VALUES (1, 'x', 'a');
UPDATE ri_composite SET a = 2 WHERE a = 1;
DELETE FROM ri_composite;
INSERT INTO ri_index VALUES (1, 'c1', 'a');
UPDATE ri_index SET v = 'b';                         -- identity index unchanged
UPDATE ri_index SET code = 'c2';                     -- identity index changed
DELETE FROM ri_index;                                -- only the index columns in the WAL
INSERT INTO ri_index_nopk VALUES ('k1', 'a');
UPDATE ri_index_nopk SET code = 'k2';
DELETE FROM ri_index_nopk;
INSERT INTO ri_full VALUES (1, 'a', 10);
UPDATE ri_full SET w = 11;
UPDATE ri_full SET id = 2;
DELETE FROM ri_full;
INSERT INTO ri_full_nokey VALUES ('a', 1);
UPDATE ri_full_nokey SET w = 2;
DELETE FROM ri_full_nokey;
INSERT INTO ri_nothing VALUES (1, 'a');
UPDATE ri_nothing SET v = 'b';
DELETE FROM ri_nothing;
INSERT INTO no_key VALUES ('a');
UPDATE no_key SET v = 'b';
DELETE FROM no_key;

SELECT d->>'entity' AS entity, d->>'operation' AS op, d->'entity_id' AS entity_id,
	   d->'old_data' AS old_data, d->'new_data' AS new_data
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_get_changes('ri_slot', NULL, NULL)) s;

-- Unchanged TOAST: values large and random enough to be stored out of line
CREATE TABLE toasty (id int PRIMARY KEY, small int, body text, doc jsonb);
ALTER TABLE toasty ALTER body SET STORAGE EXTERNAL;
CREATE TABLE toasty_full (id int PRIMARY KEY, small int, body text);
ALTER TABLE toasty_full ALTER body SET STORAGE EXTERNAL;
ALTER TABLE toasty_full REPLICA IDENTITY FULL;
INSERT INTO toasty SELECT 1, 1, repeat('0123456789', 1000), jsonb_build_object('big', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 300) g));
INSERT INTO toasty_full SELECT 1, 1, repeat('abcdefghij', 1000);
SELECT pg_column_size(body) > 9000 AS body_out_of_line, pg_column_size(doc) > 2000 AS doc_out_of_line
FROM toasty;
-- inserts carry the whole value
SELECT data::jsonb->>'entity' AS entity, length(data::jsonb->'new_data'->>'body') AS body_len
FROM pg_logical_slot_get_changes('ri_slot', NULL, NULL);
UPDATE toasty SET small = 2;                       -- body, doc untouched
UPDATE toasty SET small = 3, body = body || '!';   -- body rewritten, doc untouched
UPDATE toasty_full SET small = 2;                  -- FULL: the value comes from the old row
DELETE FROM toasty;
DELETE FROM toasty_full;
SELECT d->>'entity' AS entity, d->>'operation' AS op,
	   (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(nullif(d->'new_data', 'null')) k) AS new_keys,
	   length(d->'new_data'->>'body') AS body_len, length(d->'new_data'->'doc'->>'big') AS doc_len,
	   d->'unchanged_toast' AS unchanged_toast, d ? 'unchanged_toast' AS has_field,
	   length(d->'old_data'->>'body') AS old_body_len
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('ri_slot', NULL, NULL)) s;
-- nothing anywhere looks like a placeholder
SELECT count(*) AS placeholders FROM pg_logical_slot_peek_changes('ri_slot', NULL, NULL)
WHERE data LIKE '%unchanged-toast-datum%' OR data LIKE '%toast%datum%';

SELECT 'drop' FROM pg_drop_replication_slot('ri_slot');
DROP TABLE ri_default, ri_composite, ri_index, ri_index_nopk, ri_full, ri_full_nokey, ri_nothing,
	no_key, toasty, toasty_full;
