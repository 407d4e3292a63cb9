# Exactly-once through crashes: an in-database consumer stores each batch of
# cdc.consume() in one statement (INSERT INTO sink SELECT ... FROM
# cdc.consume(...)): the batch and the checkpoint commit with the sink write,
# while a writer commits numbered rows and the log writer ingests them.  The server is stopped with
# "-m immediate" at several points; after each restart both carry on.  At the
# end every committed row is in the sink exactly once, in commit order.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('crash', spill => 1);

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE src (id int PRIMARY KEY, pad text);
	CREATE TABLE sink (n bigserial PRIMARY KEY, id int, commit_lsn pg_lsn, seq int);
	-- one consumer transaction: the batch and its checkpoint, with the sink write
	CREATE FUNCTION consume_batch(size int) RETURNS int LANGUAGE sql AS $$
		WITH ins AS (
			INSERT INTO sink (id, commit_lsn, seq)
			SELECT (new_data->>'id')::int, commit_lsn, seq FROM cdc.consume('loop', batch_size => size)
			RETURNING 1)
		SELECT count(*)::int FROM ins
	$$;
	CREATE PROCEDURE consumer_loop() LANGUAGE plpgsql AS $$
	BEGIN
		LOOP
			PERFORM consume_batch(37);
			COMMIT;
			PERFORM pg_sleep(0.005);
		END LOOP;
	END $$;
	-- transactions of 1 to 5 rows, numbered on from what is committed
	CREATE PROCEDURE writer_loop() LANGUAGE plpgsql AS $$
	DECLARE next int;
	BEGIN
		LOOP
			SELECT coalesce(max(id), 0) + 1 INTO next FROM src;
			INSERT INTO src SELECT g, repeat('x', 100) FROM generate_series(next, next + (random() * 4)::int) g;
			COMMIT;
			PERFORM pg_sleep(0.002);
		END LOOP;
	END $$;
});
# wait for the log writer to capture
wait_for_capture($node, 'postgres');
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('loop', entities => '{src}')});

my @sleeps = (1.5, 0.7, 2.2, 0.3, 1.1);
for my $round (1 .. @sleeps)
{
	my $writer = start_psql($node, 'postgres', 'CALL writer_loop()');
	my $consumer = start_psql($node, 'postgres', 'CALL consumer_loop()');
	select(undef, undef, undef, $sleeps[ $round - 1 ]);
	my ($rows, $sunk) = split /\|/, $node->safe_psql('postgres',
		'SELECT (SELECT count(*) FROM src), (SELECT count(*) FROM sink)');
	note "round $round: $rows rows committed, $sunk in the sink before the crash";
	$node->stop('immediate');
	$writer->{h}->finish;
	$consumer->{h}->finish;
	$node->start;
}

# drain: everything committed arrives, then nothing more
$node->poll_query_until('postgres', q{
	SELECT count(*) = (SELECT count(*) FROM src) FROM cdc.log WHERE entity = 'public.src'})
  or die 'the log did not catch up';
my $total = 0;
for (my $i = 0; $i < 10000; $i++)
{
	my $n = $node->safe_psql('postgres', 'SELECT consume_batch(5000)');
	last if $n == 0;
	$total += $n;
}
my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM src');
cmp_ok($committed, '>', 100, "the writer committed rows across crashes ($committed)");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM src FULL JOIN (SELECT id, count(*) AS c FROM sink GROUP BY id) s USING (id)
	WHERE s.c IS DISTINCT FROM 1}),
	'0', 'every committed row is in the sink exactly once, and nothing else is');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		SELECT (commit_lsn, seq) <= lag((commit_lsn, seq)) OVER (ORDER BY n) AS backwards FROM sink) s
	WHERE backwards}),
	'0', 'the sink received them in commit order');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.stream('loop')}), '0',
	'nothing is left to read');
is($node->safe_psql('postgres', q{SELECT gap FROM cdc.consumers WHERE name = 'loop'}), 'f',
	'no gap');

$node->stop;
done_testing();
