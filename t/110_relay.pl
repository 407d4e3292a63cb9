# cdc_relay publishes a consumer's changes to a NATS JetStream stream
# exactly once and in cursor order, whatever fails: on a real 3-node
# JetStream cluster on loopback (Debian's nats-server) with an R3 stream and
# a duplicate window of one second (so that Nats-Msg-Id deduplication alone
# cannot hide a duplicate after an outage), while sessions commit, the relay
# is killed with SIGKILL again and again, one NATS node is killed
# (publishing goes on), every node is down for a while (the relay waits,
# with backoff), PostgreSQL is stopped with -m immediate, and the relay is
# killed again and again while it drains a backlog with thousands of
# publishes unacknowledged.  At the end
# the stream, read back message by message, holds every logged change of
# the table exactly once, in cursor order, as the ChangeEntry JSON, and the
# consumer has no lag.  Then SIGTERM stops the relay with status 0.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use JSON::PP;
use lib "$ENV{TESTDIR}/t";
use NatsCluster;

plan skip_all => 'nats-server is not installed (scripts/deps.sh installs Debian\'s nats-server)'
  unless NatsCluster::server_binary();

my $relay_bin = -x "$ENV{TESTDIR}/relay/cdc_relay" ? "$ENV{TESTDIR}/relay/cdc_relay"
  : (grep { -x } map { "$_/cdc_relay" } split(/:/, $ENV{PATH}))[0];
ok(defined $relay_bin, 'cdc_relay is built') or BAIL_OUT('cdc_relay not found (make builds it with libnats-dev)');

my $node = PostgreSQL::Test::Cluster->new('relay');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', scalar `bash $ENV{TESTDIR}/scripts/pgconf.sh`);
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id bigserial PRIMARY KEY, round int, payload text);
	CREATE TABLE other (id int PRIMARY KEY);
});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});

my $natsdir = "$PostgreSQL::Test::Utils::tmp_check/nats_relay";
my $nats = NatsCluster->new($natsdir, 3);
$nats->start;
ok($nats->wait_healthy(60), 'the 3-node JetStream cluster is up');

my $relay_log = "$PostgreSQL::Test::Utils::log_path/110_relay_cdc_relay.log";
my $relay_pid;
my $conninfo = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

sub start_relay
{
	my (@extra) = @_;
	$relay_pid = fork();
	die "fork: $!" unless defined $relay_pid;
	if ($relay_pid == 0)
	{
		open(STDOUT, '>>', $relay_log);
		open(STDERR, '>&', \*STDOUT);
		exec($relay_bin, '-d', $conninfo, '--consumer', 'to_nats', '--servers', $nats->urls,
			'--stream', 'CDC', '--replicas', '3', '--duplicate-window', '1s',
			'--entities', 'public.t', '--start', 'beginning',
			'--batch-size', '200', '--max-inflight', '1000', '--batch-timeout', '200',
			'--ack-timeout', '3000', '--max-backoff', '1000', '--stats-interval', '5', @extra)
		  or die "exec: $!";
	}
}

sub kill_relay
{
	kill('KILL', $relay_pid);
	waitpid($relay_pid, 0);
}

# committers: transactions of 1 to 4 rows, a few hundred a second, and every
# 150th a transaction of 700 rows (more than a batch: the relay stops and
# resumes inside it)
my $round = 0;
sub start_workload
{
	my ($n) = @_;
	$round++;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/go/, qq{
		\\echo go
		DO \$\$ BEGIN FOR i IN 1..$n LOOP
			INSERT INTO t (round, payload)
				SELECT $round, 'r' || g FROM generate_series(1, CASE WHEN i % 150 = 0 THEN 700 ELSE 1 + i % 4 END) g;
			INSERT INTO other VALUES ($round * 100000 + i);
			COMMIT;
			PERFORM pg_sleep(0.003);
		END LOOP; END \$\$;
	});
	return $bg;
}

# the number of messages in the stream (retried while the stream has no
# leader: --dump fails then)
sub stream_count
{
	for (1 .. 120)
	{
		my $out = `$relay_bin --servers '${\ $nats->urls}' --stream CDC --dump 2>/dev/null`;
		return scalar(() = $out =~ /\n/g) if $? == 0;
		usleep(500_000);
	}
	return -1;
}

