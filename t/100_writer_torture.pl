# Torture test of the log writer: what ordinary and hostile workloads write
# into WAL must never crash, stall or confuse it.  Records from 1 MB to
# 100 MB (logical messages, commit records of 100,000 subtransactions,
# invalidations of DDL storms), large values, spilled transactions
# (logical_decoding_work_mem = 64kB), interleaved with small commits over
# many cycles, the capture changed and the extension dropped in between
# (both close the decoding context, which frees the WAL reader).
#
# 1.1 crashed here (SIGSEGV in pfree under XLogReadRecord, SIGABRT after
# subtransaction-heavy transactions, a second crash in XLogReaderFree at
# set_capture or DROP EXTENSION): the reader's buffer, grown for a large
# record, lived in a cycle's transaction context freed at its commit, and
# the postmaster restarted every backend.  The first round is the issue's
# reproduction, as a role with only CONNECT.
#
# Checked after every round: the writer is the same process (no crash, no
# restart), the server log has no crash, and every small commit is logged
# exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('torture', spill => 1, conf => qq{
restart_after_crash = on
max_wal_size = 4GB
max_locks_per_transaction = 256
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION cdc_ext;
	CREATE TABLE small (id int PRIMARY KEY, round text);
	CREATE TABLE big (id int PRIMARY KEY, t text, b bytea);
	CREATE TABLE sub (id int PRIMARY KEY);
	CREATE TABLE bulk (id int PRIMARY KEY);
	CREATE ROLE nobody LOGIN;	-- CONNECT only (PUBLIC's default), nothing of cdc
});
is(writer_running($node, 'postgres'), 't', 'the writer runs');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()});
my $small = 0;

# A small commit, then wait until the writer has logged everything so far;
# the writer must still be the same process and have logged each small
# commit exactly once.
sub round_done
{
	my ($name) = @_;
	$small++;
	$node->safe_psql('postgres', qq{INSERT INTO small VALUES ($small, '$name')});
	my ($ret, $out, $err) = $node->psql('postgres', q{SELECT cdc.wait_for_log(timeout => '120 s')});
	is($ret, 0, "$name: the writer logged everything") or diag($err);
	is($node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info() WHERE running}), $pid,
		"$name: the writer is the same process");
	is($node->safe_psql('postgres',
			q{SELECT count(*) || '/' || count(DISTINCT new_data->>'id') FROM cdc.log WHERE entity = 'public.small'}),
		"$small/$small", "$name: every small commit logged exactly once");
}

# 0. What crashed 1.1, made deterministic: the writer waits at the start of
# a cycle (behind a lock on its state table) while the records are written,
# so that one cycle replays a commit and then reads a record larger than
# any before (the reader grows its buffer then), and the next cycle reads a
# larger one still.  Record sizes grow from round to round: the reader's
# buffer only grows.  First the issue's subtransactions (commit records of
# 20,000 and 80,000 subtransactions), then messages of 2 MB and 20 MB.
sub in_one_cycle
{
	my ($sql) = @_;
	my $locker = $node->background_psql('postgres');
	$locker->query_safe(q{BEGIN; LOCK TABLE cdc.log_state IN ACCESS EXCLUSIVE MODE;});
	# the writer wakes for the lock's WAL and waits for the lock
	poll_for($node, 'postgres',
		q{SELECT count(*) > 0 FROM pg_locks WHERE NOT granted AND relation = 'cdc.log_state'::regclass}, 't');
	$node->safe_psql('postgres', $sql, extra_params => [ '-U', 'nobody' ]);
	$locker->query_safe('COMMIT');
	$locker->quit;
}
in_one_cycle(q{
	SELECT pg_logical_emit_message(true,  'x', 'a');
	CREATE TEMP TABLE tt (i int);
	DO $$ BEGIN FOR i IN 1..20000 LOOP BEGIN INSERT INTO tt VALUES (i); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; END $$;
	DO $$ BEGIN FOR i IN 1..80000 LOOP BEGIN INSERT INTO tt VALUES (i); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; END $$;
});
round_done('a replayed commit, then 20,000 and 80,000 subtransactions, in one cycle');
in_one_cycle(q{
	SELECT pg_logical_emit_message(true,  'x', 'a');
	SELECT pg_logical_emit_message(false, 'y', repeat('a', 2000000));
});
round_done('a replayed commit, then a 2 MB message, in one cycle');
in_one_cycle(q{SELECT pg_logical_emit_message(false, 'z', repeat('a', 20000000))});
round_done('then a 20 MB message in the next cycle');

# 1. The issue's reproduction, as a role with only CONNECT
$node->safe_psql('postgres', q{
	SET synchronous_commit = off;
	SELECT pg_logical_emit_message(true,  'x', 'a');
	SELECT pg_logical_emit_message(false, 'y', repeat('a', 2000000));
	SELECT pg_sleep(1);
	SELECT pg_logical_emit_message(false, 'z', repeat('a', 20000000));
}, extra_params => [ '-U', 'nobody' ]);
round_done('messages of 2 MB then 20 MB as a CONNECT-only role');


