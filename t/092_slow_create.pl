# CREATE EXTENSION in a transaction that commits more than 10 s after it
# asked for a writer (a long migration): the writer still starts within
# seconds of the commit.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('slowcreate');

$node->safe_psql('postgres', q{BEGIN; CREATE EXTENSION cdc_ext; SELECT pg_sleep(12); COMMIT});
is(writer_running($node, 'postgres', 50), 't',
	'the writer runs within 5 s of a slow CREATE EXTENSION\'s commit');

$node->stop;
done_testing();
