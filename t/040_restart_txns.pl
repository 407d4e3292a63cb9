# Transactions that span a server restart: one open across a CHECKPOINT and
# an immediate stop never appears (it never committed); prepared ones
# survive the restart and appear once at COMMIT PREPARED, never after
# ROLLBACK PREPARED; a consumer checkpointed before the restart resumes
# exactly there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('restart');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', scalar `bash $ENV{TESTDIR}/scripts/pgconf.sh`);
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY, what text);
});
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('r', entities => '{t}')});
$node->safe_psql('postgres', q{SELECT 'init' FROM pg_create_logical_replication_slot('raw', 'cdc_ext')});

$node->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'before, read and checkpointed')});
$node->safe_psql('postgres', q{
	SELECT cdc.checkpoint('r', commit_lsn, seq) FROM cdc.stream('r');
	INSERT INTO t VALUES (2, 'before, unread');
});

# an open transaction across a checkpoint and an immediate stop
my $open = $node->background_psql('postgres');
$open->query_safe(q{BEGIN; INSERT INTO t VALUES (3, 'open at the crash'); INSERT INTO t VALUES (4, 'open too')});
# two prepared transactions
$node->safe_psql('postgres', q{
	BEGIN; INSERT INTO t VALUES (5, 'prepared, committed after restart'); PREPARE TRANSACTION 'p_commit';
	BEGIN; INSERT INTO t VALUES (6, 'prepared, rolled back after restart'); PREPARE TRANSACTION 'p_rollback';
	CHECKPOINT;
	INSERT INTO t VALUES (7, 'after the checkpoint');
});
$node->stop('immediate');
eval { $open->quit };
$node->start;

is($node->safe_psql('postgres', q{SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts}),
	'p_commit,p_rollback', 'the prepared transactions survived the restart');
is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'id', ',') FROM cdc.stream('r')}),
	'2,7', 'after the restart the consumer resumes after its checkpoint; nothing open or prepared shows');

$node->safe_psql('postgres', q{COMMIT PREPARED 'p_commit'});
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'p_rollback'});
$node->safe_psql('postgres', q{INSERT INTO t VALUES (8, 'after restart')});
is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'id', ',') FROM cdc.stream('r')}),
	'2,7,5,8', 'COMMIT PREPARED delivers the prepared rows once, at its commit; ROLLBACK PREPARED nothing');
is($node->safe_psql('postgres',
	q{SELECT string_agg(data::jsonb->'new_data'->>'id', ',') FROM pg_logical_slot_get_changes('raw', NULL, NULL)}),
	'1,2,7,5,8', 'the plugin over a raw slot agrees');

# a prepared transaction committed while the consumer reads in between
$node->safe_psql('postgres', q{
	SELECT cdc.checkpoint('r', commit_lsn, seq) FROM (SELECT commit_lsn, seq FROM cdc.stream('r')
		ORDER BY commit_lsn DESC, seq DESC LIMIT 1) s;
	BEGIN; INSERT INTO t VALUES (9, 'prepared across a second restart'); PREPARE TRANSACTION 'p2';
});
$node->restart;
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.stream('r')}), '0',
	'a prepared transaction is not delivered before it commits');
$node->safe_psql('postgres', q{COMMIT PREPARED 'p2'});
is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'id', ',') FROM cdc.stream('r')}), '9',
	'... and is delivered once after COMMIT PREPARED');

$node->stop;
done_testing();