start_relay();
my $w = start_workload(3000);
my $first = 0;
for (1 .. 120)
{
	last if ($first = stream_count()) > 0;
	usleep(500_000);
}
ok($first > 0, 'the relay created the stream and publishes');

# 1. the relay killed with SIGKILL, again and again, while sessions commit
foreach my $pause_ms (300, 800, 150, 1200, 500, 50, 900, 400)
{
	usleep($pause_ms * 1000);
	kill_relay();
	start_relay();
}
usleep(1_500_000);

# 2. the stream's leader node killed: the R3 stream elects another and keeps
# taking changes
my $leader = $nats->stream_leader('CDC');
ok(defined $leader, 'the stream has a leader');
# (the consumer's checkpoint moves only once JetStream acknowledged)
$nats->stop_node($leader // 0, 'KILL');
my $w2 = start_workload(3000);
my $acked = q{SELECT (checkpoint_lsn - '0/0'::pg_lsn)::bigint FROM cdc.consumers WHERE name = 'to_nats'};
# what was acknowledged before the kill has been committed 2 s after it;
# then the checkpoint must move again, through the new leader (the election
# and the relay's backoff took longer than a fixed 5 s window once)
usleep(2_000_000);
my $before = $node->safe_psql('postgres', $acked);
my $during = $before;
for (my $i = 0; $i < 900 && $during <= $before; $i++)
{
	usleep(100_000);
	$during = $node->safe_psql('postgres', $acked);
}
ok($during > $before, "publishing goes on with the leader n$leader down (acknowledged up to $before, then $during)");
$nats->start_node($leader // 0);
eval { $w2->quit };

# 3. every node down for a while: the relay waits with backoff, loses nothing
eval { $w->quit };
$w = start_workload(3000);
usleep(1_000_000);
$nats->stop('KILL');
usleep(6_000_000);
$nats->start;
ok($nats->wait_healthy(60), 'the cluster is back');
# a row committed now is published once the relay is through its retries
my $cp = $node->safe_psql('postgres', $acked);
$node->safe_psql('postgres', q{INSERT INTO t (round, payload) VALUES (0, 'after the outage')});
is(poll_until(qq{SELECT (checkpoint_lsn - '0/0'::pg_lsn)::bigint > $cp FROM cdc.consumers WHERE name = 'to_nats'}, 't', 180),
	't', 'after the outage the relay publishes again');

# 4. PostgreSQL stopped with -m immediate under the running relay, which
# reconnects by itself
$node->stop('immediate');
eval { $w->quit };
usleep(1_000_000);
$node->start;
$w = start_workload(1000);
$cp = $node->safe_psql('postgres', $acked);
$node->safe_psql('postgres', q{INSERT INTO t (round, payload) VALUES (0, 'after the immediate stop')});
is(poll_until(qq{SELECT (checkpoint_lsn - '0/0'::pg_lsn)::bigint > $cp FROM cdc.consumers WHERE name = 'to_nats'}, 't', 180),
	't', 'after the immediate stop the relay reconnects and publishes');
kill_relay();
eval { $w->quit };

# 5. SIGKILL while thousands of publishes are outstanding: a backlog of
# 30,000 changes (transactions of 1,000, of 3 and of 5,000: a round ends
# inside one), drained with up to 5,000 unacknowledged publishes, the relay
# killed again and again a moment after it starts, in the middle of its
# window (acknowledged and not, committed and not)
$node->safe_psql('postgres', q{
	DO $$ BEGIN
		FOR i IN 1..20 LOOP
			INSERT INTO t (round, payload) SELECT -2, 'backlog ' || g FROM generate_series(1, 1000) g;
			COMMIT;
			INSERT INTO t (round, payload) SELECT -2, 'small ' || g FROM generate_series(1, 3) g;
			COMMIT;
		END LOOP;
	END $$;
	INSERT INTO t (round, payload) SELECT -2, 'large ' || g FROM generate_series(1, 5000) g;
	INSERT INTO t (round, payload) SELECT -2, 'tail ' || g FROM generate_series(1, 4940) g;});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(timeout => '120 s')});
my @window = ('--batch-size', '1000', '--max-inflight', '5000');
foreach my $pause_ms (700, 1100, 400, 1500, 900, 250, 1300)
{
	start_relay(@window);
	usleep($pause_ms * 1000);
	kill_relay();
}
start_relay(@window);

