# A writer that is starting (it has seen the extension) while the extension
# is dropped and created again must not log into the new log from the old
# log's slot: the new log starts after CREATE EXTENSION.
# (Meaningful with the review's injected delay between the writer's look for
# the extension and its slot; without it the window is milliseconds.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('staleslot');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', scalar `bash $ENV{TESTDIR}/scripts/pgconf.sh`);
$node->start;

sub poll_for
{
	my ($db, $sql, $want) = @_;
	my $got;
	for (my $i = 0; $i < 300; $i++)
	{
		my ($ret, $out) = $node->psql($db, $sql);
		$got = $out;
		return $got if $ret == 0 && $got eq $want;
		select(undef, undef, undef, 0.1);
	}
	return $got;
}

unlink '/tmp/cdc_inject_presence', '/tmp/cdc_inject_presence.hit';
$node->safe_psql('postgres', q{CREATE EXTENSION cdc_ext; CREATE TABLE t (id int PRIMARY KEY)});
is(poll_for('postgres', q{SELECT running FROM cdc.writer_info()}, 't'), 't', 'the writer runs');
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1); SELECT cdc.wait_for_log()});
my $w1 = $node->safe_psql('postgres', q{SELECT pid FROM cdc.writer_info()});

# the writer fails once; the next one stops (injected) after its look
open(my $fh, '>', '/tmp/cdc_inject_presence') or die; close $fh;
$node->safe_psql('postgres', qq{SELECT pg_cancel_backend($w1)});
for (my $i = 0; $i < 100 && !-e '/tmp/cdc_inject_presence.hit'; $i++)
{
	select(undef, undef, undef, 0.1);
}
# only a build with the review's injected delay holds the window open;
# without it the same steps still check the ordinary case
ok(1, -e '/tmp/cdc_inject_presence.hit' ? 'a new writer is between its look and its slot (injected)'
	: 'no injected delay in this build');
$node->safe_psql('postgres', q{INSERT INTO t VALUES (2)});
$node->safe_psql('postgres', q{DROP EXTENSION cdc_ext; CREATE EXTENSION cdc_ext});
$node->safe_psql('postgres', q{SELECT cdc.wait_for_log()});
$node->safe_psql('postgres', q{INSERT INTO t VALUES (3); SELECT cdc.wait_for_log()});
is($node->safe_psql('postgres', q{SELECT string_agg(new_data->>'id', ',' ORDER BY commit_lsn) FROM cdc.log}), '3',
	'the new log holds only what committed after CREATE EXTENSION');
unlink '/tmp/cdc_inject_presence', '/tmp/cdc_inject_presence.hit';

$node->stop;
done_testing();
