# What a role with README's grants, or with CONNECT only, writes must never
# stop, stall or bloat the log writer.  Each case below stopped 1.2's writer
# before the fix (found by attacking it; the reproductions were in
# /work/attack, kept here as tests):
#  - an int[] of 17 million NULLs (24 kB stored) needed a 1 GB jsonb parse
#    state: "invalid memory alloc request size", every restart;
#  - a 180 MB message of control characters passed 1 GB as escaped JSON
#    text on its way into jsonb; a 150 MB prefix beside 150 MB of content
#    passed jsonb's 256 MB;
#  - pg_advisory_lock(6513763, 1), open to any role, held the writer's
#    chunk lock: a new log stayed empty, silently;
#  - a composite type whose attributes are two of the type below it, 40
#    levels deep, was classified as a tree of 2^40 nodes (out of memory);
#  - the relation cache kept the entry of every table ever decoded: a role
#    creating, writing and dropping tables grew the writer without bound.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('hostile', spill => 1, conf => qq{
restart_after_crash = on
max_wal_size = 4GB
});

# an attacker holds what was the chunk lock before the extension exists
$node->safe_psql('postgres', q{CREATE ROLE conn LOGIN});
my $conn = $node->background_psql('postgres', extra_params => [ '-U', 'conn' ]);
$conn->query_safe(q{SELECT pg_advisory_lock(6513763, 1)});

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE ROLE app LOGIN;
	GRANT USAGE ON SCHEMA cdc TO app;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO app;
	GRANT SELECT ON cdc.consumers TO app;
	CREATE SCHEMA appdata AUTHORIZATION app;
	SELECT cdc.set_capture(messages => '{*}');
	CREATE TABLE marker (id int PRIMARY KEY);
});
is(writer_running($node, 'postgres'), 't', 'the writer runs');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()});
my $marks = 0;

# a marker row, then wait for the log (300 s at most: a 300 MB record took
# over 60 s beside two other suites on 2 cores): logged, same writer
sub logged
{
	my ($name) = @_;
	$marks++;
	$node->safe_psql('postgres', qq{INSERT INTO marker VALUES ($marks)});
	my ($ret, $out, $err) = $node->psql('postgres', q{SELECT cdc.wait_for_log(timeout => '300 s')});
	is($ret, 0, "$name: the writer logged what came after it") or diag($err);
	is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.marker'}), $marks,
		"$name: every marker logged once");
	is($node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info() WHERE running}), $pid,
		"$name: the writer is the same process");
}

logged('a lock taken by pg_advisory_lock(6513763, 1) before CREATE EXTENSION');
$conn->quit;

$node->safe_psql('postgres', q{
	CREATE TABLE appdata.nulls (id int PRIMARY KEY, a int[]);
	ALTER TABLE appdata.nulls OWNER TO app;
}, extra_params => []);
$node->safe_psql('postgres', q{
	INSERT INTO appdata.nulls VALUES (1, array_fill(NULL::int, ARRAY[17000000]));
	INSERT INTO appdata.nulls VALUES (2, '{1}');
}, extra_params => [ '-U', 'app' ]);
logged('an int[] of 17,000,000 NULLs');
is($node->safe_psql('postgres', q{SELECT string_agg(coalesce(fallback::text, '-') || ' ' || (new_data->'a')::text, ',' ORDER BY new_data->>'id') FROM cdc.log WHERE entity = 'appdata.nulls'}),
	'{a} null,- [1]', 'it is logged as null, named in fallback; the next row as it is');

$node->safe_psql('postgres', q{SELECT pg_logical_emit_message(true, 'evil', repeat(chr(1), 180000000)) IS NOT NULL},
	extra_params => [ '-U', 'conn' ]);
logged('a 180 MB message of control characters');
is($node->safe_psql('postgres', q{SELECT length(new_data->>'content'), fallback IS NULL FROM cdc.log WHERE new_data->>'prefix' = 'evil'}),
	'180000000|t', 'it is logged whole (jsonb holds it: 180 MB, not its 1 GB escaped text)');

$node->safe_psql('postgres', q{SELECT pg_logical_emit_message(true, 'm' || repeat('p', 150000000), repeat('c', 150000000)) IS NOT NULL},
	extra_params => [ '-U', 'conn' ]);
