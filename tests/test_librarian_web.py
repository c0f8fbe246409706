"""The librarian's public and restricted HTTP servers, over real sockets."""

import datetime
import gzip
import hashlib

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.web import server
from twisted.web.client import Agent, HTTPConnectionPool

from buildmaster.librarian.urls import http_url, restricted_url
from buildmaster.librarian.web import make_sites
from buildmaster.model import utcnow

LOG_TEXT = b"dpkg-buildpackage: source package foobar\n" * 200
LOG_NAME = "buildlog_ubuntu-hoary-i386.foobar_1.0_FAILEDTOBUILD.txt.gz"


@pytest.fixture
def add(session, librarian):
    """Store bytes as a committed alias."""
    def add(filename, data, **kwargs):
        alias = librarian.add_bytes(session, filename, data, **kwargs)
        session.commit()
        return alias
    return add


@pytest.fixture
def log_alias(add):
    return add(LOG_NAME, gzip.compress(LOG_TEXT), mimetype="text/plain")


@pytest.fixture
def secret_alias(add):
    return add("buildlog_private.txt.gz", gzip.compress(b"private build\n"),
               mimetype="text/plain", restricted=True)


def get(url, method="GET"):
    """A plain Agent request: headers and body exactly as the server sent
    them (treq itself would decode gzip, as a browser does)."""
    agent = Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False))
    return agent.request(method.encode("ascii"), url.encode("ascii"))


@pytest_twisted.inlineCallbacks
def test_head_of_gzipped_log_tells_browser_to_show_it_inline(
        librarian_servers, farm_config, log_alias):
    response = yield get(http_url(farm_config, log_alias), "HEAD")
    body = yield treq.content(response)
    headers = response.headers
    assert response.code == 200
    assert headers.getRawHeaders("content-encoding") == ["gzip"]
    assert headers.getRawHeaders("content-type") == ["text/plain"]
    assert headers.getRawHeaders("content-length") == [str(log_alias.content.filesize)]
    assert body == b""


@pytest_twisted.inlineCallbacks
def test_get_of_gzipped_log_sends_the_stored_bytes(librarian_servers, farm_config, log_alias):
    response = yield get(http_url(farm_config, log_alias))
    body = yield treq.content(response)
    assert response.code == 200
    assert gzip.decompress(body) == LOG_TEXT


@pytest_twisted.inlineCallbacks
def test_a_browser_like_client_sees_the_log_text(librarian_servers, farm_config, log_alias):
    response = yield treq.get(http_url(farm_config, log_alias), persistent=False)
    assert (yield response.content()) == LOG_TEXT


@pytest_twisted.inlineCallbacks
def test_other_files_keep_their_mimetype_and_no_encoding(librarian_servers, farm_config, add):
    alias = add("foobar_1.0.tar.gz", b"\x1f\x8b not really", mimetype="application/x-gtar")
    response = yield get(http_url(farm_config, alias))
    body = yield treq.content(response)
    assert response.headers.getRawHeaders("content-type") == ["application/x-gtar"]
    assert not response.headers.hasHeader("content-encoding")
    assert body == b"\x1f\x8b not really"


@pytest_twisted.inlineCallbacks
def test_filenames_needing_quoting_round_trip(librarian_servers, farm_config, add):
    alias = add("notes on foo+bar#1.txt", b"hello\n", mimetype="text/plain")
    assert http_url(farm_config, alias).endswith(f"/{alias.id}/notes%20on%20foo%2Bbar%231.txt")
    response = yield get(http_url(farm_config, alias))
    assert (yield treq.content(response)) == b"hello\n"


@pytest.mark.parametrize("path, reason", [
    ("/999/anything.txt", "File 999 does not exist."),
    ("/{id}/other.txt.gz", "File {id} is not named 'other.txt.gz'."),
    ("/{id}", "No such file: librarian URLs are /<file id>/<filename>."),
    ("/abc/" + LOG_NAME, "No such file: librarian URLs are /<file id>/<filename>."),
    ("/{id}/" + LOG_NAME + "/more", "No such file: librarian URLs are /<file id>/<filename>."),
])
@pytest_twisted.inlineCallbacks
def test_unknown_files_are_404_with_a_reason(librarian_servers, log_alias, path, reason):
    url = librarian_servers.public_url + path.format(id=log_alias.id)
    response = yield get(url)
    assert response.code == 404
    assert (yield treq.text_content(response)) == reason.format(id=log_alias.id) + "\n"


@pytest_twisted.inlineCallbacks
def test_head_of_a_missing_file_is_404_without_body(librarian_servers):
    response = yield get(librarian_servers.public_url + "/999/x.txt", "HEAD")
    assert response.code == 404
    assert (yield treq.content(response)) == b""


@pytest_twisted.inlineCallbacks
def test_expired_file_is_404(librarian_servers, farm_config, add):
    alias = add("old.txt", b"old\n", mimetype="text/plain",
                expires=utcnow() - datetime.timedelta(days=1))
    response = yield get(http_url(farm_config, alias))
    assert response.code == 404
    assert f"File {alias.id} (old.txt) expired on " in (yield treq.text_content(response))


