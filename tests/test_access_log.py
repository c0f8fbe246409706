"""The librarian's and the archives' access logs: each on a logger of its
own, at DEBUG (below what the daemon shows), a read or a 404 alike;
nothing in the twistd log."""

import logging

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.logger import globalLogPublisher

from buildmaster import daemon


@pytest.fixture
def twisted_lines():
    """What is logged through twisted.logger (the twistd log) meanwhile."""
    from twisted.logger import formatEvent
    lines = []

    def observe(event):
        lines.append(formatEvent(event))
    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


async def served(site, *paths):
    """GET each of ``paths`` from ``site`` on a loopback port; the codes."""
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        codes = []
        for path in paths:
            response = await treq.get(f"http://127.0.0.1:{port.getHost().port}{path}",
                                      persistent=False)
            await treq.content(response)
            codes.append(response.code)
        return codes
    finally:
        await port.stopListening()


def logged(caplog, name):
    return [(record.levelno, record.getMessage()) for record in caplog.records
            if record.name == name]


@pytest_twisted.ensureDeferred
async def test_the_librarians_reads_are_debug_lines_of_its_own_logger(
        farm_context, session, librarian, caplog, twisted_lines):
    alias = librarian.add_bytes(session, "hello.txt", b"hello\n", mimetype="text/plain")
    session.commit()
    public = daemon.librarian_servers(farm_context)[0].args[1]
    with caplog.at_level(logging.DEBUG, logger="buildmaster.librarian.access"):
        assert await served(public, f"/{alias.id}/hello.txt", "/999999/gone.txt") == [200, 404]
    (read_level, read), (missing_level, missing) = logged(caplog,
                                                           "buildmaster.librarian.access")
    assert read_level == logging.DEBUG and f'"GET /{alias.id}/hello.txt HTTP/1.1" 200' in read
    assert missing_level == logging.DEBUG and '"GET /999999/gone.txt HTTP/1.1" 404' in missing
    assert not [line for line in twisted_lines if "hello.txt" in line or "gone.txt" in line]


@pytest_twisted.ensureDeferred
async def test_the_archives_404s_are_debug_lines_of_their_own_logger(
        farm_context, caplog, twisted_lines):
    farm_context.config.archives.http_port = 1  # any: the site is served here
    site = daemon.archive_server(farm_context).args[1]
    # apt probes an unsigned archive for InRelease and Release.gpg in every build.
    with caplog.at_level(logging.DEBUG, logger="buildmaster.archives.access"):
        assert await served(site, "/nowhere/dists/rocket/InRelease") == [404]
    ((level, line),) = logged(caplog, "buildmaster.archives.access")
    assert level == logging.DEBUG and '"GET /nowhere/dists/rocket/InRelease HTTP/1.1" 404' in line
    assert not [line for line in twisted_lines if "/nowhere/dists/" in line]
    # The daemon routes INFO and above into its log: none of these.
    assert not [record for record in caplog.records if record.levelno >= logging.INFO]
