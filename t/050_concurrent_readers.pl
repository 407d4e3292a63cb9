# Long polls over the change log.  A session long-polling cdc.consume() is
# counted in cdc.consumers.active_readers and returns as soon as a change is
# logged (woken by the log writer's commit, long before batch_timeout).  A
# client killed in the middle of a long poll does not keep the consumer busy
# for the rest of its batch_timeout: its backend notices the dead client and
# ends, and a successor's cdc.consume() gets through promptly, reading what
# the dead one never delivered (issue 9 item 12).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('readers');
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY);
});
wait_for_capture($node, 'postgres');
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('shared', entities => '{t}')});

# a long poll, woken by the writer
my $poller = $node->background_psql('postgres');
$poller->query_until(qr/polling/, q{
	\echo polling
	SELECT string_agg(entity_id::text, ',') || ' after ' ||
		   CASE WHEN clock_timestamp() - statement_timestamp() < '20 s' THEN 'less' ELSE 'more' END
		   || ' than 20 s' AS got
	FROM cdc.consume('shared', batch_timeout => '60 s');
});
ok($node->poll_query_until('postgres',
	q{SELECT active_readers = 1 FROM cdc.consumers WHERE name = 'shared'}),
	'the long-polling session is counted as an active reader');
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1), (2)});
my $got = $poller->query_until(qr/returned/, "\\echo returned\n");
like($got, qr/^1,2 after less than 20 s$/m, 'the long poll returned the changes once they were logged');
is($node->safe_psql('postgres', q{SELECT active_readers FROM cdc.consumers WHERE name = 'shared'}), '0',
	'no active reader once it returned');

# a client killed while long-polling
my $victim = $node->background_psql('postgres');
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
$victim->query_until(qr/polling/, q{
	\echo polling
	SELECT count(*) FROM cdc.consume('shared', batch_timeout => '120 s');
});
$node->poll_query_until('postgres',
	q{SELECT active_readers = 1 FROM cdc.consumers WHERE name = 'shared'})
  or die 'the second long poll did not start';
$victim->{run}->kill_kill;
my $t0 = time();
$node->safe_psql('postgres', q{INSERT INTO t VALUES (3)});
my $succ = $node->safe_psql('postgres',
	q{SELECT string_agg(entity_id::text, ',') FROM cdc.consume('shared', batch_timeout => '30 s')});
my $elapsed = time() - $t0;
is($succ, '3', "the successor reads the change the killed client never got");
cmp_ok($elapsed, '<', 15, sprintf('... promptly (%.1f s, the killed poll had 120 s left)', $elapsed));
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $victim_pid"),
	"the killed client's backend ended");
is($node->safe_psql('postgres', q{SELECT active_readers FROM cdc.consumers WHERE name = 'shared'}), '0',
	'nothing keeps the consumer busy');

$poller->quit;
$node->stop;
done_testing();
