# Consumer groups through member deaths.  A writer commits transactions
# (captured by the log writer) while three members of each of two groups
# read, process and acknowledge:
#   g_eo: exactly-once: the sink write and the ack in one transaction (an
#         ack refused because another delivery was acknowledged first rolls
#         the sink write back);
#   g_alo: at-least-once: lease, sink, ack in three transactions.
# Members are killed mid-batch (the client with SIGKILL, the backend with
# pg_terminate_backend) and replaced by members that first claim what the
# dead ones held.  At the end every logged change is in the exactly-once
# sink exactly once, each row's changes in cursor order; in the
# at-least-once sink at least once, a change being processed again only in
# a delivery that came before its acknowledgement.  Then max_deliveries:
# a change nobody acknowledges moves to the dead letters and is replayed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('groups');

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE src (id int PRIMARY KEY, v int);
	SELECT cdc.set_capture(entities => '{src}');
	SELECT cdc.wait_for_log() IS NOT NULL;
	-- what members received: inbox (leased, not yet processed), the sinks,
	-- and the acknowledgements that succeeded, with the delivery they acked
	CREATE TABLE inbox (member text, commit_lsn pg_lsn, seq int, k int, dc int);
	CREATE TABLE sink_eo (n bigserial, member text, commit_lsn pg_lsn, seq int, k int);
	CREATE TABLE sink_alo (n bigserial, member text, commit_lsn pg_lsn, seq int, dc int);
	CREATE TABLE acked_alo (commit_lsn pg_lsn, seq int, dc int);

	-- transactions of 1 to 5 changes to 100 rows
	INSERT INTO src SELECT g, 0 FROM generate_series(1, 100) g;
	CREATE PROCEDURE writer_loop() LANGUAGE plpgsql AS $$
	BEGIN
		LOOP
			FOR i IN 0 .. (random() * 4)::int LOOP
				UPDATE src SET v = v + 1 WHERE id = 1 + (random() * 99)::int;
			END LOOP;
			COMMIT;
			PERFORM pg_sleep(0.01);
		END LOOP;
	END $$;

	-- exactly-once: claim what the dead held, then lease; process and ack
	-- each change in the batch's transaction (a refused ack undoes its write)
	CREATE PROCEDURE member_eo(m text) LANGUAGE plpgsql AS $$
	DECLARE r record;
	BEGIN
		DELETE FROM inbox WHERE member = m;
		INSERT INTO inbox SELECT m, commit_lsn, seq, entity_id::int, delivery_count
		FROM cdc.claim('g_eo', m, '1 s', '1 s');
		COMMIT;
		LOOP
			INSERT INTO inbox SELECT m, commit_lsn, seq, entity_id::int, delivery_count
			FROM cdc.read_group('g_eo', m, 10, '1 s');
			COMMIT;
			FOR r IN SELECT * FROM inbox WHERE member = m ORDER BY commit_lsn, seq LOOP
				BEGIN
					INSERT INTO sink_eo (member, commit_lsn, seq, k) VALUES (m, r.commit_lsn, r.seq, r.k);
					PERFORM pg_sleep(0.003);
					PERFORM cdc.ack('g_eo', r.commit_lsn, r.seq);
				EXCEPTION WHEN object_not_in_prerequisite_state THEN
					NULL;
				END;
			END LOOP;
			DELETE FROM inbox WHERE member = m;
			COMMIT;
		END LOOP;
	END $$;

	-- at-least-once: lease; sink; ack, each its own transaction
	CREATE PROCEDURE member_alo(m text) LANGUAGE plpgsql AS $$
	DECLARE r record;
	BEGIN
		LOOP
			DELETE FROM inbox WHERE member = m || '/alo';
			INSERT INTO inbox SELECT m || '/alo', commit_lsn, seq, NULL, delivery_count
			FROM cdc.read_group('g_alo', m, 10, '1 s');
			COMMIT;
			INSERT INTO sink_alo (member, commit_lsn, seq, dc)
			SELECT m, commit_lsn, seq, dc FROM inbox WHERE member = m || '/alo';
			COMMIT;
			-- the work is done and stored, not acknowledged yet
			IF FOUND THEN
				PERFORM pg_sleep(0.03);
			END IF;
			FOR r IN SELECT * FROM inbox WHERE member = m || '/alo' ORDER BY commit_lsn, seq LOOP
				BEGIN
					PERFORM cdc.ack('g_alo', r.commit_lsn, r.seq);
					INSERT INTO acked_alo VALUES (r.commit_lsn, r.seq, r.dc);
				EXCEPTION WHEN object_not_in_prerequisite_state THEN
					NULL;
				END;
			END LOOP;
			COMMIT;
		END LOOP;
	END $$;

	SELECT cdc.create_group('g_eo', entities => '{src}', start => 'beginning');
	SELECT cdc.create_group('g_alo', entities => '{src}', start => 'beginning');
});

