# PostgreSQL 18's idle_replication_slot_timeout never invalidates the slot of
# a running log writer: the writer keeps its slot acquired (it is active,
# never idle) while it waits for WAL, so the checkpoints that invalidate
# idle slots pass it by.  A slot nobody uses beside it is invalidated by the
# same checkpoints, which shows the timeout is in force.
#
# And a writer slot invalidated while no writer ran (here: the server ran
# without the preload, so nothing held the slot) is a gap for every
# consumer, never a silent restart (docs/log.md, docs/failover.md).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = PostgreSQL::Test::Cluster->new('idle');
if ($node->pg_version < 18)
{
	plan skip_all => 'idle_replication_slot_timeout is new in PostgreSQL 18';
}
cdc_init($node, conf => "idle_replication_slot_timeout = 1\n");
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT cdc.create_consumer('c1');
	SELECT 'probe' FROM pg_create_logical_replication_slot('idle_probe', 'test_decoding');
});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
my $slot = $node->safe_psql('postgres', q{
	SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%'});
ok($slot ne '', "the writer's slot: $slot");

# idle for longer than the timeout, with checkpoints (which invalidate)
foreach my $round (1 .. 3)
{
	sleep(2);
	$node->safe_psql('postgres', 'CHECKPOINT');
}
is($node->safe_psql('postgres', q{
	SELECT invalidation_reason FROM pg_replication_slots WHERE slot_name = 'idle_probe'}),
	'idle_timeout', 'an unused slot beside it is invalidated as idle');
is($node->safe_psql('postgres', qq{
	SELECT coalesce(invalidation_reason, 'valid') || ' ' || active FROM pg_replication_slots
	WHERE slot_name = '$slot'}),
	'valid true', 'the running writer\'s slot is active and valid');
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1)});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.t'}),
	'1', 'the writer still logs after the checkpoints');
$node->safe_psql('postgres', q{SELECT count(*) FROM cdc.consume('c1')});

# no writer: the slot idles and is invalidated; a writer that comes back
# must tell the consumer what it lost
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('idle_probe')});
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
$node->safe_psql('postgres', q{INSERT INTO t VALUES (2)});
sleep(2);
$node->safe_psql('postgres', 'CHECKPOINT');
is($node->safe_psql('postgres', qq{
	SELECT invalidation_reason FROM pg_replication_slots WHERE slot_name = '$slot'}),
	'idle_timeout', 'the slot of a stopped writer is invalidated as idle');
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cdc_ext'\n");
$node->restart;
is(poll_for($node, 'postgres', q{SELECT gap FROM cdc.consumers WHERE name = 'c1'}, 't', 100),
	't', 'the consumer has a gap once the writer finds its slot invalidated');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM cdc.stream('c1')});
like($err, qr/consumer "c1" has lost changes committed between/, 'cdc.stream raises the gap error');

$node->stop;
done_testing();
