-- Read-time privileges that leaked, side channels, and the namespaces a role
-- shares (issue 15 items 4, 10, 15, 16), each as a role with exactly
-- README's grants: what a direct SELECT refuses, the stream refuses too.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
CREATE ROLE cdc_mallory;
CREATE ROLE cdc_app;
GRANT USAGE ON SCHEMA cdc TO cdc_mallory, cdc_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO cdc_mallory, cdc_app;
GRANT SELECT ON cdc.consumers TO cdc_mallory, cdc_app;

-- 4a: the key of REPLICA IDENTITY USING INDEX is entity_id; the PK's
-- columns are granted, the email is not
CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE NOT NULL, name text);
ALTER TABLE users REPLICA IDENTITY USING INDEX users_email_key;
GRANT SELECT (id, name) ON users TO cdc_mallory;
-- 4b: SELECT on a table in a schema without USAGE
CREATE SCHEMA hidden;
CREATE TABLE hidden.t (id int PRIMARY KEY, v text);
GRANT SELECT ON hidden.t TO cdc_mallory;
-- 4c: a column dropped and added again under its name, the new one granted
CREATE TABLE people (id int PRIMARY KEY, ssn text, name text);
GRANT SELECT (id, name) ON people TO cdc_mallory;
-- 4c': two columns swapping names; the grant follows its column
CREATE TABLE swap (id int PRIMARY KEY, secret text, pub text);
GRANT SELECT (id, pub) ON swap TO cdc_mallory;
-- 15: a table mallory may not read at all
CREATE TABLE payroll (id int PRIMARY KEY, amount int);

