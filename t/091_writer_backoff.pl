# A writer that fails at once every time (here: no free replication slot) is
# started again after a delay, not in a tight loop; and a database's shared
# entry is given back when the database is dropped, so that 64 databases
# created and dropped do not leave a new one without a writer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('backoff', conf => "max_replication_slots = 1\n");

# the only slot is taken: the writer fails creating its own
$node->safe_psql('postgres', q{SELECT pg_create_physical_replication_slot('taken')});
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext});
# Count the failures in the log from $offset on, waiting (at most 30 s) for $min.
sub failures_from
{
	my ($offset, $min) = @_;
	my $n = 0;
	for (my $i = 0; $i < 300; $i++)
	{
		$n = () = slurp_file($node->logfile, $offset) =~ /all replication slots are in use/g;
		last if $n >= $min;
		select(undef, undef, undef, 0.1);
	}
	return $n;
}
ok(failures_from($log_offset, 1) >= 1, 'the writer fails: no free replication slot');
# then a window of 3 s: a retry about once a second, not a tight loop (that
# made hundreds), and retried all the same
$log_offset = -s $node->logfile;
sleep 3;
my $fails = () = slurp_file($node->logfile, $log_offset) =~ /all replication slots are in use/g;
ok($fails <= 6, "a failing writer is retried about once a second, not in a tight loop ($fails failures in 3 s)");
ok(failures_from($log_offset, $fails + 1) > $fails, '... and it is retried');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('taken')});
is(writer_running($node, 'postgres'), 't',
	'once a slot is free the writer runs');
$node->safe_psql('postgres', q{DROP EXTENSION cdc_ext});
is(poll_for($node, 'postgres', q{SELECT count(*) FROM pg_replication_slots}, '0'), '0', 'its slot is gone');

# 64 databases the launcher has seen, then dropped
foreach my $i (1 .. 64)
{
	$node->safe_psql('postgres', qq{CREATE DATABASE d$i});
}
# make the launcher look at the databases now
$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext});
sleep 3;
foreach my $i (1 .. 64)
{
	$node->safe_psql('postgres', qq{DROP DATABASE d$i WITH (FORCE)});
}
$node->safe_psql('postgres', q{DROP EXTENSION cdc_ext});
is(poll_for($node, 'postgres', q{SELECT count(*) FROM pg_replication_slots}, '0'), '0', 'no slot left');
# the launcher looks at the database list at least every 10 s
sleep 11;
$node->safe_psql('postgres', q{CREATE DATABASE fresh});
$node->safe_psql('fresh', q{CREATE EXTENSION cdc_ext});
is(writer_running($node, 'fresh', 150), 't',
	'a database created after 64 others were dropped gets its writer');
$node->safe_psql('fresh', q{DROP EXTENSION cdc_ext});

# (two databases with writers below: two slots)
$node->append_conf('postgresql.conf', "max_replication_slots = 4\n");
$node->restart;

# 70 databases without the extension: the launcher probes them all, but they
# must not take the entries that the databases with it need (they did: all
# 64 went to databases found without cdc_ext)
foreach my $i (1 .. 70)
{
	$node->safe_psql('postgres', qq{CREATE DATABASE n$i});
}
# the launcher looks at every database at once; count the writers it starts
# (the postmaster names each at DEBUG1)
$node->safe_psql('postgres', q{ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf()});
my $starts = sub {
	my ($offset) = @_;
	my @dbs = slurp_file($node->logfile, $offset) =~
	  /starting background worker process "cdc_ext log writer for database (\d+)"/g;
	return @dbs;
};
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext});
is(writer_running($node, 'postgres', 150), 't',
	'among 70 databases without cdc_ext, the one with it has its writer');
my %probed;
for (my $i = 0; $i < 6000 && keys %probed < 71; $i++)	# up to 10 minutes (a loaded 2-core machine took over 3)
{
	%probed = map { $_ => 1 } $starts->($log_offset);
	select(undef, undef, undef, 0.1);
}
ok(keys %probed >= 71, 'the launcher probed every database (' . scalar(keys %probed) . ' writers started)');
# each is probed again only every 30 s: a few in 5 s (a probe per second
# each, which giving the entries away could cause, would be hundreds)
$log_offset = -s $node->logfile;
sleep 5;
my $probes = () = $starts->($log_offset);
ok($probes <= 40, "databases without cdc_ext are probed now and then, not in a loop ($probes starts in 5 s)");
$node->safe_psql('postgres', q{ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf()});
$node->safe_psql('postgres', q{CREATE DATABASE fresh2});
$node->safe_psql('fresh2', q{CREATE EXTENSION cdc_ext});
is(writer_running($node, 'fresh2', 150), 't',
	'a database that creates the extension then gets its writer');
is(writer_running($node, 'postgres', 150), 't',
	'... and the first one keeps its own');

$node->stop;
done_testing();
