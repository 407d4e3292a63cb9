# Changes the log could not record are never lost silently.  Each way the
# writer's slot can skip changes: invalidated (its WAL removed past
# max_slot_wal_keep_size), moved by someone else while no writer ran
# (pg_replication_slot_advance, pg_logical_slot_get_changes), dropped by
# someone else; and a log that starts after a consumer did (every slot in
# use at CREATE EXTENSION).  Each time: the writer continues from a new
# position, cdc.status() and the server log name the lost range, and every
# consumer and group that was behind it gets a gap (an error at its next
# read, a flag in cdc.consumers) until it accepts it.  1.1 froze the log for
# good on an invalidated slot ("requested WAL segment ... has already been
# removed", every second) and lost the other ranges silently: a consumer
# read 1, 4 for 1, 2, 3, 4.
#
# Also: CREATE EXTENSION warns when no writer can run (no preload, no free
# slot), and a read warns when the log is behind with no writer and no
# recent cdc.ingest().
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('lost', conf => qq{
restart_after_crash = on
max_slot_wal_keep_size = 1MB
wal_keep_size = 0
max_wal_size = 32MB
min_wal_size = 32MB
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY, v text);
});
is(writer_running($node, 'postgres'), 't', 'the writer runs');
$node->safe_psql('postgres', q{
	SELECT cdc.create_consumer('c');
	SELECT cdc.create_group('g');
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.consumers WHERE gap}), '0',
	'a consumer made after the log started has no gap');

# reads of consumer c and group g: the values, or the error
sub read_c
{
	my ($ret, $out, $err) = $node->psql('postgres',
		q{SELECT string_agg(new_data->>'id', ',' ORDER BY commit_lsn, seq) FROM cdc.stream('c', batch_size => 100000) WHERE entity = 'public.t'});
	return $ret == 0 ? $out : $err;
}

#
# 1. The slot invalidated: an open transaction holds its restart_lsn while
# 12,000 rows are written, and a checkpoint removes the WAL it needs.
#
my $bg = $node->background_psql('postgres');
$bg->query_safe(q{BEGIN; INSERT INTO t VALUES (0, 'open')});
for my $r (0 .. 3)
{
	$node->safe_psql('postgres', qq{
		INSERT INTO t SELECT g, repeat('x', 300) FROM generate_series($r * 3000 + 1, $r * 3000 + 3000) g;
		SELECT pg_switch_wal();
	});
}
$node->safe_psql('postgres', q{CHECKPOINT});
# (the writer may already be making its next slot, which waits for the open
# transaction: look for the invalidation in the server log too)
my $invalidated = 0;
for (my $i = 0; $i < 600 && !$invalidated; $i++)
{
	$invalidated = 1
	  if slurp_file($node->logfile) =~ /dropped replication slot "cdc_ext_log_\d+": it was invalidated/
	  || $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%' AND wal_status = 'lost'}) ne '0';
	select(undef, undef, undef, 0.1);
}
ok($invalidated, 'the writer\'s slot is invalidated');
# a new slot waits for the transactions running when it is made
$bg->query_safe('ROLLBACK');
$bg->quit;
is(poll_for($node, 'postgres', q{SELECT lost_to IS NOT NULL FROM cdc.status()}, 't', 600), 't',
	'cdc.status() names the lost range');
like($node->safe_psql('postgres', q{SELECT lost_reason FROM cdc.status()}), qr/invalidated/,
	'and why: the slot was invalidated');
my ($lost_from, $lost_to) = split /\|/, $node->safe_psql('postgres', q{SELECT lost_from, lost_to FROM cdc.status()});
like(slurp_file($node->logfile), qr/changes committed between \Q$lost_from\E and \Q$lost_to\E in database \d+ were not logged/,
	'the server log says so');
$node->safe_psql('postgres', q{INSERT INTO t VALUES (20001, 'after')});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT gap FROM cdc.consumers WHERE name = 'c'}), 't',
	'the consumer behind the lost range has a gap in cdc.consumers');
