# The launcher can exit on an error and be restarted by the postmaster (after
# bgw_restart_time, without a crash restart) while the writers run on: the new
# launcher must keep them, neither hiding them from writer_info() nor starting
# a second writer for a database that has one.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('launcher', conf => "restart_after_crash = on\n");

$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext; CREATE TABLE t (id int PRIMARY KEY)});
is(writer_running($node, 'postgres'), 't', 'the writer runs');
my $writer = $node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()});
my $launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdc_ext launcher'});
my $log_offset = -s $node->logfile;

# a cancel is an ERROR in the launcher: it exits with 1, the postmaster starts it again
$node->safe_psql('postgres', qq{SELECT pg_cancel_backend($launcher)});
is(poll_for($node, 'postgres',
	qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cdc_ext launcher' AND pid <> $launcher}, '1'),
	'1', 'the launcher is back');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $writer}), '1',
	'the writer ran on meanwhile (no crash restart)');
# give the new launcher a few rounds
sleep 4;
is($node->safe_psql('postgres', q{SELECT running::text || ' ' || pid FROM cdc.writer_info()}), "true $writer",
	'writer_info still shows the writer that runs');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/replication slot "cdc_ext_log_\d+" is active for PID/,
	'the new launcher started no second writer for the database');
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1)});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log}), '1', 'logging goes on');

# SIGTERM (pg_terminate_backend): the launcher must come back too (an exit
# code of 0 would unregister it for good)
$launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdc_ext launcher'});
$node->safe_psql('postgres', qq{SELECT pg_terminate_backend($launcher)});
is(poll_for($node, 'postgres',
	qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cdc_ext launcher' AND pid <> $launcher}, '1'),
	'1', 'the launcher is back after pg_terminate_backend');

$node->stop;
done_testing();
