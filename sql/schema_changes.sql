-- Schema changes in the stream (issue 19, docs/schema-changes.md): a
-- `schema` entry for each DDL kind on a captured table, schema_version on
-- every change (also inside a transaction that changes rows before and
-- after a DDL), nothing for a rolled-back DDL, a table outside capture, the
-- extension's own tables or a temporary table; DDL by a role without
-- superuser; column privileges narrow shapes; the plugin path with the
-- option schema_changes; a forged message is no entry; a group leases a
-- schema entry in order with every change of its table.
\set VERBOSITY terse
SET client_min_messages = warning;
SET TimeZone = 'UTC';
-- a table older than the extension: recorded at version 0/0
CREATE TABLE sc_pre (id int PRIMARY KEY, v text DEFAULT 'x');
CREATE EXTENSION cdc_ext;
SELECT cdc.wait_for_log() IS NOT NULL AS writer_ready;
SELECT relid::regclass, version, shape FROM cdc.schema_shape WHERE relid = 'sc_pre'::regclass;
SELECT 'init' FROM pg_create_logical_replication_slot('sc_slot', 'cdc_ext');
SELECT cdc.set_capture(exclude_entities => '{sc_out}');

-- every DDL kind
CREATE TABLE sc_t (id int, a text, b int);
INSERT INTO sc_t VALUES (1, 'a', 1);
ALTER TABLE sc_t ADD COLUMN c numeric(10,2) DEFAULT 1.5;
ALTER TABLE sc_t DROP COLUMN b;
ALTER TABLE sc_t RENAME COLUMN a TO aa;
ALTER TABLE sc_t ALTER COLUMN aa TYPE varchar(20);
ALTER TABLE sc_t ALTER COLUMN aa SET DEFAULT 'dflt';
ALTER TABLE sc_t ALTER COLUMN id SET NOT NULL;
ALTER TABLE sc_t ADD PRIMARY KEY (id);
ALTER TABLE sc_t REPLICA IDENTITY FULL;
ALTER TABLE sc_t SET (fillfactor = 50);		-- no shape change: no entry
ALTER TABLE sc_t RENAME TO sc_t2;
CREATE SCHEMA sc_s;
ALTER TABLE sc_t2 SET SCHEMA sc_s;
-- a schema renamed renames its tables: an entry each (sc_own has none captured)
ALTER SCHEMA sc_s RENAME TO sc_s_renamed;
ALTER SCHEMA sc_s_renamed RENAME TO sc_s;
INSERT INTO sc_s.sc_t2 VALUES (2, 'b', 2.5);
-- rows before and after a DDL in one transaction
BEGIN;
INSERT INTO sc_s.sc_t2 VALUES (3, 'before');
ALTER TABLE sc_s.sc_t2 ADD COLUMN d int;
INSERT INTO sc_s.sc_t2 VALUES (4, 'after', 1, 4);
COMMIT;
-- rolled back: nothing
BEGIN;
ALTER TABLE sc_s.sc_t2 ADD COLUMN never int;
INSERT INTO sc_s.sc_t2 VALUES (5, 'never');
ROLLBACK;
INSERT INTO sc_pre VALUES (0);
ALTER TABLE sc_pre ADD COLUMN w int;
INSERT INTO sc_pre VALUES (1);
DROP TABLE sc_s.sc_t2;
-- outside capture (the log) and the extension's own tables (never)
CREATE TABLE sc_out (id int PRIMARY KEY);
ALTER TABLE sc_out ADD COLUMN x int;
ALTER TABLE cdc.log_shape ALTER COLUMN names SET DEFAULT '{}';
ALTER TABLE cdc.log_shape ALTER COLUMN names DROP DEFAULT;
CREATE TEMP TABLE sc_temp (id int);
ALTER TABLE sc_temp ADD COLUMN y int;
-- DDL by a role without superuser
CREATE ROLE sc_ddl LOGIN;
CREATE SCHEMA sc_own AUTHORIZATION sc_ddl;
SET ROLE sc_ddl;
CREATE TABLE sc_own.mine (id int PRIMARY KEY);
ALTER TABLE sc_own.mine ADD COLUMN note text NOT NULL DEFAULT '';
INSERT INTO sc_own.mine VALUES (1, 'n');
RESET ROLE;
-- anyone with REPLICATION can emit a message with the prefix: not an entry
SELECT 'forged' FROM pg_logical_emit_message(true, 'cdc_ext.schema', 'garbage');
-- relid 1, entity e, table t, no old shape, a new shape that is not JSON
SELECT 'forged' FROM pg_logical_emit_message(true, 'cdc_ext.schema',
	decode('3100650074006e756c6c007b62616400', 'hex'));
