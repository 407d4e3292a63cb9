# Helpers shared by the TAP tests (t/*.pl: use lib "$ENV{TESTDIR}/t"; use CdcTest;).
package CdcTest;
use strict;
use warnings;
use Exporter 'import';
our @EXPORT = qw(poll_for);

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

1;