SET ROLE cdc_mallory;
SELECT cdc.create_consumer('m', start => 'now') IS NOT NULL AS created;
SELECT cdc.create_consumer('m-users', entities => '{users}', start => 'now') IS NOT NULL AS created;
RESET ROLE;
INSERT INTO users VALUES (1, 'ann@example.com', 'Ann');
UPDATE users SET email = 'ann@example.org' WHERE id = 1;
DELETE FROM users;
INSERT INTO hidden.t VALUES (1, 'hidden');
INSERT INTO people VALUES (1, '123-45-6789', 'Bob');
ALTER TABLE people DROP COLUMN ssn;
ALTER TABLE people ADD COLUMN ssn text;
GRANT SELECT (ssn) ON people TO cdc_mallory;
INSERT INTO people VALUES (2, 'Eve', 'public-ssn');
INSERT INTO swap VALUES (1, 'the secret', 'the public');
ALTER TABLE swap RENAME COLUMN pub TO tmp;
ALTER TABLE swap RENAME COLUMN secret TO pub;
ALTER TABLE swap RENAME COLUMN tmp TO secret;
-- (mallory's grant stays on the column, now named "secret")
SELECT pg_temp.logged() AS logged;

SET ROLE cdc_mallory;
-- what a direct SELECT says
SELECT pg_temp.try($$SELECT * FROM hidden.t$$);
SELECT pg_temp.try($$SELECT email FROM users$$);
-- the stream: no email anywhere (entity_id withheld, old_data has no key),
-- nothing of hidden.t, the old ssn never, the new one yes; the old values
-- of swap under their old names, each by the column it was
SELECT entity, entity_id, operation, old_data, new_data FROM cdc.stream('m') ORDER BY commit_lsn, seq;
SELECT entity, entity_id, operation FROM cdc.stream('m-users');
-- withheld says why
SELECT name, withheld FROM cdc.consumers WHERE name = 'm-users';
SELECT cdc.create_consumer('m-hidden', entities => '{hidden.*}', start => 'now') IS NOT NULL AS created;
SELECT name, withheld FROM cdc.consumers WHERE name = 'm-hidden';
RESET ROLE;
-- a superuser sees everything, the old ssn included (table-level rights)
SELECT cdc.create_consumer('root', start => 'beginning') IS NOT NULL AS created;
SELECT entity, new_data FROM cdc.stream('root') WHERE entity = 'public.people' ORDER BY commit_lsn;
-- with USAGE on the schema, hidden.t reaches mallory
GRANT USAGE ON SCHEMA hidden TO cdc_mallory;
SET ROLE cdc_mallory;
SELECT entity, new_data FROM cdc.stream('m') WHERE entity = 'hidden.t';
RESET ROLE;

-- 15: lag counts only what the consumer receives; a timestamp start is
-- the first change it receives; a 42501 names no owner
SELECT now() AS before_payroll \gset
SELECT pg_sleep(0.01);
INSERT INTO payroll VALUES (1, 100);
SELECT pg_temp.logged() AS logged;
SET ROLE cdc_mallory;
SELECT cdc.create_consumer('m-late', entities => '{payroll,people}', start => 'now') IS NOT NULL AS created;
SELECT cdc.create_consumer('m-time', start => :'before_payroll') AS m_time_start \gset
RESET ROLE;
INSERT INTO payroll VALUES (2, 200);
INSERT INTO people VALUES (3, 'Zed', 'z');
SELECT pg_temp.logged() AS logged;
SET ROLE cdc_mallory;
-- one change of people after m-late's start; payroll's are not counted
SELECT name, lag_changes FROM cdc.consumers WHERE name IN ('m-late', 'm-time') ORDER BY name;
-- m-time's start says nothing of payroll's first change (the first change
-- after before_payroll): it is past it
RESET ROLE;
SELECT :'m_time_start'::pg_lsn > min(commit_lsn) AS starts_after_payroll
FROM cdc.log WHERE entity = 'public.payroll';
SET ROLE cdc_mallory;
SELECT entity, new_data FROM cdc.stream('m-time');
RESET ROLE;
SET ROLE cdc_app;
SELECT cdc.create_consumer('app-private', start => 'now') IS NOT NULL AS created;
RESET ROLE;
SET ROLE cdc_mallory;
SELECT pg_temp.try($$SELECT * FROM cdc.stream('app-private')$$);
RESET ROLE;

-- 16, names: one namespace per database; a name another role took is
-- 42710 for everyone else (and the error names no owner)
SET ROLE cdc_mallory;
SELECT cdc.create_consumer('orders-sync') IS NOT NULL AS squatted;
SELECT cdc.create_group('orders-workers') IS NOT NULL AS squatted;
RESET ROLE;
SET ROLE cdc_app;
SELECT pg_temp.try($$SELECT cdc.create_consumer('orders-sync')$$);
SELECT pg_temp.try($$SELECT cdc.create_group('orders-workers')$$);
RESET ROLE;
-- 16, patterns: without a schema, a table name in any schema; with one,
-- that schema only.  mallory's own "orders", readable by everyone, reaches
-- a consumer of 'orders', never one of 'public.orders'
CREATE TABLE public.orders (id int PRIMARY KEY);
GRANT SELECT ON public.orders TO cdc_app;
CREATE SCHEMA cdc_mallory AUTHORIZATION cdc_mallory;
SET ROLE cdc_app;
SELECT cdc.create_consumer('any-orders', entities => '{orders}') IS NOT NULL AS created;
SELECT cdc.create_consumer('public-orders', entities => '{public.orders}') IS NOT NULL AS created;
RESET ROLE;
SET ROLE cdc_mallory;
CREATE TABLE cdc_mallory.orders (id int PRIMARY KEY);
GRANT USAGE ON SCHEMA cdc_mallory TO PUBLIC;
GRANT SELECT ON cdc_mallory.orders TO PUBLIC;
INSERT INTO cdc_mallory.orders VALUES (666);
RESET ROLE;
INSERT INTO public.orders VALUES (1);
SELECT pg_temp.logged() AS logged;
SET ROLE cdc_app;
SELECT entity, new_data FROM cdc.stream('any-orders') ORDER BY commit_lsn;
SELECT entity, new_data FROM cdc.stream('public-orders') ORDER BY commit_lsn;
RESET ROLE;

SELECT cdc.drop_consumer(name) FROM cdc.consumer_state ORDER BY name;
SELECT cdc.drop_group('orders-workers');
DROP TABLE users, hidden.t, people, swap, payroll, public.orders, cdc_mallory.orders;
DROP SCHEMA hidden, cdc_mallory;
DROP EXTENSION cdc_ext;
DROP OWNED BY cdc_mallory, cdc_app;
DROP ROLE cdc_mallory, cdc_app;