my $err1 = read_c();
like($err1, qr/lost changes committed between \S+ and \Q$lost_to\E/, 'its next read is the gap error, naming the range');
like($err1, qr/DETAIL:  They were never logged: the log writer's replication slot was invalidated/, 'and why');
my ($gret, $gout, $gerr) = $node->psql('postgres', q{SELECT * FROM cdc.read_group('g', 'w1', 10)});
like($gerr, qr/consumer group "g" has a gap/, 'the group has a gap too');
$node->safe_psql('postgres', qq{SELECT cdc.checkpoint('c', '$lost_to', 0)});
like(read_c(), qr/(^|,)20001$/, 'accepted, the consumer reads what came after: the log goes on from a new slot');
$node->safe_psql('postgres', q{SELECT cdc.reset_group('g')});

#
# 2. The slot moved by someone else while no writer ran: rows 1 and 4 are
# logged, 2 and 3 are skipped by pg_replication_slot_advance (then, the same
# way, by pg_logical_slot_get_changes).
#
sub without_writer
{
	$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
	$node->restart;
}
sub with_writer
{
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cdc_ext'\n");
	$node->restart;
	writer_running($node, 'postgres');
}
my $slot = $node->safe_psql('postgres', q{SELECT slot_name FROM cdc.log_state});

for my $how ('advance', 'get_changes', 'drop')
{
	$node->safe_psql('postgres', qq{CREATE TABLE m_$how (id int PRIMARY KEY); SELECT cdc.create_consumer('c_$how')});
	$node->safe_psql('postgres', qq{INSERT INTO m_$how VALUES (1)});
	$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
	without_writer();
	$node->safe_psql('postgres', qq{INSERT INTO m_$how VALUES (2); INSERT INTO m_$how VALUES (3)});
	if ($how eq 'advance')
	{
		$node->safe_psql('postgres', qq{SELECT pg_replication_slot_advance('$slot', pg_current_wal_lsn())});
	}
	elsif ($how eq 'get_changes')
	{
		$node->safe_psql('postgres', qq{SELECT count(*) FROM pg_logical_slot_get_changes('$slot', NULL, NULL)});
	}
	else
	{
		$node->safe_psql('postgres', qq{SELECT pg_drop_replication_slot('$slot')});
	}
	with_writer();
	$node->safe_psql('postgres', qq{INSERT INTO m_$how VALUES (4)});
	$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
	my $reason = $node->safe_psql('postgres', q{SELECT lost_reason FROM cdc.status()});
	like($reason, $how eq 'drop' ? qr/was gone/ : qr/moved past changes/, "$how: cdc.status() says why");
	my $to = $node->safe_psql('postgres', q{SELECT lost_to FROM cdc.status()});
	my $read = qq{SELECT string_agg(new_data->>'id', ',' ORDER BY commit_lsn, seq) FROM cdc.stream('c_$how') WHERE entity = 'public.m_$how'};
	is($node->safe_psql('postgres', qq{SELECT string_agg(new_data->>'id', ',' ORDER BY commit_lsn, seq) FROM cdc.log WHERE entity = 'public.m_$how'}),
		'1,4', "$how: the log has 1 and 4 (2 and 3 were skipped by the slot)");
	my ($r, $o, $e) = $node->psql('postgres', $read);
	like($e, qr/lost changes committed between/, "$how: the consumer is told: the gap error, not 1, 4");
	is($node->safe_psql('postgres', qq{SELECT gap FROM cdc.consumers WHERE name = 'c_$how'}), 't', "$how: cdc.consumers flags it");
	$node->safe_psql('postgres', qq{SELECT cdc.checkpoint('c_$how', '$to', 0)});
	is($node->safe_psql('postgres', $read), '4', "$how: accepted, it reads on");
}

#
# 3. No writer can start: CREATE EXTENSION says why; a consumer made before
# the log starts has a gap for what committed until it did.
#
$node->safe_psql('postgres', q{CREATE DATABASE full_slots});
my $free = $node->safe_psql('postgres', q{SELECT current_setting('max_replication_slots')::int - count(*) FROM pg_replication_slots});
$node->safe_psql('postgres', qq{SELECT pg_create_physical_replication_slot('filler_' || g) FROM generate_series(1, $free) g});
my ($ret, $out, $err) = $node->psql('full_slots', q{CREATE EXTENSION cdc_ext; CREATE TABLE t (id int PRIMARY KEY)});
like($err, qr/no replication slot is free for the log writer/, 'CREATE EXTENSION warns: no slot is free');
($ret, $out, $err) = $node->psql('full_slots', q{SELECT cdc.create_consumer('c')});
like($err, qr/has not started/, 'create_consumer warns that the log has not started');
$node->safe_psql('full_slots', q{INSERT INTO t VALUES (1)});
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('filler_1')});
is(writer_running($node, 'full_slots', 600), 't', 'a slot freed: the writer starts');
$node->safe_psql('full_slots', q{INSERT INTO t VALUES (2)});
$node->safe_psql('full_slots', q{SELECT cdc.wait_for_log()});
($ret, $out, $err) = $node->psql('full_slots', q{SELECT * FROM cdc.stream('c')});
like($err, qr/lost changes committed between/, 'the consumer made before the log started has a gap (not 2 alone, silently)');
like($node->safe_psql('full_slots', q{SELECT lost_reason FROM cdc.status()}), qr/began/, 'cdc.status() says why');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'filler_%'});

#
# 4. Without the preload: CREATE EXTENSION warns, and a read of a log left
# behind says so, with the way out; cdc.ingest() quiets it.
#
without_writer();
$node->safe_psql('postgres', q{CREATE DATABASE nopreload});
($ret, $out, $err) = $node->psql('nopreload', q{CREATE EXTENSION cdc_ext; CREATE TABLE t (id int PRIMARY KEY)});
like($err, qr/cdc_ext is not in shared_preload_libraries/, 'CREATE EXTENSION warns without the preload');
$node->safe_psql('nopreload', q{CALL cdc.ingest(); SELECT cdc.create_consumer('c')});
$node->safe_psql('nopreload', q{INSERT INTO t VALUES (1)});
# an hour later, nothing ingested
$node->safe_psql('nopreload', q{UPDATE cdc.log_state SET created_at = now() - interval '1 hour', ingested_at = now() - interval '1 hour'});
($ret, $out, $err) = $node->psql('nopreload', q{SELECT count(*) FROM cdc.stream('c')});
like($err, qr/the change log is behind and no log writer runs.*shared_preload_libraries/s,
	'a read of a stale log warns, with the hint');
$node->safe_psql('nopreload', q{CALL cdc.ingest()});
($ret, $out, $err) = $node->psql('nopreload', q{SELECT count(*) FROM cdc.stream('c')});
is($out, '1', 'after cdc.ingest() the change is there');
unlike($err, qr/is behind/, 'and the read does not warn');

#
# 5. No background worker slot free for a writer: the server log says so
# (the logical replication launcher and cdc_ext's take both of 2).
#
my $offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cdc_ext'\nmax_worker_processes = 2\n");
$node->restart;
my $said = 0;
for (my $i = 0; $i < 600 && !$said; $i++)
{
	$said = slurp_file($node->logfile, $offset) =~ /no background worker slot is free for the log writer of database \d+/;
	select(undef, undef, undef, 0.1);
}
ok($said, 'no worker slot for a writer: a WARNING in the server log');

$node->stop;
done_testing();
