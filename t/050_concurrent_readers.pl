# Two backends on one consumer at the same moment: while one session long-
# polls cdc.stream(), another one's read, trim or drop of that consumer is
# refused with a clear error (55006) and changes nothing; the long poll
# returns as soon as a change commits; afterwards the other session reads
# the same rows.  Reads never consume.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('readers');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', scalar `bash $ENV{TESTDIR}/scripts/pgconf.sh`);
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY);
});
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('shared')});

my $poller = $node->background_psql('postgres');
$poller->query_until(qr/polling/, q{
	\echo polling
	SELECT string_agg(new_data->>'id', ',') AS got FROM cdc.stream('shared', batch_timeout => '60 s');
});
$node->poll_query_until('postgres',
	q{SELECT active_pid IS NOT NULL FROM cdc.consumers WHERE name = 'shared'})
  or die 'the long poll did not start';
pass('one session is long-polling the consumer');

for my $q (q{SELECT count(*) FROM cdc.stream('shared')},
	q{SELECT * FROM cdc.trim(cdc.current_lsn(), 'shared')},
	q{SELECT cdc.drop_consumer('shared')})
{
	my ($rc, $out, $err) = $node->psql('postgres', $q);
	like($err, qr/ERROR:  consumer "shared" is being read by the process with PID \d+/,
		"refused while it is read: $q");
	like($err, qr/HINT:  /, '... with a hint');
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.consumers WHERE name = 'shared' AND NOT gap}), '1',
	'the consumer is intact');

$node->safe_psql('postgres', q{INSERT INTO t VALUES (1), (2)});
my $got = $poller->query_until(qr/returned/, "\\echo returned\n");
like($got, qr/^1,2$/m, 'the long poll returned the change once it committed');
$poller->quit;

is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'id', ',') FROM cdc.stream('shared')}), '1,2',
	'the other session then reads the same rows: reads never consume');

$node->stop;
done_testing();
