# The log writer's slot during a backfill (issue 18: "the writer's slot
# holds no more WAL than without a backfill").  A backfill writes its rows
# into the log at tens of MB/s of WAL, all of it the writer's own, which it
# decodes and skips; a slot's restart_lsn moves only where decoding met a
# running-xacts record, and the server logs one every 15 seconds, so the
# slot held 150 to 430 MB during bench/backfill.sh's backfills.  The writer
# now logs such a record itself once its slot holds 16 MB (src/log/writer.c).
# Sampled every 50 ms through a backfill of about 200 MB of log WAL.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('bfwal', conf => "max_wal_size = 4GB\ncheckpoint_timeout = 1h\n");
$node->safe_psql('postgres', q{
	CREATE TABLE wide (id int PRIMARY KEY, body text);
	INSERT INTO wide SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 150000) g;
	CREATE EXTENSION cdc_ext;
});
wait_for_capture($node, 'postgres');
# the slot at rest: what it holds with nothing written
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(pg_current_wal_lsn(), '60 s')});

my $start = $node->safe_psql('postgres', q{SELECT pg_current_wal_lsn()});
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('bf', start => 'snapshot')});
my ($peak, $state) = (0, '');
for (1 .. 6000)
{
	my ($held, $st) = split /\|/, $node->safe_psql('postgres', q{
		SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,
		       (SELECT state FROM cdc.backfills WHERE consumer = 'bf')
		FROM pg_replication_slots s JOIN cdc.log_state l ON l.slot_name = s.slot_name});
	$peak = $held if $held > $peak;
	$state = $st;
	last if $state eq 'done';
	usleep(50_000);
}
is($state, 'done', 'the backfill of 150,000 rows ends');
my $written = $node->safe_psql('postgres',
	qq{SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$start')::bigint});
note sprintf 'WAL written during the backfill: %.1f MB; the writer slot held at most %.1f MB',
	$written / 1048576, $peak / 1048576;
cmp_ok($written, '>', 150 * 1048576, 'the backfill wrote more than 150 MB of WAL');
cmp_ok($peak, '<', 64 * 1048576, 'the writer slot never held more than 64 MB of it');

done_testing();
