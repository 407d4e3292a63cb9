# The capture setting in force at a change's commit decides whether it is
# logged, however late the writer decodes it (issue 15 item 9).  Without
# the preload, CALL cdc.ingest() is the writer and runs only when called,
# so the writer is deterministically "late": changes and cdc.set_capture()
# calls commit, then one ingest decodes them all.  Also: the setting in
# force survives a restart (recorded with the ingest position); the
# capture messages never reach the log, the plugin's output or a consumer
# as messages, and a message forged with their prefix changes nothing; a
# consumer whose filters name a table the log no longer captures is told
# in cdc.consumers.withheld, with since when.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('capture', conf => "shared_preload_libraries = ''\n");

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CALL cdc.ingest();
	CREATE TABLE ledger (id int PRIMARY KEY);
	CREATE TABLE other (id int PRIMARY KEY);
	CREATE ROLE mallory LOGIN;
	SELECT pg_create_logical_replication_slot('peek', 'cdc_ext');
});
my $logged = q{SELECT coalesce(string_agg(new_data->>'id', ',' ORDER BY commit_lsn, seq), '')
	FROM cdc.log WHERE entity = 'public.ledger'};

# committed while captured, excluded before the writer gets to it: logged
$node->safe_psql('postgres', q{INSERT INTO ledger VALUES (1)});
$node->safe_psql('postgres', q{SELECT cdc.set_capture(exclude_entities => '{ledger}')});
$node->safe_psql('postgres', q{INSERT INTO ledger VALUES (2)});
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres', $logged), '1',
	'a change committed while its table was captured is logged; one committed after the exclusion is not');

# inside cdc.set_capture()'s own transaction: by position
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO ledger VALUES (3);
	SELECT cdc.set_capture();
	INSERT INTO ledger VALUES (4);
	COMMIT;
	INSERT INTO ledger VALUES (5);
});
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres', $logged), '1,4,5',
	'in the set_capture transaction, changes before the call follow the old setting, after it the new');

# the setting in force, with where it came from, recorded with the position
$node->safe_psql('postgres', q{SELECT cdc.set_capture(exclude_entities => '{ledger}', messages => '{*}')});
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres', q{SELECT capture_exclude_entities::text || ' ' || capture_messages::text
	|| ' ' || (capture_lsn IS NOT NULL) || ' ' || (capture_at IS NOT NULL) FROM cdc.log_state}),
	'{ledger} {*} true true', 'the writer records the setting in force and its commit');

# ... and resumes with it after a restart
$node->restart;
$node->safe_psql('postgres', q{INSERT INTO ledger VALUES (6); INSERT INTO other VALUES (6)});
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres', $logged), '1,4,5', 'after a restart the setting in force still excludes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.other' AND operation <> 'schema'}), '1',
	'and the rest is logged');

# a consumer of the excluded table is told, with since when
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('audit', entities => '{ledger}')});
like($node->safe_psql('postgres', q{SELECT withheld::text FROM cdc.consumers WHERE name = 'audit'}),
	qr/^\{"public\.ledger: not captured since \d{4}-\d\d-\d\d [0-9:.+]+"\}$/,
	'cdc.consumers.withheld names the table the log no longer captures');

# capture messages are never messages; a forged one changes nothing
$node->safe_psql('postgres', q{GRANT USAGE ON SCHEMA cdc TO mallory});
$node->safe_psql('postgres', q{SELECT pg_logical_emit_message(true, 'cdc_ext.capture', 'entities => {}')},
	extra_params => [ '-U', 'mallory' ]);
$node->safe_psql('postgres', q{SELECT pg_logical_emit_message(true, 'app', 'kept')});
$node->safe_psql('postgres', q{INSERT INTO other VALUES (7)});
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'prefix', ',') FROM cdc.log WHERE operation = 'message'}),
	'app', 'only the application message is logged');
is($node->safe_psql('postgres', q{SELECT capture_exclude_entities::text || ' ' || capture_messages::text FROM cdc.log_state}),
	'{ledger} {*}', 'a forged capture message does not change the setting');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.other' AND operation <> 'schema'}), '2',
	'and the log goes on');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_logical_slot_get_changes('peek', NULL, NULL, 'messages', '*')
	WHERE data LIKE '%cdc_ext.capture%'}), '0',
	'the plugin never emits a capture message, even with messages => *');

# back to everything: the consumer is no longer told
$node->safe_psql('postgres', q{SELECT cdc.set_capture()});
$node->safe_psql('postgres', q{INSERT INTO ledger VALUES (8)});
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres', $logged), '1,4,5,8', 'captured again from the setting\'s commit on');
is($node->safe_psql('postgres', q{SELECT withheld IS NULL FROM cdc.consumers WHERE name = 'audit'}), 't',
	'cdc.consumers.withheld is empty again');

$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('peek')});
$node->stop;
done_testing();
