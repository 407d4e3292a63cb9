# Trim surfaced as a gap (replaces 1.0's slot-invalidation test: 1.1
# consumers own no slot).  When cdc.trim moves the log's horizon, a consumer
# that had not read changes it may see gets a gap: every read is an ERROR naming the lost range, with the one way out
# as its hint, and cdc.consumers flags it; taking that way out works.  A
# consumer that had read everything, and one whose filters match nothing that
# was removed, carry on without a gap.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('retention');
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY);
	CREATE TABLE untouched (id int PRIMARY KEY);
	CREATE TABLE noise (id int PRIMARY KEY);
});
wait_for_capture($node, 'postgres');
$node->safe_psql('postgres', q{
	SELECT cdc.create_consumer('slow', entities => '{t}');
	SELECT cdc.create_consumer('fast', entities => '{t}');
	SELECT cdc.create_consumer('elsewhere', entities => '{untouched}');
});
my $slow_cp = $node->safe_psql('postgres',
	q{SELECT checkpoint_lsn FROM cdc.consumers WHERE name = 'slow'});

$node->safe_psql('postgres', q{INSERT INTO t SELECT generate_series(1, 100)});
$node->poll_query_until('postgres', q{SELECT count(*) = 100 FROM cdc.log WHERE entity = 'public.t'})
  or die 'the changes were not logged';
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.consume('fast')}), '100',
	'fast reads everything before the trim');

# trim everything logged so far
$node->safe_psql('postgres', q{INSERT INTO noise VALUES (1)});
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM cdc.log WHERE entity = 'public.noise'})
  or die 'the noise was not logged';
my $cut = $node->safe_psql('postgres', q{SELECT confirmed_lsn FROM cdc.log_state});
is($node->safe_psql('postgres', "SELECT consumers_with_gap FROM cdc.trim('$cut')"), '1',
	'trim reports one consumer with a gap');
my $horizon = $node->safe_psql('postgres', q{SELECT oldest_lsn FROM cdc.log_state});

my ($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM cdc.stream('slow')});
isnt($rc, 0, 'reading the consumer that lost changes fails');
like($err, qr/^psql:<stdin>:1: ERROR:  consumer "slow" has lost changes committed between \Q$slow_cp\E and ([0-9A-F]+\/[0-9A-F]+)$/m,
	'the error names the lost range from its checkpoint');
my ($gap_to) = $err =~ /and ([0-9A-F]+\/[0-9A-F]+)$/m;
like($err, qr/^DETAIL:  They were removed from the change log \(trimmed by cdc\.trim\(\)\) before the consumer had read them\.$/m,
	'the detail says why');
like($err, qr/^HINT:  Accept the gap with SELECT cdc\.checkpoint\('slow', '\Q$gap_to\E'\); then SELECT cdc\.backfill\('slow'\) sends the tables' current rows again/m,
	'the hint gives the one way out');
($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM cdc.consume('slow')});
like($err, qr/ERROR:  consumer "slow" has lost changes/, 'consume fails the same way');
is($node->safe_psql('postgres', q{SELECT gap, gap_reason FROM cdc.consumers WHERE name = 'slow'}),
	't|trimmed by cdc.trim()', 'cdc.consumers flags the gap and its reason');
is($node->safe_psql('postgres', q{SELECT name FROM cdc.consumers WHERE gap ORDER BY name}), 'slow',
	'fast (had read everything) and elsewhere (nothing of its tables was removed) have no gap');

# the way out of the hint works
$node->safe_psql('postgres', "SELECT cdc.checkpoint('slow', '$gap_to')");
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1000)});
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM cdc.log WHERE entity = 'public.t' AND entity_id = '1000'})
  or die 'the new change was not logged';
is($node->safe_psql('postgres', q{SELECT string_agg(entity_id::text, ',') FROM cdc.consume('slow')}), '1000',
	'after accepting the gap the consumer reads on');
is($node->safe_psql('postgres', q{SELECT gap FROM cdc.consumers WHERE name = 'slow'}), 'f',
	'and its gap is cleared');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.consume('elsewhere')}), '0',
	'elsewhere reads on, without error');

$node->stop;
done_testing();