# Each loop in its own psql; the server notices a SIGKILLed client within
# 100 ms (client_connection_check_interval) and ends its transaction.
sub start_loop
{
	my ($call, $name) = @_;
	return start_psql($node, 'postgres', "CALL $call", name => $name,
		options => '-c client_connection_check_interval=100');
}

my $writer = start_loop('writer_loop()', 'writer');
my %members;
my $gen = 0;
for my $i (1 .. 3)
{
	$gen++;
	$members{"eo$i"} = start_loop("member_eo('eo$gen')", "eo$i");
	$members{"alo$i"} = start_loop("member_alo('alo$gen')", "alo$i");
}

# rounds: one member of each kind killed each way, mid-batch, then replaced
for my $round (1 .. 4)
{
	usleep(700_000);
	for my $kind ('eo', 'alo')
	{
		# mid-batch: the second member is terminated by the server in its
		# work (pg_sleep with leases held; for eo inside the sink's open
		# transaction), seen and terminated in one statement (a wait and
		# then a kill missed the 30 ms window: no change processed again);
		# the first dies as a client (SIGKILL), wherever it is
		my $caught = 0;
		for (1 .. 500)
		{
			$caught = $node->safe_psql('postgres', qq{
				SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = '${kind}2' AND wait_event = 'PgSleep'});
			last if $caught;
			usleep(10_000);
		}
		my $victim = $members{"${kind}1"};
		$victim->{h}->signal('KILL');	# the client dies: SIGKILL
		$victim->{h}->finish;
		my $other = $members{"${kind}2"};
		$node->safe_psql('postgres',
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${kind}2'")
		  unless $caught;
		$other->{h}->finish;
		$gen++;
		$members{"${kind}1"} = start_loop("member_$kind('$kind$gen')", "${kind}1");
		$gen++;
		$members{"${kind}2"} = start_loop("member_$kind('$kind$gen')", "${kind}2");
	}
}
stop_psql($node, $writer);
$node->safe_psql('postgres', 'SELECT cdc.wait_for_log()');
my $logged = $node->safe_psql('postgres', "SELECT count(*) FROM cdc.log WHERE entity = 'public.src'");
ok($logged > 100, "the writer logged changes ($logged)");

# drain: the living members finish everything, dead members' leases included
my $drained = 0;
for (1 .. 600)
{
	my $left = $node->safe_psql('postgres',
		"SELECT sum(lag_changes) FROM cdc.groups WHERE name IN ('g_eo', 'g_alo')");
	if ($left == 0) { $drained = 1; last; }
	usleep(100_000);
}
ok($drained, 'both groups acknowledged everything');
stop_psql($node, $_) for values %members;

# exactly-once: every logged change in the sink once, nothing else
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT * FROM cdc.log WHERE entity = 'public.src') l FULL JOIN
		(SELECT commit_lsn, seq, count(*) AS n FROM sink_eo GROUP BY 1, 2) s USING (commit_lsn, seq)
	WHERE s.n IS DISTINCT FROM 1}), '0', 'exactly-once sink: each logged change exactly once');
