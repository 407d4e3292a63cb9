-- Security at read time (docs/sql-api.md; issue 9 items 1, 2, 3, 5, 6): what a
-- role receives is decided by the current catalog when it reads, for the
-- role that reads: tables it may SELECT, only the columns it may SELECT,
-- nothing of a table whose row-level security applies to it, logical
-- messages only with REPLICATION, superuser or pg_read_all_data.  Withheld
-- tables are named in cdc.consumers; other roles' consumers are off limits;
-- cdc.status() counts only what the caller may see.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
SELECT cdc.set_capture(messages => '{payroll}');
CREATE ROLE cdc_alice;
CREATE ROLE cdc_bob;
CREATE ROLE cdc_carol;
CREATE ROLE cdc_dave;
GRANT USAGE ON SCHEMA cdc TO cdc_alice, cdc_bob, cdc_carol, cdc_dave;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO cdc_alice, cdc_bob, cdc_carol, cdc_dave;
GRANT SELECT ON cdc.consumers TO cdc_alice, cdc_bob, cdc_carol, cdc_dave;
ALTER ROLE cdc_carol REPLICATION;

-- row-level security: each role sees only its own documents
CREATE TABLE docs (id int PRIMARY KEY, owner text, body text);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON docs USING (owner = current_user);
GRANT SELECT ON docs TO cdc_alice, cdc_bob;
-- column privileges: alice may see id and name, not salary
CREATE TABLE people (id int PRIMARY KEY, name text, salary numeric);
GRANT SELECT (id, name) ON people TO cdc_alice;
-- a column grant that leaves out the key: no entity_id
CREATE TABLE notes (k int PRIMARY KEY, note text);
GRANT SELECT (note) ON notes TO cdc_alice;
CREATE TABLE secret (id int PRIMARY KEY, v text);
CREATE TABLE pub (id int PRIMARY KEY, v text);
GRANT SELECT ON pub TO cdc_alice, cdc_bob;

SET ROLE cdc_alice;
SELECT cdc.create_consumer('alice', operations => '{insert,update,delete,truncate,message}') IS NOT NULL AS created;
SELECT cdc.create_consumer('alice-named', entities => '{docs,secret,people}') IS NOT NULL AS created;
RESET ROLE;
SET ROLE cdc_bob;
SELECT cdc.create_consumer('bob') IS NOT NULL AS created;
RESET ROLE;
SET ROLE cdc_carol;
SELECT cdc.create_consumer('carol', operations => '{message}') IS NOT NULL AS created;
RESET ROLE;
SELECT cdc.create_consumer('root', operations => '{insert,update,delete,truncate,message}') IS NOT NULL AS created;

INSERT INTO docs VALUES (1, 'cdc_alice', 'alice''s plan'), (2, 'cdc_bob', 'bob''s plan');
INSERT INTO people VALUES (1, 'Ann', 100000);
UPDATE people SET salary = 200000 WHERE id = 1;
INSERT INTO notes VALUES (7, 'hello');
INSERT INTO secret VALUES (1, 'classified');
INSERT INTO pub VALUES (1, 'public');
SELECT pg_logical_emit_message(true, 'payroll', 'raise for Ann') IS NOT NULL AS emitted;
SELECT pg_temp.logged() AS logged;

SET ROLE cdc_alice;
-- alice's own SELECT shows her document only ...
SELECT id, owner FROM docs;
-- ... so the stream withholds docs (never bob's row); people without salary;
-- notes without entity_id; nothing of secret; no message
SELECT entity, entity_id, operation, old_data, new_data FROM cdc.stream('alice');
SELECT name, withheld FROM cdc.consumers ORDER BY name;
-- other roles' consumers: 42501 for every use, and nothing changes
SELECT pg_temp.try($$SELECT * FROM cdc.stream('bob')$$);
SELECT pg_temp.try($$SELECT * FROM cdc.consume('bob')$$);
SELECT pg_temp.try($$SELECT cdc.checkpoint('bob', '0/10', 0)$$);
SELECT pg_temp.try($$SELECT cdc.drop_consumer('bob')$$);
-- status counts only the consumers alice may see
SELECT consumers, consumers_with_gap FROM cdc.status();
RESET ROLE;
SET ROLE cdc_bob;
SELECT count(*) AS bob_docs FROM cdc.stream('bob') WHERE entity = 'public.docs';
SELECT consumers, consumers_with_gap FROM cdc.status();
RESET ROLE;
SELECT consumers AS all_consumers FROM cdc.status();

-- messages: only REPLICATION roles, superusers and pg_read_all_data
SET ROLE cdc_carol;
SELECT operation, new_data FROM cdc.stream('carol');
RESET ROLE;
SELECT entity, operation, new_data->>'prefix' AS prefix FROM cdc.stream('root') WHERE operation = 'message';
-- call filters narrow messages too (issue 9 item 10)
SELECT count(*) AS messages FROM cdc.stream('root', operations => '{insert}') WHERE operation = 'message';
SELECT count(*) AS messages FROM cdc.stream('carol', operations => '{insert}');
-- pg_read_all_data: every table, messages, but not past row-level security
GRANT pg_read_all_data TO cdc_dave;
SET ROLE cdc_dave;
SELECT cdc.create_consumer('dave', start => 'beginning',
	operations => '{insert,update,delete,truncate,message}') IS NOT NULL AS created;
SELECT entity, operation FROM cdc.stream('dave');
RESET ROLE;

-- privileges are those of the read, not of the change (item 5)
REVOKE SELECT ON pub FROM cdc_alice;
SET ROLE cdc_alice;
SELECT entity FROM cdc.stream('alice') WHERE entity = 'public.pub';
RESET ROLE;
GRANT SELECT ON pub TO cdc_alice;
SET ROLE cdc_alice;
SELECT entity FROM cdc.stream('alice') WHERE entity = 'public.pub';
RESET ROLE;
-- a dropped table: withheld from plain roles, kept for superusers
DROP TABLE pub;
SET ROLE cdc_bob;
SELECT count(*) AS bob_pub FROM cdc.stream('bob') WHERE entity = 'public.pub';
RESET ROLE;
SELECT count(*) AS root_pub FROM cdc.stream('root') WHERE entity = 'public.pub';

-- members of the owning role may use its consumers
GRANT cdc_alice TO cdc_bob;
SET ROLE cdc_bob;
SELECT count(*) > 0 AS member_reads FROM cdc.stream('alice');
SELECT name FROM cdc.consumers ORDER BY name;
RESET ROLE;
REVOKE cdc_alice FROM cdc_bob;

SELECT cdc.drop_consumer(name) FROM cdc.consumers ORDER BY name;
DROP TABLE docs, people, notes, secret;
DROP EXTENSION cdc_ext;
DROP OWNED BY cdc_alice, cdc_bob, cdc_carol, cdc_dave;
DROP ROLE cdc_alice, cdc_bob, cdc_carol, cdc_dave;
