-- Security of the consumer API: grants, ownership, per-table SELECT,
-- pinned search_path, and the plain slot rule for direct slot use.
\set VERBOSITY terse
CREATE EXTENSION cdc_ext;
CREATE ROLE regress_cdc_alice;
CREATE ROLE regress_cdc_bob;
CREATE TABLE open_t (id int PRIMARY KEY, v text);
CREATE TABLE secret_t (id int PRIMARY KEY, v text);
GRANT SELECT ON open_t TO regress_cdc_alice;

-- nothing is for PUBLIC
SET ROLE regress_cdc_alice;
SELECT cdc.create_consumer('alice');
SELECT * FROM cdc.status();
RESET ROLE;

-- an administrator grants the API
GRANT USAGE ON SCHEMA cdc TO regress_cdc_alice, regress_cdc_bob;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO regress_cdc_alice, regress_cdc_bob;
GRANT SELECT ON cdc.consumers TO regress_cdc_alice, regress_cdc_bob;

SET ROLE regress_cdc_alice;
SELECT cdc.create_consumer('alice') IS NOT NULL AS created;
SELECT name, owner FROM cdc.consumers;
-- the state table itself stays closed
SELECT count(*) FROM cdc.consumer_state;
RESET ROLE;

INSERT INTO open_t VALUES (1, 'visible');
INSERT INTO secret_t VALUES (1, 'hidden');

-- alice receives only tables she may SELECT
SET ROLE regress_cdc_alice;
SELECT entity, operation, new_data FROM cdc.stream('alice');
-- direct slot use keeps PostgreSQL's rule (REPLICATION or superuser)
SELECT count(*) FROM pg_logical_slot_peek_changes(
	(SELECT slot_name FROM cdc.consumers WHERE name = 'alice'), NULL, NULL);
RESET ROLE;

-- another role can neither see, read, checkpoint, trim nor drop it
SET ROLE regress_cdc_bob;
SELECT count(*) AS bob_sees FROM cdc.consumers;
SELECT * FROM cdc.stream('alice');
SELECT cdc.checkpoint('alice', pg_current_wal_lsn(), 0);
SELECT * FROM cdc.trim(pg_current_wal_lsn(), 'alice');
SELECT count(*) AS bob_trims FROM cdc.trim(pg_current_wal_lsn());
SELECT cdc.drop_consumer('alice');
RESET ROLE;

-- a search_path full of traps changes nothing
CREATE SCHEMA trap;
CREATE TABLE trap.consumer_state (name text, owner oid);
CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
CREATE FUNCTION trap.pg_has_role(oid, text) RETURNS bool LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION trap.current_setting(text) RETURNS text LANGUAGE sql AS $$ SELECT 'trap' $$;
GRANT USAGE ON SCHEMA trap TO PUBLIC;
GRANT ALL ON trap.consumer_state TO PUBLIC;
SET ROLE regress_cdc_alice;
SET search_path = trap, public;
SELECT count(*) AS alice_stream FROM cdc.stream('alice');
SELECT cdc.checkpoint('alice', commit_lsn, seq) FROM cdc.stream('alice')
ORDER BY commit_lsn DESC, seq DESC LIMIT 1;
SELECT count(*) AS after_checkpoint FROM cdc.stream('alice');
SELECT wal_level, consumers FROM cdc.status();
SELECT count(*) AS trap_rows FROM trap.consumer_state;
RESET search_path;
RESET ROLE;
SET ROLE regress_cdc_bob;
SET search_path = trap, public;
SELECT count(*) AS bob_still_sees FROM cdc.consumers;
RESET search_path;
RESET ROLE;

-- superuser sees all; the owner drops
SELECT name, owner FROM cdc.consumers;
SET ROLE regress_cdc_alice;
SELECT cdc.drop_consumer('alice');
RESET ROLE;

DROP SCHEMA trap CASCADE;
DROP TABLE open_t, secret_t;
DROP EXTENSION cdc_ext;
DROP OWNED BY regress_cdc_alice, regress_cdc_bob;
DROP ROLE regress_cdc_alice, regress_cdc_bob;
