# Helpers shared by the TAP tests (t/*.pl: use lib "$ENV{TESTDIR}/t"; use CdcTest;):
# a node set up to run cdc_ext, waiting for its log writer, psql sessions
# run in the background (loops that write or consume while the test stops
# the server), and polling a query.
#
# Everything here uses PostgreSQL::Test::Cluster's API as 15, 17 and 18
# have it (init, append_conf, start, psql, poll_query_until, connstr).
package CdcTest;
use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(cdc_node cdc_init poll_for writer_running wait_for_capture start_psql stop_psql
  readme_grants writer_memory_report);

# A new node named $name, set up by cdc_init (below) and started: the usual
# first line of a test.
sub cdc_node
{
	my ($name, %opts) = @_;
	return cdc_init(PostgreSQL::Test::Cluster->new($name), %opts);
}

# Set up $node (made, not yet initialized) to run cdc_ext, and start it
# unless start => 0.  The node gets wal_level = logical (init's
# allows_streaming => 'logical': streaming too, so it can be backed up for
# a standby), then the lines of scripts/pgconf.sh: the preload that starts
# the log writers, slots, and output_plugin_libraries on servers that have
# that allow-list.  Options:
#   spill => 1    logical_decoding_work_mem = 64kB: transactions over 64 kB
#                 are spilled to disk (or streamed) while decoded
#   conf => TEXT  more postgresql.conf lines, after those (a later line
#                 wins: conf => "max_replication_slots = 1\n" overrides)
#   start => 0    leave it stopped
# Returns $node.
sub cdc_init
{
	my ($node, %opts) = @_;
	$node->init(allows_streaming => 'logical');
	my $conf = `bash $ENV{TESTDIR}/scripts/pgconf.sh`;
	die "scripts/pgconf.sh failed" if $? != 0 || $conf eq '';
	$conf .= "logical_decoding_work_mem = 64kB\n" if $opts{spill};
	$conf .= $opts{conf} if defined $opts{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start unless defined $opts{start} && !$opts{start};
	return $node;
}

# Run $sql in database $db of $node until it returns $want, at most $tries
# times a tenth of a second apart (default 300: 30 s); returns what it saw
# last.  An error (a crash restart under way, say) just means: not yet.
sub poll_for
{
	my ($node, $db, $sql, $want, $tries) = @_;
	my $got;
	for (my $i = 0; $i < ($tries // 300); $i++)
	{
		my ($ret, $out) = $node->psql($db, $sql);
		$got = $out;
		return $got if $ret == 0 && $got eq $want;
		select(undef, undef, undef, 0.1);
	}
	return $got;
}

# README's grants for an application (its SQL API section: consumers,
# backfills and groups), given to $role instead of app: read from README.md,
# so that a test acting as such a role tests what README tells users to
# grant.  Dies if README no longer has them where expected.
sub readme_grants
{
	my ($role) = @_;
	my $readme = slurp_file("$ENV{TESTDIR}/README.md");
	my ($grants) = $readme =~ /^(GRANT USAGE ON SCHEMA cdc TO app;\n.*?^GRANT SELECT ON cdc\.groups TO app;)$/ms;
	die "README.md: the application's grants are not found" unless defined $grants;
	$grants =~ s/\bTO app;/TO $role;/g;
	return $grants;
}

# The memory context report of process $pid (pg_log_backend_memory_contexts,
# read back from the server log): the text, ending with its "Grand total"
# line, or what was logged after 30 s without one.
sub writer_memory_report
{
	my ($node, $pid) = @_;
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', qq{SELECT pg_log_backend_memory_contexts($pid)});
	my $report = '';
	for (my $i = 0; $i < 300 && $report !~ /Grand total/; $i++)
	{
		$report = slurp_file($node->logfile, $offset);
		select(undef, undef, undef, 0.1);
	}
	return $report;
}

# Wait until the log writer of database $db runs (cdc.writer_info().running),
# polling as poll_for does ($tries: default 300, 30 s); returns 't' once it
# does, else what it saw last: is(writer_running($node, 'postgres'), 't', ...).
sub writer_running
{
	my ($node, $db, $tries) = @_;
	return poll_for($node, $db, q{SELECT running FROM cdc.writer_info()}, 't', $tries);
}

# Wait until the log writer of database $db captures (its log has a start,
# cdc.log_state.capture_from): what commits from then on is logged.  Dies if
# that does not happen within poll_query_until's time: the test cannot go on.
sub wait_for_capture
{
	my ($node, $db) = @_;
	$node->poll_query_until($db, q{SELECT capture_from IS NOT NULL FROM cdc.log_state})
	  or die 'the log writer did not start';
	return;
}

# Start psql on database $db of $node in the background, running $sql (-c),
# and return { h => the IPC::Run harness, out => \stdout, err => \stderr,
# name => the application name }.  The session runs until its statement
# ends, the server stops, or stop_psql/$l->{h}->signal('KILL') ends it
# ($l->{h}->finish reaps it).  Options:
#   name => NAME        application_name (stop_psql finds the backend by it)
#   options => TEXT     PGOPTIONS, e.g. "-c client_connection_check_interval=100"
#   file => PATH        run this file (-f) instead of $sql
#   flags => [...]      more psql flags, e.g. [ '-A', '-t', '-v', 'ON_ERROR_STOP=1' ]
sub start_psql
{
	my ($node, $db, $sql, %opts) = @_;
	my ($out, $err) = ('', '');
	local $ENV{PGAPPNAME} = $opts{name} if defined $opts{name};
	local $ENV{PGOPTIONS} = $opts{options} if defined $opts{options};
	my @cmd = ('psql', '-X', @{ $opts{flags} // [] }, '-d', $node->connstr($db),
		defined $opts{file} ? ('-f', $opts{file}) : ('-c', $sql));
	my $h = IPC::Run::start(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err, name => $opts{name} };
}

# End a session start_psql began with a name: terminate its backend (from
# database postgres), wait until it has exited (a backend signalled in the
# middle of a transaction may still commit it: a test that reads "the
# WAL's end" next must come after that commit), and reap the client.
sub stop_psql
{
	my ($node, $l) = @_;
	die 'stop_psql: the session has no name' unless defined $l->{name};
	$node->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity WHERE application_name = '$l->{name}'");
	$l->{h}->finish;
	return;
}

1;
