# A consumer whose slot the server invalidates (max_slot_wal_keep_size) is
# not silently skipped ahead: cdc.stream raises a gap error naming the lost
# range and the way back, cdc.consumers shows the gap, and other consumers
# and tables are untouched.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('inval');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', scalar `bash $ENV{TESTDIR}/scripts/pgconf.sh`);
$node->append_conf('postgresql.conf', qq{
max_slot_wal_keep_size = 1MB
wal_keep_size = 0
min_wal_size = 32MB
max_wal_size = 32MB
checkpoint_timeout = 1h
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY, pad text);
});
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('stale')});
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('fresh')});
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'unread')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.stream('stale')}), '1',
	'the consumer reads before its slot is lost');

# write WAL well past max_slot_wal_keep_size while nobody reads
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', qq{
		INSERT INTO t SELECT g, repeat('x', 500) FROM generate_series($i * 10000, $i * 10000 + 999) g;
		SELECT pg_switch_wal();
		CHECKPOINT;
	});
}
$node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM pg_replication_slots WHERE slot_name LIKE 'cdc\_%' AND wal_status = 'lost'})
  or die 'slots were not invalidated';
pass('the server invalidated the consumers\' slots');

my ($rc, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM cdc.stream('stale')});
isnt($rc, 0, 'reading a consumer whose slot is lost fails');
like($err, qr/ERROR:  consumer "stale" has a gap: changes committed between [0-9A-F]+\/[0-9A-F]+ and [0-9A-F]+\/[0-9A-F]+ are gone/,
	'the error names the lost range');
like($err, qr/DETAIL:  The consumer's replication slot was invalidated.*max_slot_wal_keep_size/,
	'... says why');
like($err, qr/HINT:  .*/, '... and how to recover');
is($node->safe_psql('postgres', q{SELECT string_agg(name || ':' || gap || ':' || gap_reason, ',' ORDER BY name) FROM cdc.consumers}),
	'fresh:true:slot invalidated,stale:true:slot invalidated', 'cdc.consumers shows both gaps');
like($node->safe_psql('postgres', q{SELECT consumers_with_gap FROM cdc.status()}), qr/^2$/,
	'cdc.status counts them');

# recovery: drop and re-create, then it streams again
$node->safe_psql('postgres', q{SELECT cdc.drop_consumer('stale')});
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('stale')});
$node->safe_psql('postgres', q{INSERT INTO t VALUES (2, 'after')});
is($node->safe_psql('postgres', q{SELECT new_data->>'pad' FROM cdc.stream('stale')}), 'after',
	'a re-created consumer streams again');

$node->stop;
done_testing();
