# The log writer's life: started by CREATE EXTENSION without a restart,
# started again after a crash (kill -9 of the writer, then of the launcher),
# logging again where it left off, stopped with its slot dropped by DROP
# EXTENSION, and one writer per database.  Without the preload,
# CALL cdc.ingest() does the same work.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

# a killed writer or launcher makes the postmaster restart everything
my $node = cdc_node('writer', conf => "restart_after_crash = on\n");

my $slot = q{SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%'};
is($node->safe_psql('postgres', $slot), '0', 'no writer slot before CREATE EXTENSION');

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY, v text);
});
is(writer_running($node, 'postgres'), 't',
	'CREATE EXTENSION starts the writer, without a restart');
is($node->safe_psql('postgres', $slot), '1', 'the writer owns one slot');
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
# a consumer that never reads
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('idle')});
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, 'a' FROM generate_series(1, 100) g});
my $after = $node->safe_psql('postgres', q{SELECT pg_current_wal_lsn()});
my $reached = $node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.t'}), '100',
	'changes are logged');
# (past the last logged commit; WAL without changes to log after it is
# recorded, and confirmed, every 16 MB: src/log/ingest.c)
is($node->safe_psql('postgres', qq{SELECT confirmed_flush_lsn >= (SELECT max(commit_lsn) FROM cdc.log) FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%'}),
	't', 'the slot is confirmed past them although a consumer has read nothing: it holds no WAL for consumers');
is($node->safe_psql('postgres', q{SELECT lag_changes FROM cdc.consumers WHERE name = 'idle'}), '100',
	'... whose changes wait in the log');

# a second database: its own writer, its own slot, its own log
$node->safe_psql('postgres', q{CREATE DATABASE other});
$node->safe_psql('other', q{CREATE EXTENSION cdc_ext; CREATE TABLE u (id int PRIMARY KEY)});
is(writer_running($node, 'other'), 't', 'a writer for the second database');
# the launcher's bookkeeping after it started the writer must not hide it
# (it once marked a writer that was already running as "starting")
select(undef, undef, undef, 1.0);
is($node->safe_psql('other', q{SELECT running FROM cdc.writer_info()}), 't',
	'... and it is still said to run a second later');
$node->safe_psql('other', q{SELECT cdc.wait_for_log(); INSERT INTO u VALUES (1); SELECT cdc.wait_for_log()});
is($node->safe_psql('other', q{SELECT string_agg(entity, ',') FROM cdc.log}), 'public.u',
	'each database logs its own changes only');
is($node->safe_psql('postgres', $slot), '2', 'one slot per database');
isnt($node->safe_psql('other', q{SELECT pid FROM cdc.writer_info()}),
	$node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()}), 'two writer processes');

# a second ingest for the same database is refused
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{CALL cdc.ingest()});
like($stderr, qr/ERROR:  the log writer \(PID \d+\) is already logging this database/,
	'CALL cdc.ingest() is refused while the writer runs');

# kill -9 the writer: crash restart; the launcher starts it again
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()});
kill 'KILL', $pid;
is(poll_for($node, 'postgres', q{SELECT running AND pid <> } . $pid . q{ FROM cdc.writer_info()}, 't'), 't',
	'the writer runs again after it was killed');
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, 'b' FROM generate_series(101, 150) g});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT count(*), count(DISTINCT entity_id) FROM cdc.log WHERE entity = 'public.t'}),
	'150|150', 'after the crash it logs where it left off, nothing twice');

# kill -9 the launcher: same
my $launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdc_ext launcher'});
ok($launcher =~ /^\d+$/, 'the launcher runs');
kill 'KILL', $launcher;
is(poll_for($node, 'postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cdc_ext launcher' AND pid <> } . $launcher, '1'),
	'1', 'the launcher is back after a crash');
is(writer_running($node, 'other'), 't', '... and so are the writers');
$node->safe_psql('other', q{INSERT INTO u VALUES (2); SELECT cdc.wait_for_log()});
is($node->safe_psql('other', q{SELECT count(*) FROM cdc.log}), '2', 'logging goes on');

# DROP EXTENSION: the writer stops and drops its slot
$node->safe_psql('other', q{DROP EXTENSION cdc_ext});
is(poll_for($node, 'postgres', $slot, '1'), '1', 'DROP EXTENSION drops that database\'s slot');
is(poll_for($node, 'postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cdc_ext log writer'}, '1'), '1',
	'... and its writer stops; the other one runs on');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_replication_origin WHERE roname LIKE 'cdc_ext_log_%'}), '1',
	'... and its replication origin is gone');
$node->safe_psql('other', q{DROP TABLE u});
$node->safe_psql('postgres', q{DROP DATABASE other});

# dropped and created again: wait_for_log() waits for the new writer (not the
# old one's position), so that what commits after it is in the new log
foreach my $round (1 .. 3)
{
	$node->safe_psql('postgres', q{DROP EXTENSION cdc_ext; CREATE EXTENSION cdc_ext});
	$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
	$node->safe_psql('postgres', qq{INSERT INTO t VALUES (300 + $round, 'new log')});
	$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
	is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'id', ',') FROM cdc.log}), 300 + $round,
		"after DROP and CREATE EXTENSION ($round) the change made once wait_for_log() returned is in the new log");
}

# without the preload: no writer, CALL cdc.ingest() logs
$node->safe_psql('postgres', q{DROP EXTENSION cdc_ext});
is(poll_for($node, 'postgres', $slot, '0'), '0', 'no slot left');
$node->append_conf('postgresql.conf', q{shared_preload_libraries = ''});
$node->restart;
$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext});
is($node->safe_psql('postgres', q{SELECT running::text || preloaded::text FROM cdc.writer_info()}), 'falsefalse',
	'without the preload no writer runs, and status says so');
($ret, $stdout, $stderr) = $node->psql('postgres', q{SELECT cdc.wait_for_log()});
like($stderr, qr/ERROR:  no log writer runs in this server.*HINT:  Add cdc_ext to shared_preload_libraries and restart, or log changes with CALL cdc.ingest\(\);/s,
	'wait_for_log says how to log without a writer');
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres', $slot), '1', 'the first CALL cdc.ingest() makes the slot');
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, 'c' FROM generate_series(201, 210) g});
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.t'}), '10',
	'CALL cdc.ingest() logs what committed since');
# a rolled-back ingest logs nothing and loses nothing
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, 'd' FROM generate_series(211, 215) g});
$node->safe_psql('postgres', q{BEGIN; CALL cdc.ingest(); ROLLBACK});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.t'}), '10',
	'a rolled-back ingest logged nothing');
$node->safe_psql('postgres', q{CALL cdc.ingest()});
$node->safe_psql('postgres', q{CALL cdc.ingest()});
is($node->safe_psql('postgres',
	q{SELECT count(*), count(DISTINCT entity_id), min(entity_id::int), max(entity_id::int) FROM cdc.log WHERE entity = 'public.t'}),
	'15|15|201|215', 'the next ingests log it once');
is($node->safe_psql('postgres',
	q{SELECT confirmed_flush_lsn >= (SELECT logged_commit_lsn FROM cdc.log_state) FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%'}),
	't', 'the slot is confirmed once the log has committed');

$node->stop;
done_testing();
