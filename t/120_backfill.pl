# Backfill (issue 18): a consumer that starts from the tables' current rows
# receives, in cursor order, every row as a `read` entry and every change
# after it, so that applying its stream to an empty copy yields exactly the
# table, whatever commits meanwhile: random inserts, updates (some changing
# the key) and deletes of existing keys run during the whole backfill of
# 200,000 rows.  Then the same with the server stopped with -m immediate in
# the middle of a backfill: it continues from the last chunk it logged
# (never from zero), nothing lost, no row twice.  A consumer that did not ask
# receives no read entry; a group that asked gets its own.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('backfill', conf => "restart_after_crash = on\n");
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE shop (id bigint PRIMARY KEY, name text NOT NULL, price numeric,
	                   tags text[], updated timestamptz);
	INSERT INTO shop SELECT g, 'p' || g, g % 1000 / 10.0, ARRAY['a', 'b'],
	       '2026-01-01'::timestamptz + g * interval '1 s'
	FROM generate_series(1, 200000) g;
	-- random changes of existing keys (and a few new ones), one commit each,
	-- some statements touching 20 rows, some moving a row to another key
	CREATE PROCEDURE churn(n int) LANGUAGE plpgsql AS $$
	DECLARE
		k bigint;
		r float8;
	BEGIN
		FOR i IN 1..n LOOP
			k := 1 + floor(random() * 210000)::bigint;
			r := random();
			IF r < 0.35 THEN
				UPDATE shop SET price = price + 1, name = name || '+', updated = now() WHERE id = k;
			ELSIF r < 0.55 THEN
				DELETE FROM shop WHERE id = k;
			ELSIF r < 0.75 THEN
				INSERT INTO shop VALUES (k, 'new' || k, 1, NULL, now())
				ON CONFLICT (id) DO UPDATE SET name = 'upserted', tags = ARRAY['u'];
			ELSIF r < 0.9 THEN
				UPDATE shop SET price = price * 2 WHERE id BETWEEN k AND k + 19;
			ELSE
				UPDATE shop SET id = k + 1000000 WHERE id = k
				  AND NOT EXISTS (SELECT 1 FROM shop WHERE id = k + 1000000);
			END IF;
			COMMIT;
		END LOOP;
	END $$;
	-- a consumer's whole stream, drained: (position, entry) per row
	CREATE TABLE got (consumer text, commit_lsn pg_lsn, seq int, operation cdc.operation,
	                  entity_id jsonb, old_data jsonb, new_data jsonb);
});
wait_for_capture($node, 'postgres');
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('bystander', entities => '{public.shop}')});

# Drain consumer $c into got (cdc.consume: the checkpoint moves with the insert).
sub drain
{
	my ($c) = @_;
	$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(pg_current_wal_lsn(), '120 s')});
	for (1 .. 1000)
	{
		my $n = $node->safe_psql('postgres', qq{
			WITH s AS (SELECT * FROM cdc.consume('$c', batch_size => 20000))
			, i AS (INSERT INTO got SELECT '$c', commit_lsn, seq, operation, entity_id, old_data, new_data
			        FROM s RETURNING 1)
			SELECT count(*) FROM i});
		return if $n == 0;
	}
	die "drain of $c did not end";
}

# Apply $c's stream, in cursor order, to an empty copy: the last entry of
# each key decides (read, insert, update: its new row; delete: gone); an
# update that changed the key also removes the old key (its own entry
# names the new key; the old one's last entry is before it).  Compare with
# the table, row by row, as to_jsonb gives it.
sub check_copy
{
	my ($c, $what) = @_;
	my $diff = $node->safe_psql('postgres', qq{
		WITH ev AS (
			SELECT entity_id, operation, new_data, commit_lsn, seq
			FROM got WHERE consumer = '$c' AND operation <> 'truncate'
			UNION ALL
			SELECT old_data -> 'id', 'delete', NULL, commit_lsn, seq
			FROM got WHERE consumer = '$c' AND operation = 'update'
			  AND old_data IS NOT NULL AND old_data -> 'id' <> entity_id),
		last AS (
			SELECT DISTINCT ON (entity_id) entity_id, operation, new_data
			FROM ev ORDER BY entity_id, commit_lsn DESC, seq DESC),
		copy AS (SELECT new_data AS r FROM last WHERE operation <> 'delete'),
		tab AS (SELECT to_jsonb(s) AS r FROM shop s)
		SELECT (SELECT count(*) FROM (SELECT r FROM tab EXCEPT ALL SELECT r FROM copy) x)
		    || ' ' || (SELECT count(*) FROM (SELECT r FROM copy EXCEPT ALL SELECT r FROM tab) y)});
	is($diff, '0 0', "$what: the copy rebuilt from the stream equals the table (missing, extra)");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM (SELECT entity_id FROM got WHERE consumer = '$c' AND operation = 'read'
		                      GROUP BY entity_id HAVING count(*) > 1) d}),
		'0', "$what: no row read twice");
}

# Round 1: the backfill runs while the churn commits.
my $churn = start_psql($node, 'postgres', 'CALL churn(100000000)', name => 'churn1');
poll_for($node, 'postgres', q{SELECT count(*) > 100 FROM cdc.log WHERE relid = 'shop'::regclass}, 't');
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('bf', entities => '{public.shop}', start => 'snapshot')});
is(poll_for($node, 'postgres', q{SELECT state FROM cdc.backfills WHERE consumer = 'bf'}, 'done', 1800),
	'done', 'round 1: the backfill ends while the table changes');
