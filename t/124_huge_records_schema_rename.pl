# Huge records and values through the log writer's buffers, and ALTER
# SCHEMA ... RENAME (attacks on both, kept as tests):
#  - the log writer gives back its reader's and reorder buffer's outsized
#    buffers after each cycle (src/log/ingest.c, decoder_shrink): spilled
#    transactions with 5-50 MB values, 20-100 MB transactional messages,
#    20,000 subtransactions with a message in one of them, the writer
#    terminated and the server stopped -m immediate while it decodes them.
#    Every change must arrive once, in order, byte for byte (md5 against
#    the table), nothing may crash, and the writer must end up small;
#  - ALTER SCHEMA ... RENAME makes a `schema` entry for each captured table
#    in the schema (src/log/schema.c): done by a role with README's grants
#    (and CREATE on the database) that owns a schema holding tables of
#    other roles, whose entries must not reach it; OWNER TO, an empty
#    schema and a rolled-back rename make none; partitions in other schemas
#    than their parent; and a table elsewhere whose column type or default
#    lives in the renamed schema, whose shape the rename changes too (it
#    kept the old name, with no entry, until the table's next ALTER).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('huge_rename', spill => 1, conf => qq{
restart_after_crash = on
max_wal_size = 4GB
});

# README's grants, exactly (read from README.md)
my $readme_grants = readme_grants('app');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION cdc_ext;
	CREATE ROLE app LOGIN;
	CREATE ROLE nopriv LOGIN;
	$readme_grants
	SELECT cdc.set_capture(messages => '{*}');
	CREATE SCHEMA appdata AUTHORIZATION app;
	CREATE TABLE big (id int PRIMARY KEY, v text);
	ALTER TABLE big ALTER v SET STORAGE EXTERNAL;
	CREATE TABLE sub (id int PRIMARY KEY, t int);
	CREATE TABLE msgs (prefix text PRIMARY KEY, len int, md5 text);
	GRANT SELECT ON big, sub TO app;
	-- n bytes of md5 hex: incompressible enough that pglz stores it as is
	CREATE FUNCTION rnd(n int) RETURNS text LANGUAGE sql
		AS \$\$ SELECT string_agg(md5(random()::text), '') FROM generate_series(1, n / 32) \$\$;
});
is(writer_running($node, 'postgres'), 't', 'the writer runs');
wait_for_capture($node, 'postgres');
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('all', operations => '{message}', start => 'now')});
$node->safe_psql('postgres', q{SELECT cdc.create_consumer('c', entities => '{public.big,public.sub}', start => 'now')},
	extra_params => [ '-U', 'app' ]);

sub writer_pid
{
	return poll_for($node, 'postgres', q{SELECT pid IS NOT NULL FROM cdc.writer_info() WHERE running}, 't')
	  eq 't' ? $node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()}) : undef;
}

# one transaction: rows of $mb[0], $mb[1] MB around a message of $msg MB
# (its md5 kept in msgs), 1,000 small rows
sub big_tx
{
	my ($k, $msg, @mb) = @_;
	$node->safe_psql('postgres', qq{
		BEGIN;
		INSERT INTO big VALUES ($k * 10 + 1, rnd($mb[0] * 1000000));
		INSERT INTO msgs SELECT 'big$k', length(m), md5(m)
			FROM (SELECT pg_logical_emit_message(true, 'big$k', m) l, m
				  FROM (SELECT rnd($msg * 1000000) m) s) s2;
		INSERT INTO big VALUES ($k * 10 + 2, rnd($mb[1] * 1000000));
		INSERT INTO sub SELECT 1000000 * $k + g, $k FROM generate_series(1, 1000) g;
		COMMIT;
	});
}

# 1. committed while the writer waits between cycles, then the writer is
#    terminated while it decodes it (restoring the spilled changes)
big_tx(1, 20, 5, 50);
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM cdc.writer_info()});
isnt(writer_pid(), undef, 'the writer runs again after pg_terminate_backend');

# 2. 20,000 subtransactions of a row each, a 30 MB message in the middle one
$node->safe_psql('postgres', q{
	DO $$
	DECLARE m text := rnd(30000000);
	BEGIN
		FOR i IN 1..20000 LOOP
			BEGIN
				INSERT INTO sub VALUES (i, i);
				IF i = 10000 THEN
					PERFORM pg_logical_emit_message(true, 'sub', m);
					INSERT INTO msgs VALUES ('sub', length(m), md5(m));
				END IF;
			EXCEPTION WHEN unique_violation THEN NULL;
			END;
		END LOOP;
	END $$;
});
big_tx(2, 100, 20, 30);
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM cdc.writer_info()});

# 3. committed just before an immediate stop: decoded again after recovery
big_tx(3, 60, 10, 40);
$node->stop('immediate');
$node->start;
isnt(writer_pid(), undef, 'the writer runs after an immediate stop');
big_tx(4, 20, 5, 5);