SELECT cdc.wait_for_log() IS NOT NULL AS logged;

-- the log: entries in order; v<n>: the n-th schema version seen (0/0: v0)
CREATE VIEW sc_log AS
SELECT l.*, CASE WHEN schema_version = '0/0' THEN 'v0'
				 ELSE 'v' || dense_rank() OVER (ORDER BY schema_version) - 1 END AS ver
FROM cdc.log l WHERE entity ~ 'sc_' AND schema_version IS NOT NULL;
SELECT entity, operation, ver, operation <> 'schema' OR schema_version = lsn AS version_is_own_lsn,
	   coalesce(new_data->>'command_tag', old_data->>'command_tag') AS tag,
	   CASE WHEN operation = 'schema' THEN new_data - 'command_tag' ELSE new_data END AS new_data
FROM sc_log ORDER BY commit_lsn, seq;
-- old_data is the shape before (first ALTER of a table older than the extension, a drop)
SELECT entity, old_data FROM cdc.log
WHERE operation = 'schema' AND entity IN ('public.sc_pre', 'sc_s.sc_t2') AND new_data IS NULL OR
	  operation = 'schema' AND entity = 'public.sc_pre' ORDER BY commit_lsn, seq;
-- nothing of the table outside capture, the extension's tables, temp tables, the rollback
SELECT count(*) AS not_logged FROM cdc.log
WHERE entity IN ('public.sc_out') OR entity LIKE 'cdc.%' OR entity LIKE 'pg_temp%'
   OR new_data ? 'never' OR new_data->>'aa' = 'never';
-- the shapes recorded: versions are the schema entries' positions; a drop forgets its table
SELECT count(*) AS versions_match FROM cdc.schema_shape s JOIN cdc.log l
	ON l.operation = 'schema' AND l.relid = s.relid AND l.lsn = s.version;
SELECT count(*) AS dropped_forgotten FROM cdc.schema_shape s
WHERE s.shape->>'entity' = 'sc_s.sc_t2';
-- one shape per table, its last: earlier ones are forgotten (decoding reads
-- them as of each change: the versions above came through all the same)
SELECT count(*) AS tables, count(DISTINCT relid) AS distinct_tables FROM cdc.schema_shape;

-- the plugin path: the same entries with the option
SELECT d->>'entity' AS entity, d->>'operation' AS operation,
	   (d->>'schema_version')::pg_lsn = l.schema_version AS same_version_as_log
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('sc_slot', NULL, NULL,
	  'schema_changes', 'true', 'entities', 'sc_*')) p
LEFT JOIN cdc.log l ON l.commit_lsn = (d->>'commit_lsn')::pg_lsn AND l.seq = (d->>'seq')::int
WHERE d->>'entity' <> 'public.sc_out';
-- ... filtered by the plugin's options like changes (operations, entities)
SELECT d->>'entity' AS entity, d->>'operation' AS operation
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('sc_slot', NULL, NULL,
	  'schema_changes', 'true', 'entities', 'sc_out', 'operations', 'schema')) p;
-- ... and without it: no schema entry, no schema_version
SELECT count(*) FILTER (WHERE data::jsonb->>'operation' = 'schema') AS schema_entries,
	   count(*) FILTER (WHERE data::jsonb ? 'schema_version') AS with_version,
	   count(*) AS entries
FROM pg_logical_slot_peek_changes('sc_slot', NULL, NULL, 'entities', 'sc_*');
SELECT 'drop' FROM pg_drop_replication_slot('sc_slot');

-- column privileges: the shapes carry only the columns the role may SELECT
CREATE TABLE sc_priv (id int PRIMARY KEY, pub text, secret text);
ALTER TABLE sc_priv ADD COLUMN more text;
ALTER TABLE sc_priv RENAME COLUMN secret TO hidden;
CREATE ROLE sc_reader LOGIN;
GRANT USAGE ON SCHEMA cdc TO sc_reader;
GRANT EXECUTE ON FUNCTION cdc.create_consumer(text, text[], text[], cdc.operation[], text),
	cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval, boolean)
	TO sc_reader;
GRANT SELECT (id, pub, more) ON sc_priv TO sc_reader;
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SET ROLE sc_reader;
SELECT cdc.create_consumer('sc_c', start => 'beginning',
	operations => '{insert,update,delete,truncate,schema}') IS NOT NULL AS created;
SELECT entity, operation, old_data, new_data FROM cdc.stream('sc_c')
WHERE operation = 'schema' ORDER BY commit_lsn, seq;
-- no table privilege: nothing of sc_t's or sc_pre's schema entries
SELECT count(*) AS others FROM cdc.stream('sc_c') WHERE entity <> 'public.sc_priv';
RESET ROLE;

