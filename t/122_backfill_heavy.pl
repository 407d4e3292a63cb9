# Backfill (issue 18) beside DDL, as the heavy-workload attack found it.
# The log writer both decodes (its caches then hold the catalog as of the
# WAL it decodes) and reads the tables for backfills (the catalog as it is
# now), in one process.  A chunk read through an entry that decoding had
# built from an older catalog read the table as it was before a DDL that
# had already committed: after ADD COLUMN the rows came without the new
# column, logged after the DDL's schema entry (a copy rebuilt from the
# stream silently lacked it); after a rewrite (ALTER TYPE) the chunk read
# the old, emptied file and the backfill failed ("could not read block
# 0").  The other way round, an older change decoded through the entry a
# backfill had built from the current catalog was read with a column's new
# type (the writer died: "invalid string enlargement request size").
#
# The order is made certain by stopping the log writer (SIGSTOP) while a
# change of the table, a large transaction (the writer's cycle ends after
# it) and the DDL commit: when it goes on, it takes the DDL's invalidation
# in, decodes the change (building the table's entry as of then), ends the
# cycle before the DDL's commit, and reads a chunk.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('bfheavy', conf => "restart_after_crash = on\n");
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE st (id int PRIMARY KEY, v text, n int);
	INSERT INTO st SELECT g, md5(g::text), g FROM generate_series(1, 20000) g;
	CREATE TABLE junk (id int, t text);});
wait_for_capture($node, 'postgres');
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('c', entities => '{public.st}')});

# Run $sql with the log writer stopped; returns the writer's pid.
sub with_writer_stopped
{
	my ($sql) = @_;
	$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(pg_current_wal_lsn(), '60 s')});
	my $pid = $node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()});
	# not while it holds a lock the backfill call needs (in a transaction of its own)
	for my $try (1 .. 20)
	{
		sleep 1;
		kill 'STOP', $pid or die "cannot stop the writer: $!";
		my ($r) = $node->psql('postgres', q{BEGIN; SET LOCAL lock_timeout = '2s';
			SELECT cdc.backfill('c'); ROLLBACK});
		last if $r == 0;
		kill 'CONT', $pid;
		die 'the writer was never stopped outside a transaction' if $try == 20;
	}
	my ($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '20s'; $sql");
	kill 'CONT', $pid;
	die "with the writer stopped: $err" if $ret != 0;
	return $pid;
}

# 1. ADD COLUMN committed before the chunk was read: the rows must have it.
my $pid = with_writer_stopped(q{
	SELECT cdc.backfill('c');
	UPDATE st SET n = -1 WHERE id = 5;
	INSERT INTO junk SELECT g, 'j' FROM generate_series(1, 60000) g;
	ALTER TABLE st ADD COLUMN x int DEFAULT 5;});
is(poll_for($node, 'postgres', q{SELECT state FROM cdc.backfills WHERE consumer = 'c'}, 'done', 120),
	'done', 'ADD COLUMN: the backfill ends');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || count(*) FILTER (WHERE new_data -> 'x' = '5')
	FROM cdc.consume('c', batch_size => 100000) WHERE operation = 'read'}),
	'20000 20000', 'ADD COLUMN committed before the read: every row read has the new column');

# 2. A rewrite (ALTER TYPE) committed before the chunk was read.
with_writer_stopped(q{
	SELECT cdc.backfill('c');
	UPDATE st SET n = -2 WHERE id = 6;
	INSERT INTO junk SELECT g, 'j' FROM generate_series(1, 60000) g;
	ALTER TABLE st ALTER COLUMN v TYPE varchar(100);});
is(poll_for($node, 'postgres', q{SELECT state || ' ' || coalesce(error, '') FROM cdc.backfills WHERE consumer = 'c' ORDER BY id DESC LIMIT 1},
	'done ', 120), 'done ', 'ALTER TYPE (a rewrite): the backfill reads the new file and ends');

# 3. A change decoded after a backfill read the table with a column's new
# type: decoded as it was (an int), the writer alive.
with_writer_stopped(q{
	SELECT cdc.backfill('c');
	INSERT INTO junk SELECT g, 'j' FROM generate_series(1, 60000) g;
	UPDATE st SET n = 4 WHERE id = 7;
	ALTER TABLE st ALTER COLUMN n TYPE text USING 'N' || n::text;});