my ($ret, $out, $err) = $node->psql('postgres', q{SELECT cdc.wait_for_log(timeout => '240 s')});
is($ret, 0, 'the writer logged everything') or diag($err);

# the consumer of README's role: every row once, in order, the values whole
$node->safe_psql('postgres', q{
	CREATE TABLE appdata.got (n bigserial, commit_lsn pg_lsn, seq int, entity text,
		id bigint, md5 text);
}, extra_params => [ '-U', 'app' ]);
for (my $i = 0; $i < 100; $i++)
{
	last if $node->safe_psql('postgres', q{
		WITH c AS (INSERT INTO appdata.got (commit_lsn, seq, entity, id, md5)
			SELECT commit_lsn, seq, entity, (new_data->>'id')::bigint, md5(new_data->>'v')
			FROM cdc.consume('c', 10000) RETURNING 1)
		SELECT count(*) FROM c}, extra_params => [ '-U', 'app' ]) == 0;
}
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM big) || ' ' || (SELECT count(*) FROM sub) || ' ' ||
		count(*) FILTER (WHERE entity = 'public.big') || ' ' ||
		count(*) FILTER (WHERE entity = 'public.sub') || ' ' ||
		count(DISTINCT (entity, id)) || ' ' || count(*)
	FROM appdata.got}, extra_params => [ '-U', 'app' ]),
	'8 24000 8 24000 24008 24008', 'every row arrives once (8 big, 24,000 small)');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM appdata.got g JOIN big b ON b.id = g.id
	WHERE g.entity = 'public.big' AND g.md5 = md5(b.v)}, extra_params => [ '-U', 'app' ]),
	'8', 'the 5-50 MB values are byte-identical (md5 against the table)');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT commit_lsn, seq, id, entity,
		lag((commit_lsn, seq)) OVER (ORDER BY n) AS prev,
		lag(id) OVER (PARTITION BY commit_lsn, entity ORDER BY n) AS prev_id
		FROM appdata.got) s
	WHERE prev >= (commit_lsn, seq) OR prev_id >= id}, extra_params => [ '-U', 'app' ]),
	'0', 'in order: by (commit_lsn, seq), and each transaction\'s rows as inserted');

# the messages, to a superuser's consumer: once each, byte-identical
is($node->safe_psql('postgres', q{
	WITH c AS (SELECT new_data->>'prefix' AS prefix, md5(new_data->>'content') AS md5,
			length(new_data->>'content') AS len
		FROM cdc.consume('all', 100))
	SELECT count(*) || ' ' || count(DISTINCT c.prefix) || ' ' ||
		count(*) FILTER (WHERE c.md5 = m.md5 AND c.len = m.len) || ' ' || (SELECT count(*) FROM msgs)
	FROM c LEFT JOIN msgs m USING (prefix)}),
	'5 5 5 5', 'every message (20-100 MB) arrives once, byte-identical');

# the writer's memory after all that: it gave the outsized buffers back
my $pid = writer_pid();
$node->safe_psql('postgres', q{INSERT INTO sub VALUES (-1, 0)});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(timeout => '60 s')});
my $report = writer_memory_report($node, $pid);
my ($total) = $report =~ /Grand total: (\d+) bytes/;
ok(defined $total && $total < 50_000_000,
	'afterwards the writer holds less than 50 MB (' . ($total // 'no report') . ' bytes)');

# ---------------------------------------------------------------------
# ALTER SCHEMA: app (README's grants, and CREATE on the database, which
# ALTER SCHEMA RENAME needs) owns schema s; s holds a table of its own, a
# superuser's table it may not read and one of a role without privileges
$node->safe_psql('postgres', q{
	GRANT CREATE ON DATABASE postgres TO app;
	CREATE SCHEMA s AUTHORIZATION app;
	GRANT USAGE, CREATE ON SCHEMA s TO nopriv;
	CREATE TABLE s.secret (id int PRIMARY KEY, pw text);
	SET ROLE nopriv;
	CREATE TABLE s.other (id int PRIMARY KEY, x text);
	RESET ROLE;
	SET ROLE app;
	CREATE TABLE s.own (id int PRIMARY KEY, y text);
	SELECT cdc.create_consumer('sc', operations => '{insert,update,delete,truncate,schema}', start => 'now');
	SELECT cdc.create_group('sg', operations => '{insert,update,delete,truncate,schema}', start => 'now');
});
$node->safe_psql('postgres', q{ALTER SCHEMA s RENAME TO s2}, extra_params => [ '-U', 'app' ]);
$node->safe_psql('postgres', q{INSERT INTO s2.secret VALUES (1, 'pw'); INSERT INTO s2.own VALUES (1, 'y')});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{
	SELECT string_agg(entity, ',' ORDER BY entity) FROM cdc.log
	WHERE operation = 'schema' AND new_data->>'command_tag' = 'ALTER SCHEMA'}),
	's2.other,s2.own,s2.secret', 'the rename by the schema\'s owner: an entry for each table in it');
