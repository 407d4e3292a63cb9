# DROP EXTENSION while the new writer creates its slot.  Creating a logical
# slot waits for the transactions running at that moment; when one of them
# then drops the extension, the writer must not be holding a lock that the
# DROP needs (that was a deadlock, and the deadlock detector could pick the
# user's DROP EXTENSION).  The writer then leaves no slot behind, and a new
# CREATE EXTENSION gets a writer again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('dropslot');
$node->safe_psql('postgres', q{CREATE TABLE x (id int)});

my $slots = q{SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%'};
foreach my $round (1 .. 2)
{
	# A: a transaction that has written, still open; it would be the first to
	# look for a deadlock (10 ms against the writer's 1 s)
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe(q{SET deadlock_timeout = '10ms'});
	$a->query_safe(q{BEGIN});
	$a->query_safe(q{INSERT INTO x VALUES (1)});

	# the extension is created (and committed) meanwhile: its writer starts
	# and creates its slot, which waits for A's transaction
	$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext});
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity s USING (pid)
		WHERE s.backend_type = 'cdc_ext log writer' AND l.locktype = 'transactionid' AND NOT l.granted}),
		"round $round: the writer's slot creation waits for A's transaction");

	# A drops the extension in that transaction
	$a->{stderr} = '';
	$a->query(q{DROP EXTENSION cdc_ext});
	my $err = $a->{stderr};
	$a->query(q{COMMIT});
	$a->quit;
	is($err, '', "round $round: DROP EXTENSION succeeds (no deadlock)");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'cdc_ext'}), '0',
		"round $round: the extension is gone");
	ok($node->poll_query_until('postgres', $slots, '0'), "round $round: the writer leaves no slot");
}

# DROP EXTENSION right after CREATE EXTENSION, while the new writer starts
# (reads its state, opens decoding): it must take the extension's lock
# before its tables', as DROP EXTENSION does (the other order deadlocked, and
# api_compat's DROP EXTENSION once got the error)
my $errors = '';
my $log_offset = -s $node->logfile;
foreach my $i (1 .. 25)
{
	my ($ret, $out, $err) = $node->psql('postgres', q{CREATE EXTENSION cdc_ext});
	$errors .= $err;
	select(undef, undef, undef, 0.02 * $i);
	($ret, $out, $err) = $node->psql('postgres', q{SET deadlock_timeout = '10ms'; DROP EXTENSION cdc_ext});
	$errors .= $err;
}
is($errors, '', 'CREATE and DROP EXTENSION at once, 25 times: no error');
# nor for the writer (the deadlock detector may pick either side)
unlike(slurp_file($node->logfile, $log_offset), qr/deadlock detected/, '... no deadlock in the server log either');
ok($node->poll_query_until('postgres', $slots, '0'), '... and no slot left');

# and the extension comes back with a running writer
$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext});
ok($node->poll_query_until('postgres', q{SELECT running FROM cdc.writer_info()}), 'a new writer runs');
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(); INSERT INTO x VALUES (2); SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.x'}), '1',
	'it logs what committed after its start only');

$node->stop;
done_testing();
