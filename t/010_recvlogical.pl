# The output plugin through the replication protocol: the real pg_recvlogical
# client streams ChangeEntries, takes options (with and without values), and
# a bad option is a clear error that leaves the slot usable.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use lib "$ENV{TESTDIR}/t";
use CdcTest;

my $node = cdc_node('recv');

$node->safe_psql('postgres', q{
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	CREATE TABLE audit (id int PRIMARY KEY);
	SELECT 'init' FROM pg_create_logical_replication_slot('recv', 'cdc_ext');
});
$node->safe_psql('postgres', q{
	INSERT INTO orders VALUES (1, 'new'), (2, 'new');
	INSERT INTO audit VALUES (1);
	UPDATE orders SET status = 'paid' WHERE id = 1;
	DELETE FROM orders WHERE id = 2;
});
my $endpos = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');

# JSON lines from the client, parsed by the server
sub entries
{
	my ($text) = @_;
	my @lines = grep { length } split /\n/, $text;
	return join "\n", map {
		my $q = $_;
		$q =~ s/'/''/g;
		$node->safe_psql('postgres',
			"SELECT concat_ws(' ', d->>'entity', d->>'operation', d->'entity_id', d->'old_data', d->'new_data')
			 FROM (SELECT '$q'::jsonb AS d) s");
	} @lines;
}

# pg_recvlogical up to endpos with raw -o arguments ("name=value" or a bare
# "name"); returns exit status, stdout, stderr
sub recvlogical
{
	my ($slot, $upto, @options) = @_;
	my @cmd = ('pg_recvlogical', '-d', $node->connstr('postgres'), '-S', $slot,
		'--endpos', $upto, '-f', '-', '--no-loop', '--start',
		map { ('-o', $_) } @options);
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($? >> 8, $out, $err);
}

# where the slot stands: a failed run must not move it
sub slot_position
{
	my ($slot) = @_;
	return $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn || ' ' || restart_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
}
my $before = slot_position('recv');

# a bad option: the error line and hint, exactly; nothing consumed
my ($rc, $out, $err) = recvlogical('recv', $endpos, 'entities=public.orders', 'operations=upsert');
isnt($rc, 0, 'a bad option stops pg_recvlogical');
is($out, '', '... before any entry is written');
like($err, qr/ERROR:  invalid value for cdc_ext option "operations": "upsert"\n/,
	'the error names the option and the bad value');
like($err, qr/^HINT:  Give a comma-separated list of: insert, update, delete, truncate, schema\.$/m,
	'... and its hint says what is accepted');
($rc, $out, $err) = recvlogical('recv', $endpos, 'entitys=x');
isnt($rc, 0, 'an unknown option stops pg_recvlogical');
like($err, qr/ERROR:  unrecognized cdc_ext option "entitys"\n/, 'the error names the unknown option');
like($err,
	qr/^HINT:  Valid options are: entities, exclude_entities, operations, messages, transactions, numeric_as_string, only_local, schema_changes\.$/m,
	'... and its hint lists every valid option');
($rc, $out, $err) = recvlogical('recv', $endpos, 'transactions=maybe');
like($err, qr/ERROR:  invalid value for cdc_ext option "transactions": "maybe"\n/,
	'a bad boolean is named');
like($err, qr/^HINT:  Use a boolean: true or false\.$/m, '... with its hint');
is(slot_position('recv'), $before, 'the failed runs left the slot where it was');
like(slurp_file($node->logfile), qr/ERROR:  invalid value for cdc_ext option "operations": "upsert"$/m,
	'the server log has the error too');

# the slot still holds everything; stream it filtered, through the client
($rc, $out, $err) = recvlogical('recv', $endpos, 'entities=public.orders', 'transactions');
is($rc, 0, 'pg_recvlogical streams with options') or diag($err);
my @ops = map { /"operation":"(\w+)"/ ? $1 : '?' } grep { length } split /\n/, ($out // '');
is(join(',', @ops), 'begin,insert,insert,commit,begin,update,commit,begin,delete,commit',
	'a bare option (-o transactions) means true; the filter drops audit');
is(entries(join "\n", grep { !/"operation":"(begin|commit)"/ } split /\n/, $out),
	join("\n",
		'public.orders insert 1 null {"id": 1, "status": "new"}',
		'public.orders insert 2 null {"id": 2, "status": "new"}',
		'public.orders update 1 null {"id": 1, "status": "paid"}',
		'public.orders delete 2 {"id": 2} null'),
	'entries carry entity, operation, key, old and new row');

# everything up to endpos was confirmed: a second client run sees nothing new
$node->safe_psql('postgres', q{INSERT INTO audit VALUES (2)});
my $endpos2 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
($rc, $out, $err) = recvlogical('recv', $endpos2);
is(entries($out), 'public.audit insert 2 null {"id": 2}',
	'a new run resumes after what the client confirmed');

# What a client must confirm (README): the end of a transaction.  A change's
# lsn, or the commit_lsn itself, leaves the transaction to be sent again;
# commit_lsn + 1, or the commit entry's lsn (with transactions), does not.
$node->safe_psql('postgres', q{
	SELECT 'init' FROM pg_create_logical_replication_slot('confirm', 'cdc_ext');
	INSERT INTO audit VALUES (10), (11);
	INSERT INTO audit VALUES (12);
});
my ($change_lsn, $commit_lsn, $commit_entry_lsn) = split /\|/, $node->safe_psql('postgres', q{
	SELECT min((d->>'lsn')::pg_lsn) FILTER (WHERE d->>'operation' = 'insert'),
		   min((d->>'commit_lsn')::pg_lsn),
		   min((d->>'lsn')::pg_lsn) FILTER (WHERE d->>'operation' = 'commit')
	FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('confirm', NULL, NULL,
		'transactions', 'true') LIMIT 4) s});
sub first_after_confirming
{
	my ($lsn) = @_;
	$node->safe_psql('postgres', "SELECT pg_replication_slot_advance('confirm', '$lsn')");
	return $node->safe_psql('postgres', q{
		SELECT string_agg(data::jsonb->'new_data'->>'id', ',')
		FROM pg_logical_slot_peek_changes('confirm', NULL, NULL)});
}
is(first_after_confirming($change_lsn), '10,11,12', "confirming a change's lsn: its transaction comes again");
is(first_after_confirming($commit_lsn), '10,11,12', 'confirming the commit_lsn: its transaction comes again');
my $commit_lsn_1 = $node->safe_psql('postgres', "SELECT '$commit_lsn'::pg_lsn + 1");
is(first_after_confirming($commit_lsn_1), '12', 'confirming commit_lsn + 1: it is done');
is(first_after_confirming($commit_entry_lsn), '12', "confirming the commit entry's lsn: it is done");
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('confirm')});

# the same entries as the SQL interface gives
$node->safe_psql('postgres', q{
	SELECT 'init' FROM pg_create_logical_replication_slot('recv2', 'cdc_ext');
	INSERT INTO orders VALUES (3, 'x');
});
my $sql = $node->safe_psql('postgres',
	q{SELECT string_agg(data, E'\n') FROM pg_logical_slot_peek_changes('recv2', NULL, NULL)});
my $endpos3 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
($rc, $out, $err) = recvlogical('recv2', $endpos3);
chomp $out;
is($out, $sql, 'pg_recvlogical and pg_logical_slot_peek_changes give the same bytes');

$node->stop;
done_testing();
