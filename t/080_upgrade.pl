# Upgrade 1.0 -> 1.1: consumers with unread changes continue where they
# were, nothing lost, their slots are taken over and dropped.
#
# The 1.0 SQL objects are installed (CREATE EXTENSION ... VERSION '1.0'), and
# the state 1.0's cdc.create_consumer and cdc.checkpoint leave is made as
# they made it: one slot of plugin cdc_ext per consumer, a consumer_state row
# whose checkpoint is a (commit_lsn, seq) it has read up to, the slot at or
# before the checkpoint.  (The 1.0 C functions are not in the 1.1 library.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('upgrade');

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext VERSION '1.0';
	CREATE TABLE t (id int PRIMARY KEY, v text);
	CREATE TABLE other (id int PRIMARY KEY);
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots}), '0',
	'1.0 runs no writer');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM cdc.stream('x')});
like($err, qr/the SQL objects of an older cdc_ext are installed.*ALTER EXTENSION cdc_ext UPDATE/s,
	'a 1.0 function called with the 1.2 library says to update');

# two 1.0 consumers, as cdc.create_consumer made them: a slot each
$node->safe_psql('postgres', q{
	SELECT pg_create_logical_replication_slot('cdc_c_ahead', 'cdc_ext');
	SELECT pg_create_logical_replication_slot('cdc_c_behind', 'cdc_ext');
	INSERT INTO cdc.consumer_state (name, owner, slot_name, entities, checkpoint_lsn)
	SELECT 'ahead', 'postgres'::regrole::oid, 'cdc_c_ahead', '{t}', confirmed_flush_lsn
	FROM pg_replication_slots WHERE slot_name = 'cdc_c_ahead';
	INSERT INTO cdc.consumer_state (name, owner, slot_name, entities, operations, checkpoint_lsn)
	SELECT 'behind', 'postgres'::regrole::oid, 'cdc_c_behind', NULL, '{insert,update}', confirmed_flush_lsn
	FROM pg_replication_slots WHERE slot_name = 'cdc_c_behind';
});
# three transactions; "ahead" reads and checkpoints the first, and part of the second
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'one'), (2, 'two')});
$node->safe_psql('postgres', q{INSERT INTO t VALUES (3, 'three'), (4, 'four'); INSERT INTO other VALUES (1)});
$node->safe_psql('postgres', q{UPDATE t SET v = 'FIVE' WHERE id = 1; DELETE FROM t WHERE id = 2});
my $second = $node->safe_psql('postgres', q{
	SELECT data::jsonb->>'commit_lsn' FROM pg_logical_slot_peek_changes('cdc_c_ahead', NULL, NULL)
	WHERE data::jsonb->'new_data'->>'id' = '3'});
# 1.0's cdc.checkpoint('ahead', <second commit>, 1) and its cdc.stream moving the slot there
$node->safe_psql('postgres', qq{
	UPDATE cdc.consumer_state SET checkpoint_lsn = '$second', checkpoint_seq = 1 WHERE name = 'ahead';
	SELECT pg_replication_slot_advance('cdc_c_ahead', '$second');
});

$node->safe_psql('postgres', q{ALTER EXTENSION cdc_ext UPDATE});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'cdc_ext'}), '1.2',
	'updated to 1.2 (through 1.1)');
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots}),
	$node->safe_psql('postgres', q{SELECT 'cdc_ext_log_' || oid FROM pg_database WHERE datname = 'postgres'}),
	'the writer took over; the 1.0 consumers\' slots are gone');
is($node->safe_psql('postgres', q{SELECT migrate_slots IS NULL FROM cdc.log_state}), 't', 'nothing left to migrate');
is($node->safe_psql('postgres',
	q{SELECT string_agg(name || ':' || (checkpoint_lsn > '0/0')::text || ':' || checkpoint_seq, ',' ORDER BY name) FROM cdc.consumers}),
	'ahead:true:1,behind:true:0', 'the consumers kept their checkpoints');

$node->safe_psql('postgres', q{INSERT INTO t VALUES (6, 'after the update')});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{
	SELECT string_agg(operation || ' ' || coalesce(new_data->>'id', old_data->>'id'), ', ')
	FROM cdc.consume('ahead')}),
	'insert 4, update 1, delete 2, insert 6',
	'"ahead" continues right after its checkpoint (second transaction, seq 1): nothing lost, nothing repeated');
is($node->safe_psql('postgres', q{
	SELECT string_agg(entity || ' ' || operation || ' ' || coalesce(new_data->>'id', old_data->>'id'), ', ')
	FROM cdc.consume('behind')}),
	'public.t insert 1, public.t insert 2, public.t insert 3, public.t insert 4, public.other insert 1, public.t update 1, public.t insert 6',
	'"behind" receives everything it had not read, through its stored filters');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.consume('ahead')}), '0', 'and nothing twice');

$node->stop;
done_testing();
