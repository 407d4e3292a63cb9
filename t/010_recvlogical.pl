# The output plugin through the replication protocol: the real pg_recvlogical
# client streams ChangeEntries, takes options (with and without values), and
# a bad option is a clear error that leaves the slot usable.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('recv');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', scalar `bash $ENV{TESTDIR}/scripts/pgconf.sh`);
$node->start;

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

# a bad option: a clear error with SQLSTATE's message and hint, nothing consumed
my ($rc, $out, $err) = recvlogical('recv', $endpos, 'entities=public.orders', 'operations=upsert');
isnt($rc, 0, 'a bad option stops pg_recvlogical');
like($err, qr/ERROR:  invalid value for cdc_ext option "operations": "upsert"/,
	'the error names the option and the bad value');
like($err, qr/HINT:  Give a comma-separated list of: insert, update, delete, truncate\./,
	'... and says what is accepted');
($rc, $out, $err) = recvlogical('recv', $endpos, 'entitys=x');
like($err, qr/unrecognized cdc_ext option "entitys".*HINT:  Valid options are: entities, exclude_entities/s,
	'an unknown option lists the valid ones');
like(slurp_file($node->logfile), qr/invalid value for cdc_ext option "operations"/,
	'the server log has it too');

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
