# Transactions that span a server restart, through the plugin on slots: one
# open across a CHECKPOINT and an immediate stop never appears (it never
# committed); prepared ones survive the restart and appear once at COMMIT
# PREPARED, never after ROLLBACK PREPARED; a slot confirmed before the
# restart resumes exactly there.  (The change log's own restart behaviour is
# tested with the log writer.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('restart');

$node->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, what text);
	CREATE TABLE other (id int PRIMARY KEY);
});
# "r" is read and confirmed as a consumer would; "raw" is only peeked
$node->safe_psql('postgres', q{SELECT 'init' FROM pg_create_logical_replication_slot('r', 'cdc_ext')});
$node->safe_psql('postgres', q{SELECT 'init' FROM pg_create_logical_replication_slot('raw', 'cdc_ext')});

# ids of t that slot r has not confirmed yet, in stream order
sub unread
{
	return $node->safe_psql('postgres', q{
		SELECT coalesce(string_agg(data::jsonb->'new_data'->>'id', ','), '<none>')
		FROM pg_logical_slot_peek_changes('r', NULL, NULL, 'entities', 't')});
}

$node->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'before, read and confirmed')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_logical_slot_get_changes('r', NULL, NULL)}),
	'1', 'row 1 read and confirmed');
$node->safe_psql('postgres', q{
	INSERT INTO t VALUES (2, 'before, unread');
	INSERT INTO other VALUES (1);
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
is(unread(), '2,7',
	'after the restart the slot resumes after what it confirmed; nothing open or prepared shows');

$node->safe_psql('postgres', q{COMMIT PREPARED 'p_commit'});
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'p_rollback'});
$node->safe_psql('postgres', q{INSERT INTO t VALUES (8, 'after restart')});
is(unread(), '2,7,5,8',
	'COMMIT PREPARED delivers the prepared rows once, at its commit; ROLLBACK PREPARED nothing');
is($node->safe_psql('postgres',
	q{SELECT string_agg(data::jsonb->'new_data'->>'id', ',') FROM pg_logical_slot_get_changes('raw', NULL, NULL, 'entities', 't')}),
	'1,2,7,5,8', 'a slot never read before the restart gives the same, from the start');

# a prepared transaction committed while the slot is read in between
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_logical_slot_get_changes('r', NULL, NULL)}),
	'5', 'rows 2, other 1, 7, 5 and 8 read and confirmed');
$node->safe_psql('postgres', q{
	BEGIN; INSERT INTO t VALUES (9, 'prepared across a second restart'); PREPARE TRANSACTION 'p2';
});
$node->restart;
is(unread(), '<none>', 'a prepared transaction is not delivered before it commits');
$node->safe_psql('postgres', q{COMMIT PREPARED 'p2'});
is(unread(), '9', '... and is delivered once after COMMIT PREPARED');

$node->stop;
done_testing();
