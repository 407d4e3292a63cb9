# Upgrade 1.1 -> 1.2: a database updated from 1.1 (and from 1.0 through 1.1)
# has exactly the objects of a fresh 1.2 install: the same tables, columns,
# defaults, constraints, indexes, functions (bodies, attributes, ACLs),
# views, types and comments.  src/upgrade_1.1_1.2.sql is written by hand;
# this test fails when it misses or differs from what src/*/*.sql makes.
# Then consumers made under 1.1 read their changes under 1.2.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('upgrade12');

$node->safe_psql('postgres', q{CREATE DATABASE fresh; CREATE DATABASE from11; CREATE DATABASE from10});
$node->safe_psql('fresh', q{CREATE EXTENSION cdc_ext});
# A 1.1 database as the 1.1 writer left it: its slot made, where its log
# starts.  (The library here is 1.2, whose writer waits for the update
# rather than write 1.1's tables; it keeps the slot, so what commits
# meanwhile is logged after the update.)
$node->safe_psql('from11', q{CREATE EXTENSION cdc_ext VERSION '1.1'});
$node->safe_psql('from11', q{
	SELECT pg_create_logical_replication_slot(slot_name, 'cdc_ext') FROM cdc.log_state;
});
$node->safe_psql('from11', q{
	UPDATE cdc.log_state SET capture_from = confirmed_flush_lsn, confirmed_lsn = confirmed_flush_lsn
	FROM pg_replication_slots r WHERE r.slot_name = log_state.slot_name;
	CREATE TABLE t (id int PRIMARY KEY, v text);
	SELECT cdc.create_consumer('old');
});
$node->safe_psql('from10', q{CREATE EXTENSION cdc_ext VERSION '1.0'});
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'cdc_ext'}),
	'1.2', 'a fresh install is 1.2');

# a change committed before the update, then the update
$node->safe_psql('from11', q{INSERT INTO t VALUES (1, 'before')});
isnt($node->safe_psql('from11', q{SELECT running FROM cdc.writer_info()}), 't',
	'no 1.2 writer logs into 1.1 tables');
# settings made under 1.1 (in its one state row) move to cdc.log_settings;
# 1.2's administration functions refuse 1.1's objects until the update
$node->safe_psql('from11', q{UPDATE cdc.log_state SET retention_max_age = '2 days',
	retention_max_bytes = 1073741824, oldest_lsn = '0/10'});
my ($ret, $out, $err) = $node->psql('from11', q{SELECT cdc.set_retention('3 days')});
like($err, qr/ERROR:  cdc_ext 1.1 SQL objects are installed/,
	'1.2 administration functions refuse 1.1 objects with the hint to update');
$node->safe_psql('from11', q{ALTER EXTENSION cdc_ext UPDATE});
is($node->safe_psql('from11', q{SELECT retention_max_age || ' ' || retention_max_bytes FROM cdc.log_settings}),
	'2 days 1073741824', 'the 1.1 settings are 1.2 settings after the update');
is($node->safe_psql('from11', q{SELECT oldest_lsn || ' ' || retention_max_age FROM cdc.log_state}),
	'0/10 2 days', 'cdc.log_state shows the horizon and retention as before');
$node->safe_psql('from11', q{SELECT cdc.set_retention('3 days'); SELECT cdc.set_capture()});
is($node->safe_psql('from11', q{SELECT retention_max_age FROM cdc.log_state}), '3 days',
	'and the administration functions work after it');
$node->safe_psql('from10', q{ALTER EXTENSION cdc_ext UPDATE});
is($node->safe_psql('from11', q{SELECT extversion FROM pg_extension WHERE extname = 'cdc_ext'}),
	'1.2', '1.1 updates to 1.2');
is($node->safe_psql('from10', q{SELECT extversion FROM pg_extension WHERE extname = 'cdc_ext'}),
	'1.2', '1.0 updates to 1.2 through 1.1');

