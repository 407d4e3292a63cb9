# A writer that stops on an error is started again after a second.  If the
# extension is dropped and created again meanwhile, nobody drops the old
# log's slot (no writer runs): the new writer must not adopt it, or the new
# log would start with changes committed before CREATE EXTENSION.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('staleslot');

$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext; CREATE TABLE t (id int PRIMARY KEY)});
is(writer_running($node, 'postgres'), 't', 'the writer runs');
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1); SELECT cdc.wait_for_log()});
my $w1 = $node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()});

# the writer fails (a cancel is an error): gone for a second
$node->safe_psql('postgres', qq{SELECT pg_cancel_backend($w1)});
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $w1}),
	'the writer stopped');
$node->safe_psql('postgres', q{INSERT INTO t VALUES (2)});
$node->safe_psql('postgres', q{DROP EXTENSION cdc_ext; CREATE EXTENSION cdc_ext});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
$node->safe_psql('postgres', q{INSERT INTO t VALUES (3); SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'id', ',' ORDER BY commit_lsn) FROM cdc.log}), '3',
	'the new log holds only what committed after CREATE EXTENSION');

$node->stop;
done_testing();