# the end: one last row, then wait for the relay to catch up with the log
$node->safe_psql('postgres', q{INSERT INTO t (round, payload) VALUES (-1, 'last')});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(timeout => '120 s')});
my $lag = poll_until(q{SELECT lag_changes FROM cdc.consumers WHERE name = 'to_nats'}, '0', 120);
is($lag, '0', 'the relay caught up: no lag in cdc.consumers');

kill('TERM', $relay_pid);
waitpid($relay_pid, 0);
is($? >> 8, 0, 'SIGTERM stops the relay with status 0');

# read the stream back
my @msgs = map { [ split(/\t/, $_, 5) ] } split(/\n/, `$relay_bin --servers '${\ $nats->urls}' --stream CDC --dump`);
is($? >> 8, 0, '--dump reads the stream');
my $logged = $node->safe_psql('postgres', q{
	SELECT string_agg(commit_lsn || ':' || seq || ' ' || (new_data->>'id') || ' '
		|| (extract(epoch FROM "timestamp") * 1000000)::bigint, ',' ORDER BY commit_lsn, seq)
	FROM cdc.log WHERE entity = 'public.t'});
my @want = split(/,/, $logged);
my $rows = $node->safe_psql('postgres', q{SELECT count(*) FROM t});
is(scalar(@want), $rows, "every committed row is in the log ($rows)");

