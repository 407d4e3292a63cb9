-- Plugin options: entity filters (globs, quoted names), operations,
-- numeric_as_string, only_local, and a clear error for every bad option,
-- after which the slot reads as before.
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE SCHEMA audit;
CREATE SCHEMA "Sch.ema";
CREATE TABLE public.orders (id int PRIMARY KEY, total numeric, big bigint);
CREATE TABLE public.order_items (id int PRIMARY KEY);
CREATE TABLE public.orders2 (id int PRIMARY KEY);
CREATE TABLE audit.orders (id int PRIMARY KEY);
CREATE TABLE audit.log_a (id int PRIMARY KEY);
CREATE TABLE public."Odd""Name" (id int PRIMARY KEY);
CREATE TABLE public."with.dot" (id int PRIMARY KEY);
CREATE TABLE public."comma,name" (id int PRIMARY KEY);
CREATE TABLE "Sch.ema"."Mixed" (id int PRIMARY KEY);
CREATE TABLE public."star*" (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('opt_slot', 'cdc_ext');
INSERT INTO public.orders VALUES (1, 12345678901234567.5, 9007199254740993);
INSERT INTO public.order_items VALUES (1);
INSERT INTO public.orders2 VALUES (1);
INSERT INTO audit.orders VALUES (1);
INSERT INTO audit.log_a VALUES (1);
INSERT INTO public."Odd""Name" VALUES (1);
INSERT INTO public."with.dot" VALUES (1);
INSERT INTO public."comma,name" VALUES (1);
INSERT INTO "Sch.ema"."Mixed" VALUES (1);
INSERT INTO public."star*" VALUES (1);
UPDATE public.orders SET total = 1;
DELETE FROM public.orders2;

-- which entities an option set lets through (each once), or the error
CREATE FUNCTION pg_temp.peek(VARIADIC opts text[] DEFAULT '{}') RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; h text;
BEGIN
	SELECT string_agg(DISTINCT e, ' ' ORDER BY e) INTO r
	FROM (SELECT data::jsonb->>'entity' AS e FROM pg_logical_slot_peek_changes('opt_slot', NULL, NULL, VARIADIC opts)) s;
	RETURN coalesce(r, '(none)');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' HINT: ' || nullif(h, ''), '');
END $$;
SELECT pg_temp.peek() AS everything;
SELECT opts, pg_temp.peek(VARIADIC opts) AS entities FROM (VALUES
	('{entities,orders}'::text[]),                         -- table name in any schema
	('{entities,public.orders}'),                          -- schema-qualified
	('{entities,public.order*}'),
	('{entities,orders?}'),
	('{entities,*.orders}'),
	('{entities,audit.*}'),
	('{entities,ORDERS}'),                                 -- byte-exact: no case folding
	('{entities,"orders,audit.log_?"}'),                   -- a list
	('{entities," orders , audit.log_a "}'),               -- blanks around items
	('{entities,"\"Odd\"\"Name\""}'),                      -- quoted as the entity spells it
	('{entities,"public.\"Odd\"\"Name\""}'),
	('{entities,"\"with.dot\""}'),                         -- a dot inside quotes is no schema
	('{entities,"public.\"with.dot\""}'),
	('{entities,"\"comma,name\""}'),                       -- a comma inside quotes does not split
	('{entities,"comma\\,name"}'),                         -- nor an escaped one (no match: unquoted)
	('{entities,"\"Sch.ema\".*"}'),
	('{entities,"\"Mixed\""}'),
	('{entities,"star\\*"}'),                              -- a literal star; no match: the name is spelled quoted
	('{entities,"\"star*\""}'),                            -- quoted: * is still a wildcard, " literal
	('{exclude_entities,"audit.*,*\"*"}'),
	('{entities,"*orders*",exclude_entities,order_items}'),
	('{entities,nomatch}'),
	('{operations,"update,delete"}'),
	('{operations,delete}'),
	('{operations,"insert, update"}'),
	('{operations,"insert,update,delete,truncate",entities,orders2}')
) v(opts);