is($node->safe_psql('postgres', q{
	SELECT string_agg(operation || ' ' || entity, ',') FROM cdc.stream('sc')}, extra_params => [ '-U', 'app' ]),
	'schema s2.own,insert s2.own', 'cdc.stream: only the entry of the table the role may SELECT');
is($node->safe_psql('postgres', q{
	SELECT string_agg(operation || ' ' || entity, ',') FROM cdc.consume('sc')}, extra_params => [ '-U', 'app' ]),
	'schema s2.own,insert s2.own', 'cdc.consume: the same');
# (the table's row waits until its schema entry is acknowledged)
is($node->safe_psql('postgres', q{
	SELECT string_agg(operation || ' ' || entity, ',') FROM cdc.read_group('sg', 'm')}, extra_params => [ '-U', 'app' ]),
	'schema s2.own', 'cdc.read_group: the same');

# no entry: OWNER TO, a schema without tables, a rename rolled back
my $before = $node->safe_psql('postgres', q{SELECT pg_current_wal_insert_lsn()});
$node->safe_psql('postgres', q{
	ALTER SCHEMA s2 OWNER TO nopriv;
	CREATE SCHEMA e1;
	ALTER SCHEMA e1 RENAME TO e2;
	ALTER SCHEMA e2 OWNER TO app;
	BEGIN;
	ALTER SCHEMA s2 RENAME TO s3;
	ROLLBACK;
	CREATE TABLE tick (id int);
});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', qq{
	SELECT string_agg(entity, ',') FROM cdc.log WHERE operation = 'schema' AND commit_lsn > '$before'}),
	'public.tick', 'OWNER TO, an empty schema, a rolled-back rename: no entry');

# partitions: of a parent in the renamed schema but in another, and in it
$node->safe_psql('postgres', q{
	CREATE SCHEMA pa;
	CREATE SCHEMA pb;
	CREATE TABLE pa.parent (id int, k int, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
	CREATE TABLE pb.p1 PARTITION OF pa.parent FOR VALUES IN (1);
	CREATE TABLE pa.p2 PARTITION OF pa.parent FOR VALUES IN (2);
	CREATE TABLE pa.mid PARTITION OF pa.parent FOR VALUES IN (3) PARTITION BY LIST (id);
	CREATE TABLE pb.leaf PARTITION OF pa.mid FOR VALUES IN (1);
});
$before = $node->safe_psql('postgres', q{SELECT pg_current_wal_insert_lsn()});
$node->safe_psql('postgres', q{
	ALTER SCHEMA pa RENAME TO pa2;
	ALTER SCHEMA pb RENAME TO pb2;
	INSERT INTO pa2.parent VALUES (1, 1), (1, 2), (1, 3);
});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', qq{
	SELECT string_agg(operation || ' ' || entity, ',' ORDER BY commit_lsn, operation DESC, entity) FROM cdc.log
	WHERE commit_lsn > '$before'}),
	'schema pa2.p2,schema pb2.leaf,schema pb2.p1,insert pa2.p2,insert pb2.leaf,insert pb2.p1',
	'partitions: an entry each where its own schema is renamed; none for the parents');

# a table in another schema whose column type and default live in the
# renamed one: its shape names them, so it changes too
$node->safe_psql('postgres', q{
	CREATE SCHEMA ty;
	CREATE TYPE ty.mood AS ENUM ('a', 'b');
	CREATE SEQUENCE ty.seq;
	CREATE TABLE uses (id int PRIMARY KEY DEFAULT nextval('ty.seq'), m ty.mood, ms ty.mood[]);
	CREATE TABLE uses_default (id int PRIMARY KEY DEFAULT nextval('ty.seq'));
});
$before = $node->safe_psql('postgres', q{SELECT pg_current_wal_insert_lsn()});
$node->safe_psql('postgres', q{ALTER SCHEMA ty RENAME TO ty2});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', qq{
	SELECT string_agg(entity || ' ' || (SELECT string_agg(c->>'type' || ' ' || coalesce(c->>'default', '-'), ' ')
		FROM jsonb_array_elements(new_data->'columns') c), ',' ORDER BY entity)
	FROM cdc.log WHERE operation = 'schema' AND commit_lsn > '$before'}),
	"public.uses integer nextval('ty2.seq'::regclass) ty2.mood - ty2.mood[] -,"
	  . "public.uses_default integer nextval('ty2.seq'::regclass)",
	'a table elsewhere using a type or a sequence of the renamed schema: an entry with the new names');
is($node->safe_psql('postgres', q{
	SELECT shape->'columns'->1->>'type' FROM cdc.schema_shape
	WHERE relid = 'uses'::regclass ORDER BY version DESC LIMIT 1}),
	'ty2.mood', 'and its recorded shape is the new one');

unlike(slurp_file($node->logfile), qr/TRAP|terminated by signal|PANIC/, 'no process crashed');
$node->stop;
done_testing();