logged('a 150 MB prefix beside 150 MB of content');
is($node->safe_psql('postgres', q{SELECT length(new_data->>'prefix'), new_data->'content' = 'null', new_data->>'content_size', fallback FROM cdc.log WHERE new_data->>'prefix' LIKE 'mppp%'}),
	'150000001|t|150000000|{content}', 'the content is null with its size, named in fallback');

$node->safe_psql('postgres', q{
	SET search_path = appdata;
	DO $$ BEGIN FOR i IN 0..40 LOOP EXECUTE format('CREATE TYPE c%s AS ()', i); END LOOP; END $$;
	ALTER TYPE c0 ADD ATTRIBUTE z int;
	CREATE TABLE fan (id int PRIMARY KEY, x c40);
	DO $$ BEGIN FOR i IN REVERSE 40..1 LOOP
		EXECUTE format('ALTER TYPE c%s ADD ATTRIBUTE a c%s CASCADE, ADD ATTRIBUTE b c%s CASCADE', i, i - 1, i - 1);
	END LOOP; END $$;
	INSERT INTO fan VALUES (1, NULL);
}, extra_params => [ '-U', 'app' ]);
logged('a composite type of 2^40 paths, 40 types');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'appdata.fan' AND operation <> 'schema'}), '1', 'its row is logged');

# a 180 MB string of control characters: jsonb holds it (180 MB), its text
# (escaped, 1.08 GB) could never be read: a consumer would stop at it
$node->safe_psql('postgres', q{CREATE TABLE appdata.ctl (id int PRIMARY KEY, t text); ALTER TABLE appdata.ctl OWNER TO app});
$node->safe_psql('postgres', q{
	SELECT cdc.create_consumer('reader', entities => '{appdata.ctl}');
	INSERT INTO appdata.ctl VALUES (1, repeat(chr(1), 180000000)), (2, 'small');
}, extra_params => [ '-U', 'app' ]);
logged('a 180 MB string of control characters');
is($node->safe_psql('postgres', q{SELECT string_agg(length(new_data::text) || ' ' || coalesce(fallback::text, '-'), ',' ORDER BY seq) FROM cdc.stream('reader')},
		extra_params => [ '-U', 'app' ]),
	'20 {t},23 -', 'it is logged as null, named in fallback, and the consumer reads on (as text)');

# 300 tables created, written and dropped, each in its own transaction
$node->safe_psql('postgres', q{
	SET search_path = appdata;
	CREATE PROCEDURE churn() LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN 1..300 LOOP
			EXECUTE format('CREATE TABLE churn_%s (id int PRIMARY KEY, v text)', i);
			EXECUTE format('INSERT INTO churn_%s VALUES (1, %L)', i, repeat('v', 100));
			COMMIT;
			EXECUTE format('DROP TABLE churn_%s', i);
			COMMIT;
		END LOOP;
	END $$;
	CALL churn();
}, extra_params => [ '-U', 'app' ]);
logged('300 tables created, written and dropped');
# its relation cache
my $report = writer_memory_report($node, $pid);
# (the report lists up to 100 entries; with the dropped tables' entries kept
# it listed 100 and "200 more")
my $entries = () = $report =~ /cdc_ext relation: /g;
ok($report =~ /Grand total/ && $entries < 30,
	"the relation cache keeps no entry of the dropped tables ($entries entries reported)");

# a 100 MB logical message: one WAL record, put together in the reader's
# record buffer and decoded into a copy of its own; once the cycles after it
# ran, the writer holds neither (it kept both, 200 MB, until it restarted)
$node->safe_psql('postgres', q{SELECT pg_logical_emit_message(true, 'big', repeat('m', 100000000))});
logged('a 100 MB message');
logged('a cycle after it');
$report = writer_memory_report($node, $pid);
my ($total) = $report =~ /Grand total: (\d+) bytes/;
ok(defined $total && $total < 50_000_000,
	'after a 100 MB record the writer holds less than 50 MB (' . ($total // 'no report') . ' bytes)');

unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated|PANIC/, 'no process crashed');
$node->stop;
done_testing();
