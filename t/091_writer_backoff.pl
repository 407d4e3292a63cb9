# A writer that fails at once every time (here: no free replication slot) is
# started again after a delay, not in a tight loop; and a database's shared
# entry is given back when the database is dropped, so that 64 databases
# created and dropped do not leave a new one without a writer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('backoff');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', scalar `bash $ENV{TESTDIR}/scripts/pgconf.sh`);
$node->append_conf('postgresql.conf', "max_replication_slots = 1\n");
$node->start;

sub poll_for
{
	my ($db, $sql, $want, $tries) = @_;
	my $got;
	for (my $i = 0; $i < ($tries // 300); $i++)
	{
		my ($ret, $out) = $node->psql($db, $sql);
		$got = $out;
		return $got if $ret == 0 && $got eq $want;
		select(undef, undef, undef, 0.1);
	}
	return $got;
}

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
is(poll_for('postgres', q{SELECT running FROM cdc.writer_info()}, 't'), 't',
	'once a slot is free the writer runs');
$node->safe_psql('postgres', q{DROP EXTENSION cdc_ext});
is(poll_for('postgres', q{SELECT count(*) FROM pg_replication_slots}, '0'), '0', 'its slot is gone');

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
is(poll_for('postgres', q{SELECT count(*) FROM pg_replication_slots}, '0'), '0', 'no slot left');
# the launcher looks at the database list at least every 10 s
sleep 11;
$node->safe_psql('postgres', q{CREATE DATABASE fresh});
$node->safe_psql('fresh', q{CREATE EXTENSION cdc_ext});
is(poll_for('fresh', q{SELECT running FROM cdc.writer_info()}, 't', 150), 't',
	'a database created after 64 others were dropped gets its writer');

$node->stop;
done_testing();