-- a group leases a schema entry in order with every change of its table
SELECT cdc.create_group('sc_g', entities => '{sc_grp}',
	operations => '{insert,update,delete,truncate,schema}') IS NOT NULL AS created;
CREATE TABLE sc_grp (id int PRIMARY KEY);
INSERT INTO sc_grp VALUES (1);
ALTER TABLE sc_grp ADD COLUMN v text;
INSERT INTO sc_grp VALUES (2, 'two');
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
CREATE TABLE sc_leased (member text, round int, operation cdc.operation, id text,
						commit_lsn pg_lsn, seq int);
CREATE FUNCTION sc_read(m text, r int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO sc_leased SELECT m, r, operation, entity_id::text, commit_lsn, seq
	FROM cdc.read_group('sc_g', m, 10, '5 min') $$;
-- each round: a member reads, then another, then what they were given is
-- acknowledged.  The create entry, the insert behind it, the ALTER's entry
-- (a barrier: after every change of its table before it is acknowledged)
-- and the insert after it are leased one round after another, never two
-- at once.
SELECT sc_read('a1', 1);
SELECT sc_read('b1', 1);
SELECT cdc.ack('sc_g', commit_lsn, seq) FROM sc_leased WHERE round = 1;
SELECT sc_read('a2', 2);
SELECT sc_read('b2', 2);
SELECT cdc.ack('sc_g', commit_lsn, seq) FROM sc_leased WHERE round = 2;
SELECT sc_read('a3', 3);
SELECT sc_read('b3', 3);
SELECT cdc.ack('sc_g', commit_lsn, seq) FROM sc_leased WHERE round = 3;
SELECT sc_read('a4', 4);
SELECT sc_read('b4', 4);
SELECT cdc.ack('sc_g', commit_lsn, seq) FROM sc_leased WHERE round = 4;
SELECT sc_read('a5', 5);
SELECT sc_read('b5', 5);
SELECT cdc.ack('sc_g', commit_lsn, seq) FROM sc_leased WHERE round = 5;
SELECT member, round, operation, id FROM sc_leased ORDER BY round, member, commit_lsn, seq;

-- three DDLs in one transaction, rows between them: each row the version of
-- the DDL before it, in the log and through the plugin, though each DDL's
-- shape deleted the one before (decoding reads them as of each change)
SELECT 'init' FROM pg_create_logical_replication_slot('sc_slot2', 'cdc_ext');
CREATE TABLE sc_multi (id int PRIMARY KEY);
BEGIN;
INSERT INTO sc_multi VALUES (1);
ALTER TABLE sc_multi ADD COLUMN a int;
INSERT INTO sc_multi VALUES (2, 2);
ALTER TABLE sc_multi ADD COLUMN b int;
INSERT INTO sc_multi VALUES (3, 3, 3);
ALTER TABLE sc_multi DROP COLUMN a;
INSERT INTO sc_multi VALUES (4, 4);
COMMIT;
VACUUM cdc.schema_shape;
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
SELECT l.operation, l.new_data->>'id' AS id,
	   'v' || dense_rank() OVER (ORDER BY l.schema_version) AS ver,
	   p.v IS NOT DISTINCT FROM l.schema_version AS same_as_plugin
FROM cdc.log l
LEFT JOIN (SELECT (data::jsonb->>'commit_lsn')::pg_lsn AS c, (data::jsonb->>'seq')::int AS s,
				  (data::jsonb->>'schema_version')::pg_lsn AS v
		   FROM pg_logical_slot_peek_changes('sc_slot2', NULL, NULL, 'schema_changes', 'true')) p
	ON p.c = l.commit_lsn AND p.s = l.seq
WHERE l.entity = 'public.sc_multi'
ORDER BY l.commit_lsn, l.seq;
SELECT count(*) AS shapes FROM cdc.schema_shape WHERE relid = 'sc_multi'::regclass;
SELECT 'drop' FROM pg_drop_replication_slot('sc_slot2');

-- cleanup
SELECT cdc.drop_group('sc_g');
SELECT cdc.drop_consumer('sc_c');
DROP FUNCTION sc_read(text, int);
DROP VIEW sc_log;
DROP TABLE sc_leased, sc_grp, sc_priv, sc_pre, sc_out, sc_own.mine, sc_multi;
DROP SCHEMA sc_s, sc_own;
SELECT cdc.wait_for_log() IS NOT NULL AS logged;
DROP EXTENSION cdc_ext;
DROP ROLE sc_ddl;
DROP OWNED BY sc_reader;
DROP ROLE sc_reader;