# Every member object of the extension, described so that a fresh install
# and an update compare equal when they have the same definitions.  Column
# order is not compared (ALTER TABLE ADD COLUMN appends; a fresh install may
# place a column elsewhere), everything else is.
my $catalog = q{
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'cdc_ext'),
members AS (
	SELECT d.classid, d.objid FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT line FROM (
	SELECT 'object ' || pg_describe_object(classid, objid, 0) AS line FROM members
	UNION ALL
	SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
		|| coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
		|| coalesce(' acl ' || a.attacl::text, '')
	FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	UNION ALL
	SELECT 'relation ' || c.oid::regclass || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '-')
		|| ' ' || c.relpersistence::text || coalesce(' ' || pg_get_viewdef(c.oid), '')
		|| coalesce(' ' || pg_get_partkeydef(c.oid), '')
		|| coalesce(' comment ' || obj_description(c.oid, 'pg_class'), '')
	FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON')
	FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
	UNION ALL
	SELECT 'constraint ' || con.conrelid::regclass || ' ' || pg_get_constraintdef(con.oid)
	FROM members m JOIN pg_constraint con ON m.classid = 'pg_class'::regclass AND con.conrelid = m.objid
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure || ' ' || coalesce(p.proacl::text, '-')
		|| ' ' || pg_get_functiondef(p.oid)
		|| coalesce(' comment ' || obj_description(p.oid, 'pg_proc'), '')
	FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	UNION ALL
	SELECT 'type ' || t.oid::regtype || ' ' || coalesce(t.typacl::text, '-') || ' '
		|| coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
		|| coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum)
					 FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
					 AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'), '')
	FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	SELECT 'schema acl ' || coalesce(nspacl::text, '-') FROM pg_namespace WHERE nspname = 'cdc'
	UNION ALL
	SELECT 'extension config ' || coalesce(extconfig::regclass[]::text, '-') || ' ' || coalesce(extcondition::text, '-')
	FROM pg_extension WHERE extname = 'cdc_ext'
) s ORDER BY line COLLATE "C"
};
# the roles in ACLs are the same (the bootstrap superuser) in all three
my $fresh = $node->safe_psql('fresh', $catalog);
ok(length($fresh) > 1000, 'the fresh install lists its objects');
for my $db ('from11', 'from10')
{
	my $got = $node->safe_psql($db, $catalog);
	if ($got eq $fresh)
	{
		pass("$db after the update has exactly the objects of a fresh 1.2 install");
	}
	else
	{
		my %f = map { $_ => 1 } split /\n/, $fresh;
		my %g = map { $_ => 1 } split /\n/, $got;
		my @missing = grep { !$g{$_} } sort keys %f;
		my @extra = grep { !$f{$_} } sort keys %g;
		fail("$db after the update has exactly the objects of a fresh 1.2 install");
		diag("only in the fresh install:\n  " . join("\n  ", map { substr($_, 0, 300) } @missing));
		diag("only after the update:\n  " . join("\n  ", map { substr($_, 0, 300) } @extra));
	}
}

# the consumer made under 1.1 reads under 1.2: the change committed before
# the update (kept by the slot) and one after it, with no gap
is(writer_running($node, 'from11'), 't',
	'after the update the writer runs');
$node->safe_psql('from11', q{INSERT INTO t VALUES (2, 'after')});
$node->safe_psql('from11', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('from11', q{SELECT string_agg(new_data->>'v', ',' ORDER BY commit_lsn, seq) FROM cdc.stream('old')}),
	'before,after', 'a 1.1 consumer reads what was committed before and after the update');
# schema versions (docs/schema-changes.md): the change decoded before the
# update has none (cdc.schema_shape did not exist then); the table, there
# at the update, has the shape recorded at 0/0 since; then an ALTER
is($node->safe_psql('from11', q{SELECT string_agg(coalesce(schema_version::text, 'null'), ',' ORDER BY commit_lsn, seq) FROM cdc.stream('old')}),
	'null,0/0', 'the change before the update has no schema_version, the one after has 0/0');
$node->safe_psql('from11', q{ALTER TABLE t ADD COLUMN w int; INSERT INTO t VALUES (3, 'altered', 3)});
$node->safe_psql('from11', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('from11', q{SELECT l.schema_version = s.lsn FROM cdc.log l, cdc.log s
	WHERE l.new_data->>'v' = 'altered' AND s.operation = 'schema' AND s.entity = 'public.t'}),
	't', 'after an ALTER of the table its changes carry the schema entry\'s position');
is($node->safe_psql('from11', q{SELECT old_data->'columns'->-1->>'name' || ',' || (new_data->'columns'->-1->>'name')
	FROM cdc.log WHERE operation = 'schema' AND entity = 'public.t'}),
	'v,w', 'the first ALTER of a table older than the update has the shape before');
is($node->safe_psql('from11', q{SELECT lost_to IS NULL FROM cdc.status()}), 't',
	'nothing was lost: the slot the 1.1 writer confirmed in memory is taken as it is once');

$node->stop;
done_testing();