# 2. Messages from 1 MB to 100 MB, each between small commits (a cycle each)
for my $mb (1, 5, 30, 100)
{
	in_one_cycle(qq{
		SELECT pg_logical_emit_message(true, 'x', 'a');
		SELECT pg_logical_emit_message(false, 'n', repeat('b', $mb * 1000000));
	});
	round_done("a replayed commit, then a non-transactional message of $mb MB");
	$node->safe_psql('postgres', qq{
		BEGIN;
		INSERT INTO big (id, t) VALUES ($mb, 'beside a message');
		SELECT pg_logical_emit_message(true, 't', repeat('c', $mb * 1000000));
		COMMIT;
	});
	round_done("a transactional message of $mb MB");
}

# 3. Subtransactions: 20,000 then 100,000 in one transaction, the issue's
# temp table first, then a captured table written in every 1,000th
$node->safe_psql('postgres', q{
	CREATE TEMP TABLE tt (i int);
	DO $$ BEGIN FOR i IN 1..20000 LOOP BEGIN INSERT INTO tt VALUES (i); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; END $$;
});
round_done('20,000 subtransactions');
$node->safe_psql('postgres', q{
	DO $$ BEGIN
		FOR i IN 1..100000 LOOP
			BEGIN
				IF i % 1000 = 0 THEN INSERT INTO sub VALUES (i); ELSE PERFORM txid_current(); END IF;
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
		END LOOP;
	END $$;
});
round_done('100,000 subtransactions');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.sub'}), '100',
	'the rows written in subtransactions are logged');

# 4. A DDL storm: one transaction creating and dropping 2,000 tables (its
# commit record carries their invalidations), then ALTERs of a captured
# table between its rows
$node->safe_psql('postgres', q{
	DO $$ BEGIN
		FOR i IN 1..2000 LOOP EXECUTE format('CREATE TABLE storm_%s (id int PRIMARY KEY, v text)', i); END LOOP;
		FOR i IN 1..2000 LOOP EXECUTE format('DROP TABLE storm_%s', i); END LOOP;
	END $$;
});
round_done('2,000 tables created and dropped in one transaction');
$node->safe_psql('postgres', q{
	CREATE TABLE shape (id int PRIMARY KEY);
	DO $$ BEGIN
		FOR i IN 1..200 LOOP
			EXECUTE format('ALTER TABLE shape ADD COLUMN c%s int DEFAULT %s', i, i);
			EXECUTE format('INSERT INTO shape (id) VALUES (%s)', i);
		END LOOP;
	END $$;
});
round_done('200 ALTER TABLEs between rows of one transaction');
is($node->safe_psql('postgres', q{SELECT count(*), max((new_data->>'c200')::int) FROM cdc.log WHERE entity = 'public.shape' AND operation = 'insert'}),
	'200|200', 'each row logged with the shape it had');
# ... and the schema version of the ALTER just before it (docs/schema-changes.md)
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE operation = 'schema'),
	count(*) FILTER (WHERE operation = 'insert' AND schema_version = (
		SELECT s.lsn FROM cdc.log s WHERE s.entity = 'public.shape' AND s.operation = 'schema'
		AND (s.commit_lsn, s.seq) < (l.commit_lsn, l.seq) ORDER BY s.commit_lsn DESC, s.seq DESC LIMIT 1))
	FROM cdc.log l WHERE entity = 'public.shape'}),
	'201|200', 'a schema entry for the CREATE and each ALTER, each row with the version of the ALTER before it');

# 5. Large values, in a spilled transaction (64kB), and the capture changed
# (the decoding context closed and opened again)
$node->safe_psql('postgres', q{
	INSERT INTO big (id, t, b) VALUES
		(1000, repeat(md5(random()::text), 1500000),
		 (SELECT string_agg(decode(md5(g::text), 'hex'), ''::bytea) FROM generate_series(1, 1000000) g));
	INSERT INTO bulk SELECT g FROM generate_series(1, 200000) g;
});
round_done('a 48 MB text, a 16 MB bytea and 200,000 rows spilled');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdc.log WHERE entity = 'public.bulk'}), '200000',
	'the spilled transaction is logged whole');
is($node->safe_psql('postgres', q{SELECT length(new_data->>'t'), length(new_data->>'b') FROM cdc.log WHERE entity = 'public.big' AND (new_data->>'id') = '1000'}),
	'48000000|32000002', 'the large values are logged whole');
$node->safe_psql('postgres', q{SELECT cdc.set_capture(exclude_entities => '{public.sub}')});
$node->safe_psql('postgres', q{SELECT pg_logical_emit_message(false, 'n', repeat('d', 60000000))});
round_done('a 60 MB message after the capture changed');
$node->safe_psql('postgres', q{SELECT cdc.set_capture()});
round_done('the capture set back');

