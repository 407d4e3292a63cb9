# A NATS JetStream cluster on loopback for the relay's TAP tests
# (t/110_relay.pl): Debian's nats-server, each node with its own client,
# cluster and monitoring ports, server_name and store_dir, started and
# stopped (or killed) one node at a time.
package NatsCluster;
use strict;
use warnings;
use File::Path qw(make_path);
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use Time::HiRes qw(usleep);

# nats-server's path, or undef when it is not installed
sub server_binary
{
	foreach my $d (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/bin', '/usr/local/bin')
	{
		return "$d/nats-server" if -x "$d/nats-server";
	}
	return undef;
}

# new($dir, $nodes): configuration for $nodes nodes under $dir
sub new
{
	my ($class, $dir, $n) = @_;
	my $self = bless { dir => $dir, nodes => [], bin => server_binary() }, $class;
	my @ports = map { { client => PostgreSQL::Test::Cluster::get_free_port(),
		cluster => PostgreSQL::Test::Cluster::get_free_port(),
		http => PostgreSQL::Test::Cluster::get_free_port() } } 1 .. $n;
	my $routes = join(', ', map { "nats-route://127.0.0.1:$_->{cluster}" } @ports);
	for my $i (0 .. $n - 1)
	{
		my $p = $ports[$i];
		my $nd = "$dir/n$i";
		make_path("$nd/store");
		open(my $fh, '>', "$nd/nats.conf") or die "$nd/nats.conf: $!";
		print $fh <<"CONF";
server_name: n$i
listen: 127.0.0.1:$p->{client}
http: 127.0.0.1:$p->{http}
jetstream { store_dir: "$nd/store" }
cluster {
  name: cdc_test
  listen: 127.0.0.1:$p->{cluster}
  routes: [ $routes ]
}
CONF
		close $fh;
		push @{ $self->{nodes} }, { %$p, dir => $nd, pid => undef };
	}
	return $self;
}

# the client URLs, comma-separated (for cdc_relay --servers)
sub urls
{
	my ($self) = @_;
	return join(',', map { "nats://127.0.0.1:$_->{client}" } @{ $self->{nodes} });
}

sub start_node
{
	my ($self, $i) = @_;
	my $nd = $self->{nodes}[$i];
	return if $nd->{pid};
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>>', "$nd->{dir}/server.log");
		open(STDERR, '>&', \*STDOUT);
		exec($self->{bin}, '-c', "$nd->{dir}/nats.conf") or die "exec nats-server: $!";
	}
	$nd->{pid} = $pid;
	# wait until the node accepts clients
	for (1 .. 100)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $nd->{client}, Timeout => 1);
		if ($s) { close $s; return; }
		usleep(100_000);
	}
	die "nats node $i did not start (see $nd->{dir}/server.log)";
}

sub start
{
	my ($self) = @_;
	$self->start_node($_) for 0 .. $#{ $self->{nodes} };
}

# stop node $i: KILL by default, or TERM
sub stop_node
{
	my ($self, $i, $sig) = @_;
	my $nd = $self->{nodes}[$i];
	return unless $nd->{pid};
	kill($sig // 'KILL', $nd->{pid});
	waitpid($nd->{pid}, 0);
	$nd->{pid} = undef;
}

sub stop
{
	my ($self, $sig) = @_;
	$self->stop_node($_, $sig) for 0 .. $#{ $self->{nodes} };
}

# whether node $i reports JetStream healthy (its /healthz monitoring page)
sub healthy
{
	my ($self, $i) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{nodes}[$i]{http}, Timeout => 2)
	  or return 0;
	print $s "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	my $resp = join('', <$s>);
	close $s;
	return $resp =~ /"status":\s*"ok"/ ? 1 : 0;
}

# the server_name of stream $name's leader as a running node reports it
# (its /jsz monitoring page), or undef
sub stream_leader
{
	my ($self, $name) = @_;
	for my $nd (@{ $self->{nodes} })
	{
		next unless $nd->{pid};
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $nd->{http}, Timeout => 2) or next;
		print $s "GET /jsz?streams=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
		my $resp = join('', <$s>);
		close $s;
		return $1 if $resp =~ /"name":\s*"\Q$name\E",.*?"leader":\s*"n(\d+)"/s;
	}
	return undef;
}

# wait until every running node is healthy (at most $secs seconds)
sub wait_healthy
{
	my ($self, $secs) = @_;
	for (1 .. ($secs // 60) * 4)
	{
		my $ok = 1;
		for my $i (0 .. $#{ $self->{nodes} })
		{
			$ok = 0 if $self->{nodes}[$i]{pid} && !$self->healthy($i);
		}
		return 1 if $ok;
		usleep(250_000);
	}
	return 0;
}

sub DESTROY
{
	my ($self) = @_;
	$self->stop('KILL');
}

1;
