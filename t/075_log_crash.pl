# Ingest is exactly-once through immediate stops of the server: while
# sessions commit small transactions and large (spilled, 64 kB decoding
# memory) ones with subtransactions, the server is stopped with -m immediate
# at several points, then started again.  Every committed row is logged
# exactly once, nothing that did not commit is logged, and the log is in
# cursor order with seq 1..n within each transaction.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('logcrash', spill => 1);

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id bigserial PRIMARY KEY, batch int, payload text);
});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});

my @pauses_ms = (150, 400, 900, 250, 1300, 600);
my $stops = 0;
foreach my $round (0 .. $#pauses_ms)
{
	# committers: many small transactions, and large ones with subtransactions
	my $small = $node->background_psql('postgres', on_error_stop => 0);
	my $large = $node->background_psql('postgres', on_error_stop => 0);
	$small->query_until(qr/go/, qq{
		\\echo go
		DO \$\$ BEGIN FOR i IN 1..400 LOOP
			INSERT INTO t (batch, payload) VALUES ($round, 'small'); COMMIT;
		END LOOP; END \$\$;
	});
	$large->query_until(qr/go/, qq{
		\\echo go
		BEGIN;
		INSERT INTO t (batch, payload) SELECT $round, repeat('L', 200) FROM generate_series(1, 3000);
		SAVEPOINT a;
		INSERT INTO t (batch, payload) SELECT $round, 'in savepoint' FROM generate_series(1, 500);
		ROLLBACK TO a;
		SAVEPOINT b;
		INSERT INTO t (batch, payload) SELECT $round, 'kept savepoint' FROM generate_series(1, 500);
		RELEASE b;
		COMMIT;
	});
	usleep($pauses_ms[$round] * 1000);
	$node->stop('immediate');
	$stops++;
	eval { $small->quit };
	eval { $large->quit };
	$node->start;
}

$node->safe_psql('postgres', q{INSERT INTO t (batch, payload) VALUES (-1, 'after the last restart')});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(timeout => '120 s')});

my $rows = $node->safe_psql('postgres', q{SELECT count(*) FROM t});
ok($rows > 0, "rows committed across $stops immediate stops: $rows");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM t FULL JOIN
		(SELECT (new_data->>'id')::bigint AS id FROM cdc.log WHERE entity = 'public.t' AND operation = 'insert') l
		USING (id)
	WHERE t.id IS NULL OR l.id IS NULL}), '0',
	'every committed row is logged, and nothing else');
is($node->safe_psql('postgres', q{
	SELECT count(*) - count(DISTINCT new_data->>'id') FROM cdc.log WHERE entity = 'public.t'}), '0',
	'nothing is logged twice');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT commit_lsn, count(*) AS n, min(seq) AS lo, max(seq) AS hi
		FROM cdc.log GROUP BY commit_lsn) x WHERE lo <> 1 OR hi <> n}), '0',
	'within each transaction seq runs 1..n without holes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE new_data->>'payload' = 'in savepoint'}), '0',
	'rolled-back subtransactions are not logged');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM t WHERE payload = 'kept savepoint'}) % 500, 0,
	'released subtransactions committed whole (sanity)');
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM t WHERE payload = 'kept savepoint')
		= (SELECT count(*) FROM cdc.log WHERE new_data->>'payload' = 'kept savepoint')}), 't',
	'released subtransactions are logged with their transaction');
is($node->safe_psql('postgres', q{
	SELECT (logged_commit_lsn, logged_seq) = (SELECT commit_lsn, seq FROM cdc.log ORDER BY commit_lsn DESC, seq DESC LIMIT 1)
	FROM cdc.log_state}), 't', 'the ingest position is the last logged change');

$node->stop;
done_testing();
