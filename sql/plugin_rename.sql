-- Entity names and filter decisions follow DDL met in the middle of one
-- decoding session (docs/plugin.md: decided once per relation, invalidated on
-- DDL): ALTER SCHEMA ... RENAME, and, for a composite column, ALTER TYPE ...
-- RENAME ATTRIBUTE.  Each peek below covers changes before and after.
\set VERBOSITY terse
CREATE SCHEMA s;
CREATE TABLE s.t (id int PRIMARY KEY);
CREATE TYPE s.pt AS (x int, y int);
CREATE TABLE s.u (id int PRIMARY KEY, p s.pt);
SELECT 'init' FROM pg_create_logical_replication_slot('rename_slot', 'cdc_ext');
INSERT INTO s.t VALUES (1);
INSERT INTO s.u VALUES (1, ROW(1, 2));
ALTER SCHEMA s RENAME TO s2;
INSERT INTO s2.t VALUES (2);
INSERT INTO s2.u VALUES (2, ROW(3, 4));
ALTER TYPE s2.pt RENAME ATTRIBUTE x TO xx;
INSERT INTO s2.u VALUES (3, ROW(5, 6));
ALTER SCHEMA s2 RENAME TO s;
INSERT INTO s.t VALUES (4);
SELECT data::jsonb->>'entity' AS entity, data::jsonb->'new_data' AS new_data
FROM pg_logical_slot_peek_changes('rename_slot', NULL, NULL);
SELECT data::jsonb->>'entity' AS entity, data::jsonb->'new_data' AS new_data
FROM pg_logical_slot_peek_changes('rename_slot', NULL, NULL, 'entities', 's.*');
SELECT data::jsonb->>'entity' AS entity, data::jsonb->'new_data' AS new_data
FROM pg_logical_slot_peek_changes('rename_slot', NULL, NULL, 'entities', 's2.*');
SELECT data::jsonb->>'entity' AS entity, data::jsonb->'new_data' AS new_data
FROM pg_logical_slot_peek_changes('rename_slot', NULL, NULL, 'exclude_entities', 's2.*');
SELECT 'drop' FROM pg_drop_replication_slot('rename_slot');
DROP SCHEMA s CASCADE;
