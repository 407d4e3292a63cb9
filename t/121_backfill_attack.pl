# Backfill (issue 18) attacked by an application role with exactly
# README's grants and the backfill ones: what it must not be able to do to
# the log writer, to other roles' backfills, or learn through them.  Each
# case is one finding of the red team (issue 18); each fails on the code it
# was found on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('bfattack', conf => "restart_after_crash = on\n");
$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext});
wait_for_capture($node, 'postgres');

# README's grants for an application (consumers, backfills, groups: read
# from README.md).
for my $r ('app', 'victim')
{
	my $grants = readme_grants($r);
	$node->safe_psql('postgres', qq{
		CREATE ROLE $r LOGIN;
		$grants
		GRANT CREATE ON SCHEMA public TO $r;});
}

# Run $sql as role $role; returns stdout (dies on error).
sub as
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', "SET ROLE $role; $sql");
}

# Run $sql as role $role, which must fail; returns stderr.
sub as_err
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE $role; $sql",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err;
}

# 1. The key changes type during a backfill: the last key logged (an int4,
# serialized by value) was restored and compared as text by the new key
# index, and the log writer died of SIGSEGV, taking the server down; after
# the restart it read the same progress and died again, in a loop, until
# the backfill was cancelled.  Any role that owns a table can do it.
as('app', q{
	CREATE TABLE kchg (id int PRIMARY KEY, name text NOT NULL, pad text);
	INSERT INTO kchg SELECT g, 'n' || g, repeat('x', 200) FROM generate_series(1, 300000) g;
	SELECT cdc.create_consumer('a_kchg', entities => '{public.kchg}');
	SELECT cdc.backfill('a_kchg');});
is(poll_for($node, 'postgres', q{SELECT state = 'running' AND rows_done > 0 FROM cdc.backfills WHERE consumer = 'a_kchg'},
	't', 600), 't', 'key change: the backfill is under way');
my $mid = as('app', q{
	BEGIN;
	ALTER TABLE kchg DROP CONSTRAINT kchg_pkey, ADD PRIMARY KEY (name);
	SELECT state FROM cdc.backfills WHERE consumer = 'a_kchg';
	COMMIT;});
is($mid, 'running', 'key change: the key changed in the middle of the backfill');
my $end = poll_for($node, 'postgres',
	q{SELECT state IN ('done', 'failed') FROM cdc.backfills WHERE consumer = 'a_kchg'}, 't', 150);
my $crashes = () = slurp_file($node->logfile) =~ /terminated by signal/g;
is($crashes, 0, 'key change: no server process crashed (the log writer died of a signal '
	. "$crashes times)");
is($end, 't', 'key change: the backfill ends (done or failed), not in a crash loop');
# stop a crash loop so that the next cases run on a stable server
for (1 .. 100)
{
	my ($ret) = $node->psql('postgres', q{SELECT cdc.cancel_backfill(id) FROM cdc.backfills
		WHERE consumer = 'a_kchg' AND state IN ('pending', 'running')});
	last if $ret == 0;
	sleep 1;
}
$node->poll_query_until('postgres', q{SELECT running FROM cdc.writer_info()}) or die 'no writer';

# 2. Starvation: the writer looks at the 32 oldest requests not finished and
# reads the first whose table it can lock at once.  A role that asks 32
# times for its own table and holds ACCESS EXCLUSIVE on it in an open
# transaction stops every other role's backfill in the database for as
# long as it likes.
as('app', q{
	SELECT format('CREATE TABLE mine%s (id int PRIMARY KEY, v text); INSERT INTO mine%s VALUES (1, ''x'')', g, g)
	FROM generate_series(1, 40) g \gexec
	SELECT cdc.create_consumer('a_mine', entities => '{public.mine*}');});
$node->safe_psql('postgres', q{
	CREATE TABLE vt (id int PRIMARY KEY, v text);
	INSERT INTO vt SELECT g, 'v' FROM generate_series(1, 1000) g;
	GRANT SELECT ON vt TO victim;});
my $locker = start_psql($node, 'postgres',
	q{SET ROLE app; BEGIN; DO $$ BEGIN FOR g IN 1..40 LOOP
		EXECUTE format('LOCK mine%s IN ACCESS EXCLUSIVE MODE', g); END LOOP; END $$;
	SELECT pg_sleep(600);}, name => 'locker');
poll_for($node, 'postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	WHERE c.relname LIKE 'mine%' AND l.mode = 'AccessExclusiveLock' AND l.granted}, '40');
as('app', q{SELECT cdc.backfill('a_mine') IS NOT NULL});
# asking again for the same tables: refused, not queued twice
like(as_err('app', q{SELECT cdc.backfill('a_mine')}), qr/55006.*being backfilled for it already/s,
	'a second backfill of the same tables for the same consumer is refused');
as('victim', q{SELECT cdc.create_consumer('v_vt', entities => '{public.vt}', start => 'snapshot')});
is(poll_for($node, 'postgres', q{SELECT state FROM cdc.backfills WHERE consumer = 'v_vt'}, 'done', 300),
	'done', "another role's 40 locked tables do not stop a victim's backfill (30 s)");
stop_psql($node, $locker);

# 3. cdc.backfills counts the rows read of a table whose row-level security
# applies to the owner: the owner learns how many rows it may not see.
$node->safe_psql('postgres', q{
	CREATE TABLE rls (id int PRIMARY KEY, owner text, v text);
	INSERT INTO rls VALUES (1, 'app', 'mine'), (2, 'victim', 'theirs'), (3, 'victim', 'theirs too');
	ALTER TABLE rls ENABLE ROW LEVEL SECURITY;
	CREATE POLICY p ON rls USING (owner = current_user);
	GRANT SELECT ON rls TO app;});
as('app', q{SELECT cdc.create_consumer('a_rls', entities => '{public.rls}', start => 'snapshot')});
is(as('app', q{SELECT count(*) FROM cdc.backfills WHERE consumer = 'a_rls'}), '0',
	'a table whose row-level security applies to the owner is not read: cdc.backfills counts nothing of it');
like(as('app', q{SELECT withheld FROM cdc.consumers WHERE name = 'a_rls'}), qr/public\.rls: row-level security/,
	'... and cdc.consumers names it withheld');

done_testing();
