"""A request body over a port's limit is refused while it arrives, on every
HTTP port the master listens on: a declared Content-Length over it is
answered 413 before the body is read, a chunked body the moment it passes
it, and the connection is closed.  What the server read is counted at its
channel, so the test says how much memory an attacker could make it hold."""

import select
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor, threads

from buildmaster.librarian.web import make_sites
from buildmaster.publisher.serving import make_site as archive_site
from buildmaster.uploads.httpserver import make_site as upload_site
from buildmaster.web.resources import MAX_FORM
from tests.webhelpers import web  # noqa: F401

MB = 1024 * 1024
PIECE = 64 * 1024
# A request is read at most one socket read (64 KiB) past its limit, plus
# its head and the chunks' framing.
READ_AT_MOST = 256 * 1024
UPLOAD_LIMIT = 100 * 1024


def count_reads(site):
    """The list the site's connections append each read's size to."""
    read = []
    build = site.buildProtocol

    def counting(address):
        channel = build(address)
        receive = channel.dataReceived

        def data_received(data):
            read.append(len(data))
            receive(data)

        channel.dataReceived = data_received
        return channel

    site.buildProtocol = counting
    return read


def chunked(total):
    """Pieces of a chunked body of ``total`` bytes, and its last chunk."""
    for _ in range(total // PIECE):
        yield b"%x\r\n" % PIECE + b"a" * PIECE + b"\r\n"
    yield b"0\r\n\r\n"


def plain(total):
    for _ in range(total // PIECE):
        yield b"a" * PIECE


def send(port, head, pieces):
    """(the server's answer, the body bytes sent before it came): the head,
    then pieces until the server answers or closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head)
        sent = 0
        for piece in pieces:
            if select.select([connection], [], [], 0)[0]:
                break  # the server answered (or closed): stop sending
            try:
                connection.sendall(piece)
            except OSError:
                break
            sent += len(piece)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except OSError:
            pass  # reset: what the server left unread is dropped
        return answer, sent


def head(method, path, length=None, extra=b""):
    framing = (b"Content-Length: %d\r\n" % length if length is not None
               else b"Transfer-Encoding: chunked\r\n")
    return (method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n" + framing + extra
            + b"\r\n")


@pytest.fixture
def listening():
    """listen(site) -> its port on loopback; every port closed afterwards."""
    ports = []

    def listen(site):
        ports.append(reactor.listenTCP(0, site, interface="127.0.0.1"))
        return ports[-1].getHost().port

    yield listen
    for port in ports:
        pytest_twisted.blockon(port.stopListening())


def sites(context):
    """{port name: (its site, a path its requests go to)}."""
    public, restricted = make_sites(context)
    return {"librarian": (public, b"/1/x"), "restricted": (restricted, b"/1/x?token=t"),
            "archives": (archive_site(context), b"/primary/ubuntu/dists/hoary/Release"),
            "uploads": (upload_site(context), b"/upload/acme/big.tar.xz")}


async def refused(port, read, request_head, pieces, total):
    answer, sent = await threads.deferToThread(send, port, request_head, pieces)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"over the limit" in answer
    assert answer.count(b"HTTP/1.1") == 1, answer  # no 100 Continue, no 400 after it
    assert sent < total, "the answer came only once the whole body was sent"
    assert sum(read) < READ_AT_MOST, f"the server read {sum(read)} bytes"


@pytest_twisted.ensureDeferred
async def test_a_chunked_form_past_the_limit_is_refused_before_it_is_read(web, sample):
    read = count_reads(web.port.factory)
    port = web.port.getHost().port
    await refused(port, read, head(b"POST", b"/api/1.0/builds/9/retry"),
                  chunked(30 * MB), 30 * MB)
    assert (await web.get("/healthz")).code == 200


@pytest_twisted.ensureDeferred
async def test_a_declared_length_past_the_limit_is_refused_before_the_body(web, sample):
    read = count_reads(web.port.factory)
    port = web.port.getHost().port
    await refused(port, read, head(b"POST", b"/builds/9/retry", 50 * MB,
                                   b"Expect: 100-continue\r\n"),
                  plain(50 * MB), 50 * MB)


@pytest_twisted.ensureDeferred
async def test_a_form_within_the_limit_still_arrives_whole(web, sample):
    body = b"score=" + b"1" * (MAX_FORM - 6)
    for framing in (b"Content-Length: %d\r\n" % len(body), None):
        request = (b"POST /api/1.0/builds/9/rescore HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type: application/x-www-form-urlencoded\r\n"
                   b"Connection: close\r\n")
        if framing:
            pieces = [framing + b"\r\n" + body]
        else:
            pieces = [b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body
                      + b"\r\n0\r\n\r\n"]
        answer, _ = await threads.deferToThread(send, web.port.getHost().port, request,
                                                pieces)
        # Read whole and answered by the API: no token, so 401.
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]


@pytest.mark.parametrize("name", ["librarian", "restricted", "archives", "uploads"])
@pytest.mark.parametrize("declared", [True, False], ids=["declared", "chunked"])
@pytest_twisted.ensureDeferred
async def test_every_port_refuses_a_body_past_its_limit_while_it_arrives(
        farm_context, farm_config, listening, name, declared):
    farm_config.upload.max_file_size = UPLOAD_LIMIT
    site, path = sites(farm_context)[name]
    read = count_reads(site)
    port = listening(site)
    method = b"PUT" if name == "uploads" else b"GET"
    total = 30 * MB
    await refused(port, read, head(method, path, total if declared else None),
                  plain(total) if declared else chunked(total), total)

