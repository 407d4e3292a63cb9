# The plugin through pg_recvlogical across immediate stops: the client keeps
# streaming to a file while a writer commits numbered rows; the server is
# stopped with "-m immediate" several times and the client started again.
# Nothing committed is lost, and what repeats is whole transactions after
# the slot's last durable position, byte for byte as first sent.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('recvcrash');

$node->safe_psql('postgres', q{
	CREATE TABLE src (id int PRIMARY KEY);
	CREATE PROCEDURE writer_loop() LANGUAGE plpgsql AS $$
	DECLARE next int;
	BEGIN
		LOOP
			SELECT coalesce(max(id), 0) + 1 INTO next FROM src;
			INSERT INTO src SELECT generate_series(next, next + (random() * 3)::int);
			COMMIT;
			PERFORM pg_sleep(0.002);
		END LOOP;
	END $$;
	SELECT 'init' FROM pg_create_logical_replication_slot('rc', 'cdc_ext');
});

my $file = $PostgreSQL::Test::Utils::tmp_check . '/recv_output.jsonl';
sub start_client
{
	my @extra = @_;
	return IPC::Run::start(
		[ 'pg_recvlogical', '-d', $node->connstr('postgres'), '-S', 'rc', '--start',
		  '-f', $file, '--no-loop', '-F', '1', '-s', '1', @extra ],
		'>', \my $out, '2>', \my $err);
}

for my $sleep (1.2, 0.4, 1.8)
{
	my $client = start_client();
	my $writer = start_psql($node, 'postgres', 'CALL writer_loop()');
	select(undef, undef, undef, $sleep);
	$node->stop('immediate');
	$writer->{h}->finish;
	$client->finish;
	$node->start;
}

# read to the end of what is committed now
my $endpos = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $client = start_client('--endpos', $endpos);
$client->finish;

my @lines = grep { length } split /\n/, slurp_file($file);
my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM src');
cmp_ok($committed, '>', 100, "rows were committed across the crashes ($committed)");

# load what the client wrote and let the server check it
$node->safe_psql('postgres', 'CREATE TABLE got (n int, line text, d jsonb)');
my $n = 0;
my $values = join ",\n", map { my $l = $_; $l =~ s/'/''/g; $n++; "($n, '$l', '$l')" } @lines;
$node->safe_psql('postgres', "INSERT INTO got VALUES $values");

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM src LEFT JOIN got ON (got.d->'new_data'->>'id')::int = src.id WHERE got.n IS NULL}),
	'0', 'every committed row reached the client');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM got LEFT JOIN src ON (got.d->'new_data'->>'id')::int = src.id WHERE src.id IS NULL}),
	'0', 'nothing uncommitted reached it');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT d->>'commit_lsn' c, d->>'seq' s, count(DISTINCT line) v FROM got GROUP BY 1, 2) x
	WHERE v > 1}),
	'0', 'a repeated entry is identical to its first delivery');
# a repeat restarts the stream at a transaction's first change, then goes on in order
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		SELECT (d->>'commit_lsn')::pg_lsn AS c, (d->>'seq')::int AS s,
			   lag((d->>'commit_lsn')::pg_lsn) OVER w AS pc, lag((d->>'seq')::int) OVER w AS ps
		FROM got WINDOW w AS (ORDER BY n)) x
	WHERE pc IS NOT NULL AND (c, s) <= (pc, ps) AND s <> 1}),
	'0', 'a repeat starts at a transaction boundary; otherwise the cursor only grows');
note 'entries received: ' . scalar(@lines) . ", distinct: "
  . $node->safe_psql('postgres', q{SELECT count(DISTINCT (d->>'commit_lsn', d->>'seq')) FROM got});

$node->stop;
done_testing();