@pytest_twisted.inlineCallbacks
def test_file_expiring_later_is_served(librarian_servers, farm_config, add):
    alias = add("new.txt", b"new\n", mimetype="text/plain",
                expires=utcnow() + datetime.timedelta(days=1))
    response = yield get(http_url(farm_config, alias))
    assert response.code == 200


@pytest_twisted.inlineCallbacks
def test_public_server_refuses_restricted_files(librarian_servers, farm_config, secret_alias):
    response = yield get(http_url(farm_config, secret_alias))
    assert response.code == 403
    assert (yield treq.text_content(response)) == (
        f"File {secret_alias.id} (buildlog_private.txt.gz) is restricted: only the "
        "restricted librarian serves it, with a token.\n")


@pytest_twisted.inlineCallbacks
def test_restricted_server_serves_with_a_valid_token(librarian_servers, farm_config,
                                                     secret_alias):
    response = yield get(restricted_url(farm_config, secret_alias))
    body = yield treq.content(response)
    assert response.code == 200
    assert response.headers.getRawHeaders("content-encoding") == ["gzip"]
    assert response.headers.getRawHeaders("cache-control") == ["private"]
    assert gzip.decompress(body) == b"private build\n"


@pytest_twisted.inlineCallbacks
def test_restricted_server_serves_public_files_with_a_token(librarian_servers, farm_config,
                                                            log_alias):
    response = yield get(restricted_url(farm_config, log_alias))
    assert response.code == 200
    assert gzip.decompress((yield treq.content(response))) == LOG_TEXT


@pytest_twisted.inlineCallbacks
def test_restricted_server_wants_a_token(librarian_servers, farm_config, secret_alias):
    url = restricted_url(farm_config, secret_alias).split("?")[0]
    response = yield get(url)
    assert response.code == 403
    assert (yield treq.text_content(response)) == (
        f"File {secret_alias.id}: this server needs a ?token= in the URL it was given.\n")


@pytest_twisted.inlineCallbacks
def test_restricted_server_refuses_an_expired_token(librarian_servers, farm_config,
                                                    secret_alias):
    issued = utcnow().timestamp() - farm_config.librarian.token_lifetime - 10
    response = yield get(restricted_url(farm_config, secret_alias, now=issued))
    assert response.code == 403
    assert (yield treq.text_content(response)) == f"File {secret_alias.id}: token has expired.\n"


@pytest_twisted.inlineCallbacks
def test_restricted_server_refuses_forged_tokens(librarian_servers, farm_config,
                                                 secret_alias, log_alias):
    good = restricted_url(farm_config, secret_alias)
    expires, signature = good.split("token=")[1].split("-")
    later = good.replace(f"token={expires}-", f"token={int(expires) + 86400}-")
    other_file = restricted_url(farm_config, log_alias).split("?")[1]
    for url in (later, good.split("?")[0] + "?" + other_file,
                good.replace(signature, "0" * len(signature))):
        response = yield get(url)
        assert response.code == 403
        assert (yield treq.text_content(response)) == (
            f"File {secret_alias.id}: token is not valid for file {secret_alias.id}.\n")
    response = yield get(good.split("?")[0] + "?token=garbage")
    assert (yield treq.text_content(response)) == f"File {secret_alias.id}: malformed token.\n"


@pytest_twisted.inlineCallbacks
def test_missing_content_is_a_logged_server_error(librarian_servers, farm_config, librarian,
                                                  log_alias, caplog):
    import os
    os.unlink(librarian.path_for(log_alias.content.sha1))
    response = yield get(http_url(farm_config, log_alias))
    assert response.code == 500
    assert (yield treq.text_content(response)) == (
        f"File {log_alias.id}: its content is missing from the store.\n")
    assert f"content {log_alias.content.sha1} is missing" in caplog.text


class ChunkRecordingRequest(server.Request):
    """Remembers the largest single write of the response body."""

    largest_write = 0

    def write(self, data):
        ChunkRecordingRequest.largest_write = max(self.largest_write, len(data))
        super().write(data)


@pytest_twisted.inlineCallbacks
def test_large_files_are_streamed_in_chunks(farm_context, farm_config, add):
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    data = b"".join(block[i:] + block[:i] for i in range(320))  # 20 MiB
    alias = add("big.bin", data)
    public, _ = make_sites(farm_context)
    public.requestFactory = ChunkRecordingRequest
    port = reactor.listenTCP(0, public, interface="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port.getHost().port}/{alias.id}/big.bin"
        response = yield get(url)
        digest = hashlib.sha1()
        yield treq.collect(response, digest.update)
    finally:
        yield port.stopListening()
    assert digest.hexdigest() == hashlib.sha1(data).hexdigest()
    assert response.length == len(data)
    assert 0 < ChunkRecordingRequest.largest_write <= 64 * 1024


@pytest_twisted.inlineCallbacks
def test_post_is_not_allowed(librarian_servers, farm_config, log_alias):
    response = yield treq.post(http_url(farm_config, log_alias), data=b"x", persistent=False)
    assert response.code == 405
