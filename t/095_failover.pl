# Failover of the log writer to a physical standby (docs/failover.md).
#
# A primary with a synchronous physical standby (its own physical slot,
# hot_standby_feedback; on 17 and later sync_replication_slots, dbname in
# primary_conninfo, and the standby's slot in the primary's
# synchronized_standby_slots).  While two clients commit one row per
# transaction and the writer ingests, and a consumer and a consumer group
# move their checkpoint and acknowledgements in the same transactions as
# their sinks, the primary is stopped with -m immediate and the standby
# promoted.
#
# 17 and later: the writer's slot is a failover slot, synchronized to the
# standby; on the promoted server the writer continues from it (no new
# slot), every commit acknowledged to a client is in the log exactly once,
# every row the new primary holds is logged exactly once, and the consumer
# and the group, continuing from their checkpoint and acknowledgements,
# receive every logged change exactly once.
#
# 15: no slot follows a failover.  The promoted server's writer finds its
# slot missing, starts a new one and records the range it cannot log as a
# gap for the consumer and the group: cdc.consumers and cdc.groups say so,
# and cdc.stream raises the gap error naming a range that covers every
# change the old primary had not logged.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $primary = cdc_node('primary');
my $failover_slots = $primary->pg_version >= 17;
$primary->safe_psql('postgres', q{
	SELECT pg_create_physical_replication_slot('standby1_slot');
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (client int, n int, PRIMARY KEY (client, n));
	CREATE TABLE warm (i int);
	CREATE TABLE consumer_sink (commit_lsn pg_lsn, seq int, client int, n int);
	CREATE TABLE group_sink (commit_lsn pg_lsn, seq int, client int, n int);
	SELECT cdc.create_consumer('c1', entities => '{public.t}');
	SELECT cdc.create_group('g1', entities => '{public.t}');
});
$primary->safe_psql('postgres', q{SELECT cdc.wait_for_log()});

$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby1');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
# the connection string with the database (slot synchronization needs it)
# and the name synchronous_standby_names knows; once promoted, this server
# has no standby of its own to wait for
$standby->append_conf('postgresql.conf', "primary_conninfo = '"
	  . $primary->connstr . " dbname=postgres application_name=standby1'\n"
	  . "primary_slot_name = 'standby1_slot'\n"
	  . "hot_standby_feedback = on\n"
	  . "synchronous_standby_names = ''\n");
$standby->append_conf('postgresql.conf', "sync_replication_slots = on\n"
	  . "synchronized_standby_slots = ''\n") if $failover_slots;
$standby->start;
# synchronous from now on (before, the setup's commits would have waited,
# and so would the writer's slot)
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'standby1'\n");
$primary->append_conf('postgresql.conf', "synchronized_standby_slots = 'standby1_slot'\n")
  if $failover_slots;