# 5b. Values the writer cannot convert exactly never stop the log: they are
# logged in the fallback form and named in `fallback` (1.1 stalled for good
# on each: the writer failed and restarted every second).
# A cast to json whose function cannot be called on a value (polymorphic),
# dropped again before the writer decodes: decoding sees the catalog as of
# the change, so the cast is there for it.
$node->safe_psql('postgres', q{
	CREATE TYPE mood AS ENUM ('ok', 'bad');
	BEGIN;
	CREATE CAST (mood AS json) WITH FUNCTION pg_catalog.to_json(anyelement);
	CREATE TABLE moods (id int PRIMARY KEY, m mood);
	INSERT INTO moods VALUES (1, 'ok');
	DROP CAST (mood AS json);
	COMMIT;
});
round_done('a polymorphic cast to json');
is($node->safe_psql('postgres', q{SELECT new_data->>'m', fallback IS NULL FROM cdc.log WHERE entity = 'public.moods' AND operation <> 'schema'}),
	'ok|t', 'a cast that cannot run on a value is not used: the output text, as for casts of ordinary roles');
# a superuser's cast that fails on some values
$node->safe_psql('postgres', q{
	CREATE FUNCTION mood_json(mood) RETURNS json LANGUAGE plpgsql AS $$
	BEGIN
		IF $1 = 'bad' THEN RAISE EXCEPTION 'no json for %', $1; END IF;
		RETURN to_json($1::text || '!');
	END $$;
	CREATE CAST (mood AS json) WITH FUNCTION mood_json(mood);
	INSERT INTO moods VALUES (2, 'ok'), (3, 'bad');
	DROP CAST (mood AS json);
});
round_done('a cast to json that fails on a value');
is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'m' || ' ' || coalesce(fallback::text, '-'), ',' ORDER BY seq) FROM cdc.log WHERE entity = 'public.moods' AND (new_data->>'id')::int > 1}),
	'ok! -,"bad" {m}', 'the value its cast fails on is logged as its text in the fallback form, named in fallback');
# a 140 MB bytea (its hex text, 280 MB, is past what jsonb holds), an array
# whose jsonb form passes jsonb's limit, and a 195 MB message with a NUL
# byte (its base64 text is past jsonb's string limit)
$node->safe_psql('postgres', q{SELECT cdc.set_capture(messages => '{cap}')});
$node->safe_psql('postgres', q{
	CREATE TABLE huge (id int PRIMARY KEY, note text, b bytea, a int2[]);
	INSERT INTO huge (id, note, b) VALUES (1, 'bytea', decode(repeat('ab', 140000000), 'hex'));
	INSERT INTO huge (id, note, a) VALUES (2, 'array', array_fill(1::int2, ARRAY[25000000]));
	SELECT pg_logical_emit_message(true, 'cap', convert_to(repeat('a', 195000000), 'UTF8') || '\x00'::bytea);
});
round_done('a 140 MB bytea, a 25,000,000-element array and a 195 MB message');
is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'note' || ' ' || (new_data->'b' = 'null')::text || ' ' || coalesce(fallback::text, '-'), ',' ORDER BY seq) FROM cdc.log WHERE entity = 'public.huge'}),
	'bytea true {b},array true {a}', 'values past jsonb\'s limits are logged as null, named in fallback');
is($node->safe_psql('postgres', q{SELECT new_data->'content' = 'null', new_data->>'content_size', fallback FROM cdc.log WHERE operation = 'message' AND new_data->>'prefix' = 'cap'}),
	't|195000001|{content}', 'a message past jsonb\'s limit: content null with its size, named in fallback');
$node->safe_psql('postgres', q{SELECT cdc.set_capture()});
round_done('the capture set back again');

# 6. Everything at once, over many cycles: messages, subtransactions and DDL
# from several sessions while small commits go on
my @bg;
for my $i (1 .. 3)
{
	my $h = $node->background_psql('postgres', on_error_stop => 0);
	push @bg, $h;
	$h->query_until(qr/started/, qq{
		\\echo started
		SELECT pg_logical_emit_message(false, 'p', repeat('e', 8000000 * $i));
		DO \$\$ BEGIN FOR i IN 1..30000 LOOP BEGIN PERFORM txid_current(); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; END \$\$;
		DO \$\$ BEGIN FOR i IN 1..300 LOOP EXECUTE format('CREATE TABLE bg${i}_%s (id int)', i); END LOOP; END \$\$;
		SELECT pg_logical_emit_message(true, 'p', repeat('f', 3000000 * $i));
	});
}
for my $k (1 .. 20)
{
	$small++;
	$node->safe_psql('postgres', qq{INSERT INTO small VALUES ($small, 'concurrent')});
}
$_->quit for @bg;
round_done('messages, subtransactions and DDL from three sessions beside 20 small commits');

# 7. DROP EXTENSION frees the decoding context: no crash, the slot is gone
$node->safe_psql('postgres', q{SELECT pg_logical_emit_message(false, 'n', repeat('g', 30000000))});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log(timeout => '120 s')});
$node->safe_psql('postgres', q{DROP EXTENSION cdc_ext});
is(poll_for($node, 'postgres', q{SELECT count(*) FROM pg_replication_slots}, '0'), '0',
	'DROP EXTENSION stops the writer and drops its slot');

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated|PANIC/,
	'no process crashed: the server never restarted');
$node->stop;
done_testing();