# changes after the backfill too
my $seen = $node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log});
poll_for($node, 'postgres', qq{SELECT count(*) > $seen + 200 FROM cdc.log}, 't');
stop_psql($node, $churn);
drain('bf');
my ($reads, $changes) = split /\|/, $node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE operation = 'read'), count(*) FILTER (WHERE operation <> 'read')
	FROM got WHERE consumer = 'bf'});
cmp_ok($reads, '>', 150000, "round 1: most rows arrive as read entries ($reads)");
cmp_ok($changes, '>', 200, "round 1: changes during and after the backfill arrive too ($changes)");
my $bf1 = $node->safe_psql('postgres', q{
	SELECT rows_done || ' ' || rows_superseded || ' ' || chunks FROM cdc.backfills WHERE consumer = 'bf'});
note "round 1 backfill: rows_done rows_superseded chunks = $bf1";
is((split / /, $bf1)[0], $reads, 'round 1: cdc.backfills counts the rows logged');
check_copy('bf', 'round 1');

# Reads interleave with changes: some change precedes the last read entry.
is($node->safe_psql('postgres', q{
	SELECT count(*) > 0 FROM got WHERE consumer = 'bf' AND operation <> 'read'
	AND (commit_lsn, seq) < (SELECT commit_lsn, seq FROM got WHERE consumer = 'bf' AND operation = 'read'
	                         ORDER BY commit_lsn DESC, seq DESC LIMIT 1)
	AND (commit_lsn, seq) > (SELECT commit_lsn, seq FROM got WHERE consumer = 'bf' AND operation = 'read'
	                         ORDER BY commit_lsn, seq LIMIT 1)}),
	't', 'round 1: read entries and changes interleave in cursor order');

# A consumer that did not ask receives no read entry, but every change.
drain('bystander');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE operation = 'read') || ' ' || (count(*) > 0)
	FROM got WHERE consumer = 'bystander'}), '0 true',
	'a consumer that did not ask receives no read entry');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM cdc.stream('bystander', from_beginning => true, batch_size => 1000000)
	WHERE operation = 'read'}), '0', '... not even reading from the beginning');

# Round 2: stopped with -m immediate in the middle of a backfill.
$node->safe_psql('postgres', q{TRUNCATE got; SELECT cdc.drop_consumer('bf')});
$churn = start_psql($node, 'postgres', 'CALL churn(100000000)', name => 'churn2');
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('bf2', entities => '{public.shop}', start => 'snapshot')});
my $before = poll_for($node, 'postgres',
	q{SELECT rows_done > 0 AND state = 'running' FROM cdc.backfills WHERE consumer = 'bf2'}, 't', 3000);
is($before, 't', 'round 2: the backfill is under way');
$node->stop('immediate');
$churn->{h}->finish;
$node->start;
my $done_at_restart = $node->safe_psql('postgres', q{SELECT rows_done FROM cdc.backfills WHERE consumer = 'bf2'});
cmp_ok($done_at_restart, '>', 0, "round 2: the chunks logged before the stop are kept ($done_at_restart rows)");
$churn = start_psql($node, 'postgres', 'CALL churn(100000000)', name => 'churn3');
is(poll_for($node, 'postgres', q{SELECT state FROM cdc.backfills WHERE consumer = 'bf2'}, 'done', 1800),
	'done', 'round 2: the backfill ends after the restart');
$seen = $node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log});
poll_for($node, 'postgres', qq{SELECT count(*) > $seen + 200 FROM cdc.log}, 't');
stop_psql($node, $churn);
drain('bf2');
is($node->safe_psql('postgres', q{
	SELECT min(p.chunks) > 1 FROM cdc.backfill_progress p JOIN cdc.backfill_request r USING (id, relid)
	JOIN cdc.consumer_state c ON c.id = r.consumer_id WHERE c.name = 'bf2'}), 't',
	'round 2: it continued chunk by chunk');
is($node->safe_psql('postgres', q{SELECT rows_done FROM cdc.backfills WHERE consumer = 'bf2'}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM got WHERE consumer = 'bf2' AND operation = 'read'}),
	'round 2: every row logged was delivered once, none from before the stop again');
check_copy('bf2', 'round 2 (immediate stop)');

# A group that asked gets its own read entries; the other consumer none.
$node->safe_psql('postgres', q{SELECT cdc.create_group('g', entities => '{public.shop}', start => 'snapshot')});
is(poll_for($node, 'postgres', q{SELECT state FROM cdc.backfills WHERE consumer = 'g'}, 'done', 1800),
	'done', 'a group\'s backfill ends');
is($node->safe_psql('postgres', q{
	WITH r AS (SELECT * FROM cdc.read_group('g', 'm1', 1000000))
	SELECT count(*) FILTER (WHERE operation = 'read') = (SELECT count(*) FROM shop) FROM r}), 't',
	'the group leases every row as a read entry');
drain('bystander');
is($node->safe_psql('postgres', q{SELECT count(*) FROM got WHERE consumer = 'bystander' AND operation = 'read'}),
	'0', 'the group\'s read entries reach no consumer');

ok(!$node->log_contains('server process .* was terminated by signal'), 'no server process crashed');
done_testing();
