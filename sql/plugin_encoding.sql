-- Text in any server encoding (docs/plugin.md: every entry is valid JSON that
-- reads back as stored).  U+2028/U+2029 are escaped (\u2028) only where the
-- database encoding is UTF-8; elsewhere the bytes E2 80 A8 / E2 80 A9 are
-- other characters (LATIN1: a-circumflex, U+0080, diaeresis; SQL_ASCII: plain
-- bytes) and must come out unchanged: a \u2028 would not even convert back.
-- One database per encoding, with a table, a column and a value holding the
-- sample bytes; everything printed is ASCII.
\set VERBOSITY terse
SELECT current_database() AS regress_db \gset
CREATE DATABASE cdc_enc_utf8 TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE cdc_enc_latin1 TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE cdc_enc_sql_ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE cdc_enc_euc_jp TEMPLATE template0 ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C';

-- UTF-8: the separators are escaped, and read back as the same characters
\c cdc_enc_utf8
\set VERBOSITY terse
SELECT getdatabaseencoding();
CREATE TABLE sample AS SELECT convert_from('\xe280a8e280a9'::bytea, getdatabaseencoding()) AS s;
DO $$
DECLARE s text := (SELECT s FROM sample);
BEGIN
	EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, %I text)', 'tab' || s, 'col' || s);
END $$;
SELECT 'init' FROM pg_create_logical_replication_slot('enc_utf8', 'cdc_ext');
DO $$
DECLARE s text := (SELECT s FROM sample);
BEGIN
	EXECUTE format('INSERT INTO %I VALUES (1, %L)', 'tab' || s, 'a' || s || 'b');
END $$;
SELECT position(s IN data) > 0 AS bytes_unchanged,
	   position('\u2028' IN data) > 0 AS escaped_2028,
	   position('\u2029' IN data) > 0 AS escaped_2029,
	   data::json->'new_data'->>('col' || s) = 'a' || s || 'b' AS value_reads_back,
	   data::json->>'entity' = format('public.%I', 'tab' || s) AS entity_reads_back,
	   encode(convert_to(substring(data FROM '"col[^"]*":"[^"]*"'), getdatabaseencoding()), 'hex') AS written
FROM pg_logical_slot_peek_changes('enc_utf8', NULL, NULL), sample;
SELECT 'drop' FROM pg_drop_replication_slot('enc_utf8');

-- LATIN1: the same bytes are three characters, copied as they are
\c cdc_enc_latin1
\set VERBOSITY terse
SELECT getdatabaseencoding();
CREATE TABLE sample AS SELECT convert_from('\xe280a8e280a9'::bytea, getdatabaseencoding()) AS s;
DO $$
DECLARE s text := (SELECT s FROM sample);
BEGIN
	EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, %I text)', 'tab' || s, 'col' || s);
END $$;
SELECT 'init' FROM pg_create_logical_replication_slot('enc_latin1', 'cdc_ext');
DO $$
DECLARE s text := (SELECT s FROM sample);
BEGIN
	EXECUTE format('INSERT INTO %I VALUES (1, %L)', 'tab' || s, 'a' || s || 'b');
END $$;
SELECT position(s IN data) > 0 AS bytes_unchanged,
	   position('\u2028' IN data) > 0 AS escaped_2028,
	   position('\u2029' IN data) > 0 AS escaped_2029,
	   data::json->'new_data'->>('col' || s) = 'a' || s || 'b' AS value_reads_back,
	   data::json->>'entity' = format('public.%I', 'tab' || s) AS entity_reads_back,
	   encode(convert_to(substring(data FROM '"col[^"]*":"[^"]*"'), getdatabaseencoding()), 'hex') AS written
FROM pg_logical_slot_peek_changes('enc_latin1', NULL, NULL), sample;
SELECT 'drop' FROM pg_drop_replication_slot('enc_latin1');

-- SQL_ASCII: bytes, copied as they are
\c cdc_enc_sql_ascii
\set VERBOSITY terse
SELECT getdatabaseencoding();
CREATE TABLE sample AS SELECT convert_from('\xe280a8e280a9'::bytea, getdatabaseencoding()) AS s;
DO $$
DECLARE s text := (SELECT s FROM sample);
BEGIN
	EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, %I text)', 'tab' || s, 'col' || s);
END $$;
SELECT 'init' FROM pg_create_logical_replication_slot('enc_sql_ascii', 'cdc_ext');
DO $$
DECLARE s text := (SELECT s FROM sample);
BEGIN
	EXECUTE format('INSERT INTO %I VALUES (1, %L)', 'tab' || s, 'a' || s || 'b');
END $$;
SELECT position(s IN data) > 0 AS bytes_unchanged,
	   position('\u2028' IN data) > 0 AS escaped_2028,
	   position('\u2029' IN data) > 0 AS escaped_2029,
	   data::json->'new_data'->>('col' || s) = 'a' || s || 'b' AS value_reads_back,
	   data::json->>'entity' = format('public.%I', 'tab' || s) AS entity_reads_back,
	   encode(convert_to(substring(data FROM '"col[^"]*":"[^"]*"'), getdatabaseencoding()), 'hex') AS written
FROM pg_logical_slot_peek_changes('enc_sql_ascii', NULL, NULL), sample;
SELECT 'drop' FROM pg_drop_replication_slot('enc_sql_ascii');

-- EUC_JP: multibyte characters (one with lead byte E2), copied as they are
\c cdc_enc_euc_jp
\set VERBOSITY terse
SELECT getdatabaseencoding();
CREATE TABLE sample AS SELECT convert_from('\xa4a2e2a18ea1'::bytea, getdatabaseencoding()) AS s;
DO $$
DECLARE s text := (SELECT s FROM sample);
BEGIN
	EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, %I text)', 'tab' || s, 'col' || s);
END $$;
SELECT 'init' FROM pg_create_logical_replication_slot('enc_euc_jp', 'cdc_ext');
DO $$
DECLARE s text := (SELECT s FROM sample);
BEGIN
	EXECUTE format('INSERT INTO %I VALUES (1, %L)', 'tab' || s, 'a' || s || 'b');
END $$;
SELECT position(s IN data) > 0 AS bytes_unchanged,
	   position('\u2028' IN data) > 0 AS escaped_2028,
	   position('\u2029' IN data) > 0 AS escaped_2029,
	   data::json->'new_data'->>('col' || s) = 'a' || s || 'b' AS value_reads_back,
	   data::json->>'entity' = format('public.%I', 'tab' || s) AS entity_reads_back,
	   encode(convert_to(substring(data FROM '"col[^"]*":"[^"]*"'), getdatabaseencoding()), 'hex') AS written
FROM pg_logical_slot_peek_changes('enc_euc_jp', NULL, NULL), sample;
SELECT 'drop' FROM pg_drop_replication_slot('enc_euc_jp');

\c :regress_db
\set VERBOSITY terse
DROP DATABASE cdc_enc_utf8;
DROP DATABASE cdc_enc_latin1;
DROP DATABASE cdc_enc_sql_ascii;
DROP DATABASE cdc_enc_euc_jp;
