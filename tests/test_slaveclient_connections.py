"""SlaveClient over the network keeps its connections to a slave alive."""

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.web import resource, server, xmlrpc

from buildmaster.slaves.client import SlaveClient, close_connections
from buildmaster.slaves.errors import SlaveConnectionError


class CountingSlave(xmlrpc.XMLRPC):
    """A loopback XML-RPC slave that counts the connections it accepts.

    With ``drop_reused`` it closes a connection when a second request
    arrives on it, without answering: a slave dropping an idle kept-alive
    connection just as the master sends on it.
    """

    def __init__(self, drop_reused=False):
        super().__init__(allowNone=True)
        self.drop_reused = drop_reused
        self.channels = []
        self.builds = []

    def render_POST(self, request):
        if request.channel in self.channels:
            if self.drop_reused:
                request.channel.transport.loseConnection()
                return server.NOT_DONE_YET
        else:
            self.channels.append(request.channel)
        return super().render_POST(request)

    def xmlrpc_echo(self, *args):
        return args

    def xmlrpc_build(self, build_id, manager, chroot_sha1, filemap, args):
        self.builds.append(build_id)
        return ["BuilderStatus.BUILDING", build_id]


@pytest.fixture
def serve():
    """serve(slave) -> the URL of ``slave`` on a free loopback port."""
    ports = []

    def start(slave):
        root = resource.Resource()
        root.putChild(b"rpc", slave)
        port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")
        ports.append(port)
        return f"http://127.0.0.1:{port.getHost().port}/"
    yield start
    pytest_twisted.blockon(close_connections(reactor))
    for port in ports:
        pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))


@pytest_twisted.ensureDeferred
async def test_second_call_reuses_the_connection(serve):
    slave = CountingSlave()
    url = serve(slave)
    assert await SlaveClient(url, timeout=5).echo("a") == ["a"]
    assert await SlaveClient(url, timeout=5).echo("b") == ["b"]
    assert len(slave.channels) == 1


@pytest_twisted.ensureDeferred
async def test_slave_closing_a_kept_alive_connection_is_still_reachable(serve):
    slave = CountingSlave(drop_reused=True)
    client = SlaveClient(serve(slave), timeout=5)
    assert await client.echo("a") == ["a"]
    assert await client.echo("b") == ["b"]
    assert len(slave.channels) == 2


@pytest_twisted.ensureDeferred
async def test_build_is_never_sent_twice(serve):
    """The slave may have started the build before the connection died."""
    slave = CountingSlave(drop_reused=True)
    client = SlaveClient(serve(slave), timeout=5)
    assert await client.build("1-1", "binarypackage", "c", {}, {}) == (
        "BuilderStatus.BUILDING", "1-1")
    with pytest.raises(SlaveConnectionError, match=r"build\(\)"):
        await client.build("2-1", "binarypackage", "c", {}, {})
    assert slave.builds == ["1-1"]


@pytest_twisted.ensureDeferred
async def test_close_connections_closes_the_idle_ones(serve):
    slave = CountingSlave()
    url = serve(slave)
    await SlaveClient(url, timeout=5).echo("a")
    await close_connections(reactor)
    await SlaveClient(url, timeout=5).echo("b")
    assert len(slave.channels) == 2
