# What the extension makes carries the install script's ACL (issue 15 item
# 4): with ALTER DEFAULT PRIVILEGES of the installing role granting SELECT
# on tables (and EXECUTE on functions) to an application role, neither the
# install script's objects nor the partitions the writer creates later
# (cdc.log_N) are readable by that role directly.  And DROP DATABASE ...
# WITH (FORCE) works while the database's writer runs (item 14); without
# FORCE it says the database is in use, as for any session.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('acl');

# --- default privileges ---------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE DATABASE acl;
});
$node->safe_psql('acl', q{
	ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO mallory;
	ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO mallory;
	ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO mallory;
	CREATE EXTENSION cdc_ext;
	CREATE TABLE t (id int PRIMARY KEY, secret text);
});
is(writer_running($node, 'acl'), 't', 'the writer runs');
is($node->safe_psql('acl', q{
	SELECT count(*) FROM (
		SELECT c.relacl AS acl FROM pg_class c WHERE c.relnamespace = 'cdc'::regnamespace
		UNION ALL
		SELECT p.proacl FROM pg_proc p WHERE p.pronamespace = 'cdc'::regnamespace) x,
		aclexplode(x.acl) a
	WHERE a.grantee = 'mallory'::regrole}),
	'0', 'the install script\'s tables and functions grant nothing to mallory');
# mallory gets exactly README's grants, and no right on t
$node->safe_psql('acl', q{
	REVOKE ALL ON t FROM mallory;
	GRANT USAGE ON SCHEMA cdc TO mallory;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO mallory;
	GRANT SELECT ON cdc.consumers TO mallory;
	INSERT INTO t VALUES (1, 'classified');
	SELECT cdc.wait_for_log();
});

# the writer makes new partitions ahead of time: wait for a new one
my $before = $node->safe_psql('acl', q{SELECT max(chunk) FROM cdc.log_chunk});
$node->safe_psql('acl', q{SELECT cdc.set_retention(max_age => '4 s')});
$node->safe_psql('acl', q{INSERT INTO t VALUES (2, 'classified too'); SELECT cdc.wait_for_log()});
# (a partition is closed once it holds rows and is older than a second)
ok($node->poll_query_until('acl', qq{
	WITH i AS (INSERT INTO t SELECT max(id) + 1, 'x' FROM t RETURNING id)
	SELECT max(chunk) > $before + 1 FROM cdc.log_chunk, (SELECT count(*) FROM i) n}),
	'the writer made new partitions');
is($node->safe_psql('acl', q{
	SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
	WHERE c.relnamespace = 'cdc'::regnamespace AND c.relkind IN ('r', 'p', 'S')
	AND a.grantee <> c.relowner}),
	'0', 'every table of cdc, partitions included, carries the owner\'s privileges only');
is($node->safe_psql('acl', q{
	SELECT count(*) FROM pg_class c
	WHERE c.relnamespace = 'cdc'::regnamespace AND c.relkind = 'r' AND c.relname ~ '^log_[0-9]+$'
	AND c.relacl IS DISTINCT FROM (SELECT relacl FROM pg_class WHERE oid = 'cdc.log'::regclass)}),
	'0', 'each partition has the ACL of cdc.log');
my $part = $node->safe_psql('acl', q{SELECT 'cdc.' || relname FROM cdc.log_chunk ORDER BY chunk DESC LIMIT 1});
my ($ret, $out, $err) = $node->psql('acl', "SET ROLE mallory; SELECT count(*) FROM $part");
like($err, qr/permission denied for table/, "mallory cannot read $part directly");
($ret, $out, $err) = $node->psql('acl', "SET ROLE mallory; SELECT count(*) FROM cdc.log");
like($err, qr/permission denied for table log/, 'nor cdc.log');
($ret, $out, $err) = $node->psql('acl', "SET ROLE mallory; SELECT count(*) FROM cdc.log_state");
like($err, qr/permission denied for view log_state/, 'nor cdc.log_state');
for my $t ('log_writer', 'log_settings', 'log_horizon', 'log_shape')
{
	($ret, $out, $err) = $node->psql('acl', "SET ROLE mallory; SELECT count(*) FROM cdc.$t");
	like($err, qr/permission denied for table $t/, "nor cdc.$t");
}
# pg_dump's view: the partitions' initial privileges are the owner's only
is($node->safe_psql('acl', q{
	SELECT count(*) FROM pg_init_privs i, aclexplode(i.initprivs) a
	WHERE i.classoid = 'pg_class'::regclass AND a.grantee = 'mallory'::regrole}),
	'0', 'no initial privilege of an extension table names mallory');
$node->safe_psql('acl', q{SELECT cdc.set_retention()});

# --- DROP DATABASE ... WITH (FORCE) -----------------------------------------
my $slot_of = sub {
	my $db = shift;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_replication_slots s JOIN pg_database d ON d.oid = s.datoid
		WHERE d.datname = '$db'});
};
is($slot_of->('acl'), '1', 'the writer holds its slot');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE acl');
isnt($ret, 0, 'DROP DATABASE without FORCE fails while the writer runs');
like($err, qr/is being accessed by other users|used by an active logical replication slot/,
	'and says the database is in use');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'acl'}), '1',
	'the database is still there');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE acl WITH (FORCE)');
is($ret, 0, 'DROP DATABASE ... WITH (FORCE) works with the writer running') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'acl'}), '0',
	'the database is gone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%'}),
	'0', 'and so is the writer\'s slot');

# a database owner who is not a superuser: FORCE may not terminate the
# superuser's writer (as for any superuser session), so the drop fails and
# nothing is terminated
$node->safe_psql('postgres', q{CREATE ROLE dbowner LOGIN CREATEDB; CREATE DATABASE owned OWNER dbowner});
$node->safe_psql('owned', q{CREATE EXTENSION cdc_ext});
is(writer_running($node, 'owned'), 't', 'a writer runs in owned');
my $pid = $node->safe_psql('owned', q{SELECT pid FROM cdc.writer_info()});
($ret, $out, $err) = $node->psql('postgres', 'SET ROLE dbowner; DROP DATABASE owned WITH (FORCE)');
isnt($ret, 0, 'a non-superuser owner cannot force out the superuser writer');
is($node->safe_psql('owned', q{SELECT pid FROM cdc.writer_info()}), $pid, 'the writer was left alone');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE owned WITH (FORCE)');
is($ret, 0, 'a superuser can') or diag($err);

# the other databases' writers are untouched: a new one still starts
$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext});
is(writer_running($node, 'postgres'), 't',
	'writers still start after the drops');

$node->stop;
done_testing();
