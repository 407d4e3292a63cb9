# Schema changes and pg_dump / pg_restore (issue 19, docs/schema-changes.md):
# a database with cdc_ext, captured tables and recorded shapes dumps and
# restores cleanly (the event triggers and cdc.schema_shape belong to the
# extension: not dumped, made again by the restore's CREATE EXTENSION), the
# restored tables' shapes are recorded as the restore creates them, and DDL
# in the restored database makes schema entries, also by a role without
# superuser.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('schema_dump');
$node->safe_psql('postgres', q{CREATE DATABASE src; CREATE DATABASE dst});
$node->safe_psql('src', q{CREATE EXTENSION cdc_ext});
wait_for_capture($node, 'src');
$node->safe_psql('src', q{
	CREATE ROLE dumper LOGIN;
	CREATE SCHEMA app AUTHORIZATION dumper;
	SET ROLE dumper;
	CREATE TABLE app.orders (id int PRIMARY KEY, total numeric DEFAULT 0);
	ALTER TABLE app.orders ADD COLUMN note text NOT NULL DEFAULT '';
	INSERT INTO app.orders VALUES (1, 10, 'a');
	RESET ROLE;
});
$node->safe_psql('src', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('src', q{SELECT count(*) FROM cdc.log WHERE operation = 'schema'}),
	'2', 'the source logged the CREATE and the ALTER');

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ],
	'pg_dump of a database with cdc_ext and recorded shapes');
my ($stdout, $stderr);
my $rc = IPC::Run::run([ 'pg_restore', '-d', $node->connstr('dst'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($rc, 'pg_restore succeeds');
is($stderr, '', 'pg_restore reports nothing');
is($node->safe_psql('dst', q{SELECT count(*) FROM app.orders}), '1', 'the data is restored');
is($node->safe_psql('dst', q{SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'cdc_schema_%'}),
	'2', 'the restored extension has its event triggers, once');
is($node->safe_psql('dst', q{SELECT shape->'columns'->-1->>'name' FROM cdc.schema_shape
	WHERE relid = 'app.orders'::regclass ORDER BY version DESC LIMIT 1}),
	'note', 'the restored table\'s shape is recorded');

# DDL in the restored database, by the table's owner (no superuser)
wait_for_capture($node, 'dst');
$node->safe_psql('dst', q{
	SET ROLE dumper;
	ALTER TABLE app.orders RENAME COLUMN note TO comment;
	INSERT INTO app.orders VALUES (2, 20, 'b');
});
$node->safe_psql('dst', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('dst', q{
	SELECT s.old_data->'columns'->-1->>'name' || '>' || (s.new_data->'columns'->-1->>'name')
		|| ' ' || (i.schema_version = s.lsn)
	FROM cdc.log s, cdc.log i
	WHERE s.operation = 'schema' AND s.new_data->>'command_tag' = 'ALTER TABLE'
	  AND i.operation = 'insert' AND i.new_data->>'id' = '2'
	ORDER BY s.commit_lsn DESC LIMIT 1}),
	'note>comment true', 'a rename after the restore is a schema entry; the next row has its version');

$node->stop;
done_testing();
