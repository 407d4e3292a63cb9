-- Administration apart from consumption (issue 15 item 2): cdc.trim,
-- cdc.set_retention, cdc.set_capture and CALL cdc.ingest() change the log
-- for every consumer; they need superuser or the privileges of cdc_admin,
-- checked when called, so that EXECUTE granted to an application (README's
-- list, or even a blanket GRANT EXECUTE ON ALL FUNCTIONS) does not reach
-- them.  A refused call changes nothing.  An operator is made with
-- README's GRANT cdc_admin TO ops.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION cdc_ext;
\i sql/include/api_setup.sql
-- the role the extension makes (cluster-wide, kept by DROP EXTENSION)
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'cdc_admin';

CREATE TABLE ledger (id int PRIMARY KEY, amount numeric);
CREATE ROLE cdc_app_listed;		-- README's grants for an application, function by function
CREATE ROLE cdc_app_blanket;	-- the blanket grant README used to show
CREATE ROLE cdc_ops;			-- README's grant for an operator
GRANT USAGE ON SCHEMA cdc TO cdc_app_listed;
GRANT EXECUTE ON FUNCTION
	cdc.create_consumer(text, text[], text[], cdc.operation[], text),
	cdc.drop_consumer(text),
	cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval, boolean),
	cdc.consume(text, integer, interval, boolean),
	cdc.checkpoint(text, pg_lsn, integer),
	cdc.consumer_info(), cdc.status(), cdc.writer_info(), cdc.current_lsn(),
	cdc.wait_for_log(pg_lsn, interval)
	TO cdc_app_listed;
GRANT SELECT ON cdc.consumers TO cdc_app_listed;
GRANT USAGE ON SCHEMA cdc TO cdc_app_blanket;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO cdc_app_blanket;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA cdc TO cdc_app_blanket;
GRANT SELECT ON cdc.consumers TO cdc_app_blanket;
GRANT cdc_admin TO cdc_ops;
GRANT SELECT ON ledger TO cdc_app_listed, cdc_app_blanket;

-- an audit consumer of another role, with changes to lose
SELECT cdc.create_consumer('audit', entities => '{ledger}') IS NOT NULL AS created;
INSERT INTO ledger VALUES (1, 10);
SELECT pg_temp.logged();
SELECT oldest_lsn AS horizon_before, retention_max_age, capture_exclude_entities
FROM cdc.log_state \gset

-- the applications: refused, whatever EXECUTE they hold
SET ROLE cdc_app_blanket;
SELECT pg_temp.try($$SELECT * FROM cdc.trim(cdc.wait_for_log())$$);
SELECT pg_temp.try($$SELECT cdc.set_retention(max_age => '1 s')$$);
SELECT pg_temp.try($$SELECT cdc.set_capture(exclude_entities => '{ledger}')$$);
SELECT pg_temp.try($$CALL cdc.ingest()$$);
-- consuming works
SELECT cdc.create_consumer('blanket-app') IS NOT NULL AS created;
SELECT count(*) > 0 AS reads FROM cdc.stream('blanket-app', from_beginning => true);
SELECT cdc.drop_consumer('blanket-app');
SET ROLE cdc_app_listed;
SELECT pg_temp.try($$SELECT * FROM cdc.trim(cdc.wait_for_log())$$);
SELECT pg_temp.try($$SELECT cdc.set_retention(max_age => '1 s')$$);
SELECT pg_temp.try($$SELECT cdc.set_capture(exclude_entities => '{ledger}')$$);
SELECT pg_temp.try($$CALL cdc.ingest()$$);
SELECT cdc.create_consumer('listed-app', entities => '{ledger}') IS NOT NULL AS created;
SELECT new_data FROM cdc.stream('listed-app', from_beginning => true);
SELECT name, gap FROM cdc.consumers;
SELECT cdc.drop_consumer('listed-app');
RESET ROLE;

-- nothing changed: horizon, retention, capture; the audit consumer has no gap
SELECT oldest_lsn = :'horizon_before' AS same_horizon, retention_max_age = :'retention_max_age' AS same_retention,
	   capture_exclude_entities IS NULL AS same_capture
FROM cdc.log_state;
SELECT gap FROM cdc.consumers WHERE name = 'audit';
SELECT new_data FROM cdc.stream('audit');

-- the operator may: retention, capture, trim (which gives the audit consumer its gap)
SET ROLE cdc_ops;
SELECT cdc.set_retention(max_age => '30 days');
SELECT cdc.set_capture(exclude_entities => '{scratch_*}');
SELECT consumers_with_gap FROM cdc.trim(cdc.wait_for_log());
RESET ROLE;
SELECT retention_max_age, capture_exclude_entities FROM cdc.log_settings;
SELECT gap, gap_reason FROM cdc.consumers WHERE name = 'audit';
SELECT cdc.set_capture();
SELECT cdc.set_retention();

SELECT cdc.drop_consumer('audit');
DROP TABLE ledger;
DROP EXTENSION cdc_ext;
-- the role stays (other databases may use it); a new CREATE EXTENSION keeps it
SELECT count(*) AS cdc_admin_kept FROM pg_roles WHERE rolname = 'cdc_admin';
CREATE EXTENSION cdc_ext;
SELECT pg_has_role('cdc_ops', 'cdc_admin', 'USAGE') AS ops_still_admin;
DROP EXTENSION cdc_ext;
DROP OWNED BY cdc_app_listed, cdc_app_blanket, cdc_ops;
DROP ROLE cdc_app_listed, cdc_app_blanket, cdc_ops;