$primary->reload;
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is(poll_for($primary, 'postgres', q{
	SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'}, 'sync'),
	'sync', 'the standby is synchronous');

my $slot = $primary->safe_psql('postgres', q{
	SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%'});
if ($failover_slots)
{
	is($primary->safe_psql('postgres', qq{
		SELECT failover FROM pg_replication_slots WHERE slot_name = '$slot'}),
		't', 'the writer\'s slot is a failover slot');
	# the standby copies the slot once the slot's catalog horizon has
	# passed the one the standby can guarantee (PostgreSQL: "could not
	# synchronize replication slot ... could lead to data loss"): the slot
	# moves when the writer confirms what it logged, so a trickle of
	# changes to a captured table (16 MB of WAL without any would do too)
	my $synced = '';
	for (my $i = 0; $i < 600 && $synced ne 't'; $i++)
	{
		$primary->safe_psql('postgres', "INSERT INTO warm VALUES ($i)");
		$synced = $standby->safe_psql('postgres', qq{
			SELECT coalesce(bool_and(synced AND NOT temporary), false)
			FROM pg_replication_slots WHERE slot_name = '$slot'});
		usleep(500_000) if $synced ne 't';
	}
	is($synced, 't', 'the standby has a synchronized copy of the writer\'s slot');
}

# two clients, one row per transaction, each printing what was acknowledged
my @clients;
foreach my $c (1, 2)
{
	my $sql = "$PostgreSQL::Test::Utils::tmp_check/client$c.sql";
	open(my $fh, '>', $sql) or die $!;
	print $fh "INSERT INTO t VALUES ($c, $_) RETURNING 'ack ' || client || ' ' || n;\n" for 1 .. 30000;
	close $fh;
	push @clients, start_psql($primary, 'postgres', undef, file => $sql,
		flags => [ '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1' ]);
}

# the consumer and the group drain into their sinks, each batch in the
# transaction that moves its checkpoint or acknowledges it
my $consume_sql = q{
	INSERT INTO consumer_sink
	SELECT commit_lsn, seq, (new_data->>'client')::int, (new_data->>'n')::int
	FROM cdc.consume('c1', batch_size => 200)};
my $group_sql = q{
	BEGIN;
	CREATE TEMP TABLE batch ON COMMIT DROP AS
		SELECT commit_lsn, seq, (new_data->>'client')::int AS client, (new_data->>'n')::int AS n
		FROM cdc.read_group('g1', 'm1', batch_size => 200);
	INSERT INTO group_sink SELECT * FROM batch;
	SELECT cdc.ack('g1', array_agg(commit_lsn), array_agg(seq)) FROM batch HAVING count(*) > 0;
	COMMIT;};
my $until = time() + 4;
while (time() < $until)
{
	$primary->psql('postgres', $consume_sql);
	$primary->psql('postgres', $group_sql);
	usleep(100_000);
}
my $logged = $primary->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.t'});
ok($logged > 0, "the writer logged while the clients committed ($logged rows so far)");

$primary->stop('immediate');
my %acked;
foreach my $cl (@clients)
{
	$cl->{h}->finish;
	$acked{$_} = 1 for map { /^ack (\d+ \d+)$/ ? $1 : () } split /\n/, ${ $cl->{out} };
}
my $nacked = scalar keys %acked;
ok($nacked > 100, "the clients had commits acknowledged before the stop ($nacked)");

# what the standby has that its log does not (yet)
my $unlogged = $standby->safe_psql('postgres', q{
	SELECT count(*) FROM t WHERE NOT EXISTS (SELECT 1 FROM cdc.log l
		WHERE l.entity = 'public.t' AND (l.new_data->>'client')::int = t.client
		AND (l.new_data->>'n')::int = t.n)});
my $standby_confirmed = $standby->safe_psql('postgres', q{SELECT confirmed_lsn FROM cdc.log_state});
my $replayed = $standby->safe_psql('postgres', q{SELECT pg_last_wal_replay_lsn()});
note("rows on the standby not yet logged at the stop: $unlogged");

$standby->promote;
$standby->safe_psql('postgres', q{SELECT cdc.wait_for_log(timeout => '120 s')});
is($standby->safe_psql('postgres', q{SELECT writer_running FROM cdc.status()}), 't',
	'a writer runs on the promoted server');

# every acknowledged commit made it to the promoted server (synchronous)
my $acked_list = join(',', map { my ($c, $n) = split / /; "($c,$n)" } sort keys %acked);
$standby->safe_psql('postgres', "CREATE TABLE acked (client int, n int); INSERT INTO acked VALUES $acked_list");
is($standby->safe_psql('postgres', q{
	SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM t WHERE (t.client, t.n) = (a.client, a.n))}),
	'0', 'every acknowledged commit is on the promoted server');
is($standby->safe_psql('postgres', q{
	SELECT count(*) - count(DISTINCT (commit_lsn, seq)) FROM cdc.log}), '0',
	'the log holds no position twice');
is($standby->safe_psql('postgres', q{
	SELECT count(*) - count(DISTINCT new_data) FROM cdc.log WHERE entity = 'public.t'}), '0',
	'no row is logged twice');

# drain the consumer and the group on the promoted server
# (done when the consumer reads nothing and the group has nothing left to
# acknowledge: a lease taken on the old primary, if one survived, is
# delivered again once its visibility timeout passes)
sub drain
{
	for (my $i = 0; $i < 900; $i++)
	{
		my ($rc1, $c) = $standby->psql('postgres', $consume_sql . ' RETURNING 1');
		my ($rc2, $g) = $standby->psql('postgres', $group_sql);
		return 0 if $rc1 != 0;
		return 1 if $rc2 == 0 && $c eq '' && $g !~ /^[1-9]/m
		  && $standby->safe_psql('postgres', q{SELECT lag_changes FROM cdc.groups WHERE name = 'g1'}) eq '0';
		usleep(100_000) if $c eq '';
	}
	return 0;
}

if ($failover_slots)
{
	ok(!$standby->log_contains(qr/cdc_ext: created replication slot/),
		'the promoted server\'s writer continued from the synchronized slot (made none)');
	is($standby->safe_psql('postgres', q{
		SELECT count(*) FROM t FULL JOIN (SELECT (new_data->>'client')::int AS client,
			(new_data->>'n')::int AS n FROM cdc.log WHERE entity = 'public.t') l USING (client, n)
		WHERE t.client IS NULL OR l.client IS NULL}), '0',
		'every row of the promoted server is logged, nothing else is');
	is($standby->safe_psql('postgres', q{
		SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM cdc.log l
			WHERE l.entity = 'public.t' AND (l.new_data->>'client')::int = a.client
			AND (l.new_data->>'n')::int = a.n)}), '0',
		'every acknowledged commit is in the log');

	# a commit on the new primary arrives too
	$standby->safe_psql('postgres', q{INSERT INTO t VALUES (3, 1)});
	$standby->safe_psql('postgres', q{SELECT cdc.wait_for_log(timeout => '60 s')});
	ok(drain(), 'the consumer and the group drain on the promoted server');
	foreach my $sink ('consumer_sink', 'group_sink')
	{
		is($standby->safe_psql('postgres', qq{
			SELECT count(*) FROM (SELECT commit_lsn, seq FROM cdc.log WHERE entity = 'public.t') l
			FULL JOIN $sink s USING (commit_lsn, seq) WHERE l.commit_lsn IS NULL OR s.commit_lsn IS NULL}),
			'0', "$sink received every logged change, and nothing else");
		is($standby->safe_psql('postgres', qq{
			SELECT count(*) - count(DISTINCT (commit_lsn, seq)) FROM $sink}), '0',
			"$sink received no change twice");
	}
	is($standby->safe_psql('postgres', q{SELECT count(*) FROM cdc.consumers WHERE gap}), '0',
		'no consumer has a gap');
}
else
{
	# 15: the slot is gone with the old primary; the loss must be loud
	is(poll_for($standby, 'postgres', q{SELECT gap FROM cdc.consumers WHERE name = 'c1'}, 't', 100),
		't', 'the consumer has a gap after the failover');
	is($standby->safe_psql('postgres', q{SELECT gap FROM cdc.groups WHERE name = 'g1'}),
		't', 'the group has a gap after the failover');
	my ($rc, $out, $err) = $standby->psql('postgres', q{SELECT count(*) FROM cdc.stream('c1')});
	like($err, qr/consumer "c1" has lost changes committed between ([0-9A-F]+\/[0-9A-F]+) and ([0-9A-F]+\/[0-9A-F]+)/,
		'cdc.stream raises the gap error');
	my ($from, $to) = $err =~ /between ([0-9A-F]+\/[0-9A-F]+) and ([0-9A-F]+\/[0-9A-F]+)/;
	SKIP:
	{
		skip 'no range in the error', 1 unless defined $to;
		is($standby->safe_psql('postgres', qq{
			SELECT '$from'::pg_lsn <= '$standby_confirmed'::pg_lsn AND '$to'::pg_lsn >= '$replayed'::pg_lsn}),
			't', "the lost range ($from to $to) covers everything the old primary had not logged "
			  . "(logged up to $standby_confirmed, replayed up to $replayed)");
	}
	is($standby->safe_psql('postgres', q{
		SELECT count(*) FROM (SELECT (new_data->>'client')::int AS client, (new_data->>'n')::int AS n
			FROM cdc.log WHERE entity = 'public.t') l
		WHERE NOT EXISTS (SELECT 1 FROM t WHERE (t.client, t.n) = (l.client, l.n))}), '0',
		'the log holds only rows the promoted server has');
}

$standby->stop;
done_testing();