is(poll_for($node, 'postgres', q{SELECT state FROM cdc.backfills WHERE consumer = 'c' ORDER BY id DESC LIMIT 1},
	'done', 120), 'done', 'type change: the backfill ends');
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(pg_current_wal_lsn(), '60 s')});
is($node->safe_psql('postgres', q{
	SELECT new_data -> 'n' FROM cdc.consume('c', batch_size => 100000) WHERE operation = 'update' AND new_data -> 'id' = '7'}),
	'4', 'the change before the type change is decoded with the type it had');
is($node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()}), $pid,
	'the log writer never died (same pid)');
# 4. Odd keys, each table over several chunks (a chunk starts after the
# last key logged, compared by the key index's own functions): a
# nondeterministic collation, numeric NaN and infinities, float -0, NaN and
# denormals, bytea (empty, a zero byte), a key of 32 columns (the most an
# index has), each of more rows than a chunk holds at most.  Every row is
# read once, as the table has it.
$node->safe_psql('postgres', q{
	CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
	CREATE TABLE k_ci (k text COLLATE ci PRIMARY KEY, v int);
	INSERT INTO k_ci SELECT CASE WHEN g % 2 = 0 THEN 'Key' ELSE 'kEY' END || g, g FROM generate_series(1, 25000) g;
	CREATE TABLE k_num (k numeric PRIMARY KEY, v int);
	INSERT INTO k_num SELECT g / 7.0, g FROM generate_series(1, 25000) g;
	INSERT INTO k_num VALUES ('NaN', 0), ('Infinity', 0), ('-Infinity', 0);
	CREATE TABLE k_flt (k float8 PRIMARY KEY, v int);
	INSERT INTO k_flt SELECT g / 3.0, g FROM generate_series(1, 25000) g;
	INSERT INTO k_flt VALUES ('-0', 0), ('NaN', 0), ('Infinity', 0), ('-Infinity', 0), (5e-324, 0);
	CREATE TABLE k_bin (k bytea PRIMARY KEY, v int);
	INSERT INTO k_bin SELECT decode(md5(g::text), 'hex'), g FROM generate_series(1, 25000) g;
	INSERT INTO k_bin VALUES ('\x', 0), ('\x00', 0);
	SELECT format('CREATE TABLE k_32 (%s, v int, PRIMARY KEY (%s))',
		string_agg(format('c%s int', i), ', '), string_agg(format('c%s', i), ', '))
	FROM generate_series(1, 32) i \gexec
	SELECT format('INSERT INTO k_32 SELECT %s, g FROM generate_series(1, 25000) g',
		string_agg(CASE WHEN i = 32 THEN 'g' ELSE format('g %% %s', i + 1) END, ', '))
	FROM generate_series(1, 32) i \gexec
	SELECT cdc.create_consumer('odd', entities => '{public.k_*}', start => 'snapshot');});
is(poll_for($node, 'postgres', q{SELECT string_agg(state, ',') FROM cdc.backfills WHERE consumer = 'odd'},
	'done,done,done,done,done', 120), 'done,done,done,done,done', 'odd keys: every backfill ends');
$node->safe_psql('postgres', q{
	CREATE TABLE got AS SELECT entity, entity_id, new_data
	FROM cdc.stream('odd', from_beginning => true, batch_size => 1000000)
	WHERE operation = 'read'});
for my $t ('k_ci', 'k_num', 'k_flt', 'k_bin', 'k_32')
{
	is($node->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM (SELECT to_jsonb(t) FROM $t t EXCEPT ALL
		        SELECT new_data FROM got WHERE entity = 'public.$t') a) || ' '
		    || (SELECT count(*) FROM (SELECT new_data FROM got WHERE entity = 'public.$t' EXCEPT ALL
		        SELECT to_jsonb(t) FROM $t t) b) || ' '
		    || (SELECT p.chunks > 1 FROM cdc.backfill_progress p JOIN cdc.backfill_request r USING (id, relid)
		        WHERE r.relid = '$t'::regclass)}),
		'0 0 true', "odd keys: $t read whole, once, over several chunks");
}

ok(!$node->log_contains('invalid string enlargement|terminated by signal|backfill failed'),
	'no error in the writer, no crash');

done_testing();