# per-row order: each row's changes were processed in cursor order
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		SELECT (commit_lsn, seq) < lag((commit_lsn, seq)) OVER (PARTITION BY k ORDER BY n) AS back
		FROM sink_eo) x WHERE back}), '0', 'exactly-once sink: each row in cursor order');
cmp_ok($node->safe_psql('postgres', 'SELECT count(DISTINCT member) FROM sink_eo'), '>', 3,
	'the work was spread over members, replacements included');

# at-least-once: every logged change at least once; acknowledged once; a
# change processed again only in a delivery from before its acknowledgement
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM cdc.log l LEFT JOIN sink_alo s USING (commit_lsn, seq)
	WHERE l.entity = 'public.src' AND s.n IS NULL}), '0', 'at-least-once sink: every logged change');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT * FROM cdc.log WHERE entity = 'public.src') l FULL JOIN
		(SELECT commit_lsn, seq, count(*) AS n FROM acked_alo GROUP BY 1, 2) a USING (commit_lsn, seq)
	WHERE a.n IS DISTINCT FROM 1}), '0', 'at-least-once: each change acknowledged exactly once');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM sink_alo s JOIN acked_alo a USING (commit_lsn, seq) WHERE s.dc > a.dc}),
	'0', 'at-least-once: no delivery after the acknowledgement');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT 1 FROM sink_alo GROUP BY commit_lsn, seq, dc HAVING count(*) > 1) d}),
	'0', 'at-least-once: no delivery handed to two members');
my $dups = $node->safe_psql('postgres',
	'SELECT count(*) - count(DISTINCT (commit_lsn, seq)) FROM sink_alo');
cmp_ok($dups, '>', 0, "members died mid-batch: changes processed again ($dups)");
is($node->safe_psql('postgres', 'SELECT count(*) FROM cdc.group_entry'), '0',
	'no entries left behind once the watermark passed them');

# max_deliveries: a change nobody acknowledges is delivered 3 times, then
# moved to the dead letters; later changes of its row go on; replay hands
# it back, and its ack removes it
$node->safe_psql('postgres', q{
	SELECT cdc.create_group('g_dl', entities => '{src}', start => 'now', max_deliveries => 3);
	BEGIN;
	UPDATE src SET v = v + 1 WHERE id = 99;
	UPDATE src SET v = v + 1 WHERE id = 99;
	COMMIT;
});
$node->safe_psql('postgres', 'SELECT cdc.wait_for_log()');
my @counts;
for (1 .. 4)
{
	push @counts, $node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(seq || ':' || delivery_count, ','), '-')
		  FROM cdc.read_group('g_dl', 'poison', 1, '50 ms')});
	usleep(150_000);
}
is(join(' ', @counts), '1:1 1:2 1:3 2:1', 'delivered max_deliveries times, then the next change of the row');
is($node->safe_psql('postgres',
	q{SELECT seq || ':' || delivery_count || ':' || last_member FROM cdc.dead_letters('g_dl')}),
	'1:3:poison', 'the dead letter, with its deliveries and last member');
$node->safe_psql('postgres', q{
	SELECT cdc.ack('g_dl', commit_lsn, seq) FROM cdc.pending('g_dl');
	SELECT cdc.replay_dead_letters('g_dl');
});
is($node->safe_psql('postgres', q{
	SELECT string_agg(seq || ':' || delivery_count, ',') FROM cdc.read_group('g_dl', 'fixed', 10)}),
	'1:1', 'replayed: delivered again with a fresh count');
$node->safe_psql('postgres',
	q{SELECT cdc.ack('g_dl', commit_lsn, seq) FROM cdc.pending('g_dl')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.dead_letters('g_dl')}), '0',
	'acknowledged after replay: no dead letter left');

$node->stop;
done_testing();