my (%seen_cursor, %seen_id, $dups, $out_of_order, $bad_body, $prev);
my @got;
foreach my $m (@msgs)
{
	my ($seq, $msgid, $cursor, $subject, $body) = @$m;
	$dups++ if $seen_cursor{$cursor}++ || $seen_id{$msgid}++;
	my ($l, $s) = split(/:/, $cursor);
	my ($hi, $lo) = split(/\//, $l);
	my $key = [ hex($hi), hex($lo), $s ];
	$out_of_order++ if $prev && ($key->[0] <=> $prev->[0] || $key->[1] <=> $prev->[1] || $key->[2] <=> $prev->[2]) <= 0;
	$prev = $key;
	my $e = eval { decode_json($body) };
	$bad_body++ unless $e && "$e->{commit_lsn}:$e->{seq}" eq $cursor && $subject eq 'cdc.postgres.public.t.insert'
	  && $msgid =~ /^\d+\/postgres:\Q$e->{commit_lsn}\E:$e->{seq}$/;
	push @got, "$cursor " . ($e ? "$e->{new_data}{id} $e->{timestamp}" : '?');
}
is($dups // 0, 0, 'no change is in the stream twice (cursor and Nats-Msg-Id)');
is($out_of_order // 0, 0, 'the stream is in cursor order');
is($bad_body // 0, 0, 'each message is the ChangeEntry JSON of its cursor, on its subject, with its Nats-Msg-Id');
is(scalar(@got), scalar(@want), 'as many messages as logged changes');
is_deeply(\@got, \@want, 'the stream holds exactly the logged changes, in order (ids and commit times in microseconds)');

my $relay_text = slurp_file($relay_log);
like($relay_text, qr/nats: .*retrying in/, 'the relay waited for NATS with backoff');
like($relay_text, qr/resuming: the stream holds changes up to/, 'restarts resumed from what the stream holds');
like($relay_text, qr/postgresql: .*failed|cannot connect/, 'the relay saw PostgreSQL go away');
note("relay log: $relay_log");

# --format debezium: before, after, source, op c/u/d/t, ts_ms, on a
# subject template of one's own; this relay runs as a role with exactly
# README's grants for an application that consumes
$node->safe_psql('postgres', q{
	CREATE TABLE d (id int PRIMARY KEY, v text);
	ALTER TABLE d REPLICA IDENTITY FULL;
	CREATE ROLE app LOGIN;
	GRANT USAGE ON SCHEMA cdc TO app;
	GRANT EXECUTE ON FUNCTION
		cdc.create_consumer(text, text[], text[], cdc.operation[], text),
		cdc.drop_consumer(text),
		cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval, boolean),
		cdc.consume(text, integer, interval, boolean),
		cdc.checkpoint(text, pg_lsn, integer),
		cdc.consumer_info(), cdc.status(), cdc.writer_info(), cdc.current_lsn(),
		cdc.wait_for_log(pg_lsn, interval)
	  TO app;
	GRANT SELECT ON cdc.consumers TO app;
	GRANT SELECT ON d TO app});
my $dbz_pid = fork();
die "fork: $!" unless defined $dbz_pid;
if ($dbz_pid == 0)
{
	open(STDOUT, '>>', $relay_log);
	open(STDERR, '>&', \*STDOUT);
	exec($relay_bin, '-d', "$conninfo user=app", '--consumer', 'dbz', '--servers', $nats->urls, '--stream', 'DBZ',
		'--replicas', '3', '--format', 'debezium', '--entities', 'public.d',
		'--subject', 'dbz.<database>.<schema>.<table>', '--batch-timeout', '200') or die "exec: $!";
}
for (1 .. 120)
{
	last if system("$relay_bin --servers '${\ $nats->urls}' --stream DBZ --dump >/dev/null 2>&1") == 0;
	usleep(500_000);
}
$node->safe_psql('postgres', q{
	INSERT INTO d VALUES (1, 'a');
	UPDATE d SET v = 'b';
	DELETE FROM d;
	INSERT INTO d VALUES (2, 'c');
	TRUNCATE d});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is(poll_until(q{SELECT lag_changes FROM cdc.consumers WHERE name = 'dbz'}, '0', 60), '0', 'the debezium relay caught up');
kill('TERM', $dbz_pid);
waitpid($dbz_pid, 0);
my @dbz = map { [ split(/\t/, $_, 5) ] } split(/\n/, `$relay_bin --servers '${\ $nats->urls}' --stream DBZ --dump`);
my @ev = map { decode_json($_->[4]) } @dbz;
is(join(',', map { $_->{op} } @ev), 'c,u,d,c,t', 'Debezium op codes c, u, d, t in commit order');
is_deeply([ map { [ $_->{before}, $_->{after} ] } @ev ],
	[ [ undef, { id => 1, v => 'a' } ], [ { id => 1, v => 'a' }, { id => 1, v => 'b' } ],
	  [ { id => 1, v => 'b' }, undef ], [ undef, { id => 2, v => 'c' } ], [ undef, undef ] ],
	'before and after are the old and new rows');
my $src = $ev[0]{source};
ok($src->{connector} eq 'postgresql' && $src->{db} eq 'postgres' && $src->{schema} eq 'public'
	&& $src->{table} eq 'd' && $src->{lsn} =~ /^\d+$/ && $src->{txId} =~ /^\d+$/ && $src->{ts_ms} =~ /^\d+$/
	&& $ev[0]{ts_ms} >= $src->{ts_ms} && $src->{snapshot} eq 'false',
	'source names connector, db, schema, table, lsn, txId, commit ts_ms');
is($dbz[0][3], 'dbz.postgres.public.d', 'the subject follows the template');

# exit statuses: 3 for a stream another consumer's relay publishes to (its
# last change says nothing about this consumer's), 2 for a database without
# the extension, 1 for bad usage
my $base = "$relay_bin --servers '${\ $nats->urls}' --ack-timeout 3000";
my $out = `$base -d '$conninfo' --consumer intruder --stream CDC 2>&1`;
is($? >> 8, 3, 'a relay of another consumer refuses a stream it does not own (status 3)');
like($out, qr/was not published by a relay of this database and consumer/, 'and says why');
my $db1 = 'host=' . $node->host . ' port=' . $node->port . ' dbname=template1';
$out = `$base -d '$db1' --consumer c --stream OTHER 2>&1`;
is($? >> 8, 2, 'a database without cdc_ext: status 2');
like($out, qr/SQLSTATE 3F000/, 'with the SQLSTATE (schema cdc does not exist)');
$out = `$relay_bin --servers x --stream y --consumer c -d '' --format avro 2>&1`;
is($? >> 8, 1, 'bad usage: status 1');

$nats->stop('TERM');
$node->stop;
done_testing();

sub poll_until
{
	my ($sql, $want, $secs) = @_;
	my $got;
	for (1 .. $secs * 4)
	{
		my ($ret, $out) = $node->psql('postgres', $sql);
		$got = $out;
		return $got if $ret == 0 && $got eq $want;
		usleep(250_000);
	}
	return $got;
}