-- numeric_as_string: numbers an IEEE double would round become strings
SELECT data::jsonb->'new_data' AS new_data FROM pg_logical_slot_peek_changes('opt_slot', NULL, NULL,
	'entities', 'public.orders', 'numeric_as_string', 'true');
SELECT data::jsonb->'new_data' AS new_data FROM pg_logical_slot_peek_changes('opt_slot', NULL, NULL,
	'entities', 'public.orders', 'numeric_as_string', 'false');

-- every bad option: SQLSTATE, message, hint; nothing decoded, nothing lost
SELECT opts, pg_temp.peek(VARIADIC opts) AS error FROM (VALUES
	('{entity,orders}'::text[]),
	('{Entities,orders}'),
	('{"",x}'),
	('{entities,orders,entities,audit.*}'),
	('{transactions,true,transactions,false}'),
	('{entities,""}'),
	('{entities,","}'),
	('{entities,"orders,"}'),
	('{entities,",orders"}'),
	('{entities,"orders,,audit"}'),
	('{entities,"   "}'),
	('{entities,"orders\\"}'),
	('{exclude_entities,""}'),
	('{messages,""}'),
	('{operations,""}'),
	('{operations,insrt}'),
	('{operations,"insert,message"}'),
	('{operations,INSERT}'),
	('{operations,"insert;delete"}'),
	('{transactions,yes please}'),
	('{transactions,""}'),
	('{numeric_as_string,2}'),
	('{only_local,maybe}')
) v(opts);
-- (a bare option without a value comes only through the replication
-- protocol, pg_recvlogical -o name: t/010_recvlogical.pl tests it)
-- booleans accept PostgreSQL's spellings
SELECT pg_temp.peek('transactions', v, 'entities', 'orders2') AS accepted
FROM unnest('{on,off,1,0,yes,no,t,f,TRUE,False}'::text[]) v;
-- the slot is untouched by the errors: everything is still there
SELECT count(*) AS entries FROM pg_logical_slot_peek_changes('opt_slot', NULL, NULL);
-- get with bad options consumes nothing either
SELECT pg_temp.peek() = pg_temp.peek() AS same;
SELECT count(*) FROM pg_logical_slot_get_changes('opt_slot', NULL, NULL, 'operations', 'bogus');
SELECT count(*) AS entries_after_failed_get FROM pg_logical_slot_peek_changes('opt_slot', NULL, NULL);
SELECT count(*) AS consumed FROM pg_logical_slot_get_changes('opt_slot', NULL, NULL);

-- only_local: changes replayed from another origin are dropped
SELECT 'origin' FROM pg_replication_origin_create('upstream');
SELECT 'setup' FROM pg_replication_origin_session_setup('upstream');
INSERT INTO public.orders2 VALUES (10);
SELECT 'reset' FROM pg_replication_origin_session_reset();
INSERT INTO public.orders2 VALUES (11);
SELECT data::jsonb->'new_data' AS all_origins FROM pg_logical_slot_peek_changes('opt_slot', NULL, NULL);
SELECT data::jsonb->'new_data' AS only_local FROM pg_logical_slot_peek_changes('opt_slot', NULL, NULL, 'only_local', 'true');
SELECT pg_replication_origin_drop('upstream');

-- filters are re-decided after DDL: a renamed table follows its new name
SELECT count(*) AS consumed FROM pg_logical_slot_get_changes('opt_slot', NULL, NULL);
ALTER TABLE audit.log_a RENAME TO log_b;
INSERT INTO audit.log_b VALUES (2);
ALTER TABLE audit.log_b SET SCHEMA public;
INSERT INTO public.log_b VALUES (3);
SELECT data::jsonb->>'entity' AS entity, data::jsonb->'new_data' AS new_data
FROM pg_logical_slot_peek_changes('opt_slot', NULL, NULL, 'entities', 'audit.*');

SELECT 'drop' FROM pg_drop_replication_slot('opt_slot');
DROP SCHEMA audit CASCADE;
DROP SCHEMA "Sch.ema" CASCADE;
DROP TABLE public.orders, public.order_items, public.orders2, public."Odd""Name", public."with.dot",
	public."comma,name", public."star*", public.log_b;
