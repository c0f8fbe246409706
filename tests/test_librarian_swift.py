"""The librarian on OpenStack Swift ([librarian] backend = swift), against
the real single-node Swift of buildmaster/testing/swift.py."""

import gzip
import hashlib
import io
import json
import os
import urllib.error
import urllib.request
import uuid

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.web.client import Agent, HTTPConnectionPool, ResponseFailed, ResponseNeverReceived

from buildmaster import config as configmodule
from buildmaster.context import FarmContext
from buildmaster.librarian.client import (
    DownloadFailed, LibrarianClient, RestrictedLibrarianClient)
from buildmaster.librarian.swift import ContentMismatch, SwiftStorage
from buildmaster.librarian.urls import http_url, restricted_url
from buildmaster.model import LibraryFileAlias
from tests.swifthelpers import MIB, some_bytes, swift_call



@pytest.fixture
def swift_config(farm_config, swift):
    """``farm_config`` on the test Swift, in containers of this test's own,
    with 1 MiB segments."""
    settings = farm_config.librarian
    settings.backend = "swift"
    settings.swift_auth_url = swift.auth_url
    settings.swift_user, settings.swift_key = swift.user, swift.key
    settings.swift_container = f"librarian-{uuid.uuid4().hex[:12]}"
    settings.swift_segment_size = MIB
    return farm_config


@pytest.fixture
def librarian(swift_config):
    """The store the sample world (``sample``) is loaded into: Swift."""
    return SwiftStorage(swift_config.librarian)


@pytest.fixture
def context(swift_config, db):
    context = FarmContext(swift_config, engine=db.engine)
    yield context
    context.db.stop()


@pytest.fixture
def servers(context):
    """Both librarian HTTP servers on loopback, serving from Swift."""
    from buildmaster.testing.librarian import RunningLibrarian
    running = RunningLibrarian(context)
    yield running
    pytest_twisted.blockon(running.stop())


def get(url):
    agent = Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False))
    return agent.request(b"GET", url.encode("ascii"))


def test_the_store_is_swift_and_nothing_goes_to_disk(context, swift_config):
    client = LibrarianClient(context)
    alias_id = client.addFile("hello.txt", io.BytesIO(b"hello\n"), contentType="text/plain")
    assert isinstance(context.librarian, SwiftStorage)
    with client.getFileByAlias(alias_id) as stored:
        assert stored.read() == b"hello\n"
        assert (stored.alias_id, stored.filename) == (alias_id, "hello.txt")
    storage = swift_config.librarian.storage
    assert not os.path.exists(storage) or not any(
        files for _, _, files in os.walk(storage) if files)


def test_an_object_is_named_by_its_sha1_and_carries_its_sha256(context, swift, session):
    data = some_bytes(200_000)
    alias = context.librarian.add_bytes(session, "foobar_1.0.tar.xz", data)
    session.commit()
    container = context.config.librarian.swift_container
    assert swift_call(swift, "GET", f"{container}/{hashlib.sha1(data).hexdigest()}") == (
        200, data)
    storage_url, token = swift.storage()
    request = urllib.request.Request(
        f"{storage_url}/{container}/{alias.content.sha1}", method="HEAD",
        headers={"X-Auth-Token": token})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.headers["X-Object-Meta-Sha256"] == hashlib.sha256(data).hexdigest()
    assert alias.content.sha256 == hashlib.sha256(data).hexdigest()


def test_the_same_content_twice_is_one_object_and_two_aliases(context, swift, session, tmp_path):
    path = tmp_path / "foobar_1.0_i386.deb"
    path.write_bytes(b"debian binary\n")
    first, second = context.librarian.add_paths(session, [
        ("foobar_1.0_i386.deb", str(path), "application/x-debian-package", False),
        ("copy.deb", str(path), "application/x-debian-package", True)])
    third = context.librarian.add_bytes(session, "again.deb", b"debian binary\n")
    session.commit()
    assert first.content is second.content is third.content
    container = context.config.librarian.swift_container
    status, listing = swift_call(swift, "GET", f"{container}?format=json")
    assert [entry["name"] for entry in json.loads(listing)] == [first.content.sha1]
    status, listing = swift_call(swift, "GET", f"{container}_segments?format=json")
    assert json.loads(listing) == []  # the incoming copy was deleted


@pytest.mark.parametrize("how", ["stream", "path"])
def test_a_file_over_the_segment_size_is_a_static_large_object(
        context, swift, session, tmp_path, how):
    data = some_bytes(3 * MIB + 12345)
    if how == "stream":
        alias = context.librarian.add_file(session, "big.tar.xz", io.BytesIO(data))
    else:
        (tmp_path / "big.tar.xz").write_bytes(data)
        (alias,) = context.librarian.add_paths(
            session, [("big.tar.xz", str(tmp_path / "big.tar.xz"), "application/x-xz", False)])
    session.commit()
    container = context.config.librarian.swift_container
    status, manifest = swift_call(
        swift, "GET", f"{container}/{alias.content.sha1}?multipart-manifest=get")
    assert status == 200
    assert [segment["bytes"] for segment in json.loads(manifest)] == [MIB, MIB, MIB, 12345]
    with LibrarianClient(context).getFileByAlias(alias.id) as stored:
        assert stored.read() == data


def test_a_file_of_exactly_the_segment_size_is_one_object(context, swift, session):
    alias = context.librarian.add_bytes(session, "exact.bin", some_bytes(MIB))
    session.commit()
    container = context.config.librarian.swift_container
    status, body = swift_call(
        swift, "GET", f"{container}/{alias.content.sha1}?multipart-manifest=get")
    assert (status, len(body)) == (200, MIB)


def test_a_corrupted_object_is_refused_naming_the_file(context, swift, session):
    alias = context.librarian.add_bytes(session, "foobar_1.0.dsc", b"Source: foobar\n")
    session.commit()
    container = context.config.librarian.swift_container
    assert swift_call(swift, "PUT", f"{container}/{alias.content.sha1}",
                      b"Source: evil\n")[0] == 201
    stored = LibrarianClient(context).getFileByAlias(alias.id)
    with pytest.raises(ContentMismatch, match=rf"librarian file {alias.id} \(foobar_1.0.dsc\)"):
        stored.read()


def test_a_lost_object_is_a_download_failure(context, swift, session):
    alias = context.librarian.add_bytes(session, "lost.txt", b"lost\n")
    session.commit()
    container = context.config.librarian.swift_container
    assert swift_call(swift, "DELETE", f"{container}/{alias.content.sha1}")[0] == 204
    with pytest.raises(DownloadFailed, match="is missing from the store"):
        LibrarianClient(context).getFileByAlias(alias.id)


@pytest_twisted.inlineCallbacks
def test_the_http_server_serves_a_file_from_swift(context, servers, session):
    data = some_bytes(3 * MIB + 5)
    alias = context.librarian.add_bytes(session, "big.tar.xz", data, mimetype="application/x-xz")
    session.commit()
    response = yield get(http_url(context.config, alias))
    body = yield treq.content(response)
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["application/x-xz"]
    assert response.length == len(data)
    assert body == data


@pytest_twisted.inlineCallbacks
def test_the_http_server_never_serves_a_corrupted_object_whole(context, servers, swift, session):
    data = some_bytes(300_000)
    alias = context.librarian.add_bytes(session, "foobar_1.0.tar.xz", data)
    session.commit()
    container = context.config.librarian.swift_container
    corrupt = data[:-1] + b"?"
    assert swift_call(swift, "PUT", f"{container}/{alias.content.sha1}", corrupt)[0] == 201
    with pytest.raises((ResponseFailed, ResponseNeverReceived)):
        response = yield get(http_url(context.config, alias))
        yield treq.content(response)


@pytest_twisted.inlineCallbacks
def test_restricted_files_still_need_their_token(context, servers, session):
    alias_id = RestrictedLibrarianClient(context).addFile(
        "buildlog_private.txt.gz", io.BytesIO(b"private build\n"))
    alias = session.get(LibraryFileAlias, alias_id)
    public = yield get(http_url(context.config, alias))
    assert public.code == 403
    yield treq.content(public)
    url = restricted_url(context.config, alias)
    without_token = yield get(url.split("?")[0])
    assert without_token.code == 403
    yield treq.content(without_token)
    with_token = yield get(url)
    assert with_token.code == 200
    assert (yield treq.content(with_token)) == b"private build\n"
    with pytest.raises(DownloadFailed, match="cannot be downloaded from this client"):
        LibrarianClient(context).getFileByAlias(alias_id)


def test_backend_swift_needs_where_swift_is(tmp_path):
    path = tmp_path / "buildmaster.conf"
    path.write_text("[librarian]\nbackend = swift\nswift_user = test:tester\n")
    with pytest.raises(configmodule.ConfigError, match=r"\[librarian\] swift_auth_url: needed"):
        configmodule.load(str(path), check_dirs=False)
    path.write_text("[librarian]\nbackend = s3\n")
    with pytest.raises(configmodule.ConfigError, match=r"\[librarian\] backend: .*disk or swift"):
        configmodule.load(str(path), check_dirs=False)


def test_a_gzipped_log_streams_out_of_swift_as_buildmaster_log_reads_it(
        context, session, capsysbinary):
    from buildmaster.commands.builds import stream_log
    text = b"dpkg-buildpackage: source package foobar\n" * 5000
    alias = context.librarian.add_bytes(session, "buildlog.txt.gz", gzip.compress(text))
    session.commit()
    with context.librarian.open(alias) as stored:
        stream_log(stored, alias)
    assert capsysbinary.readouterr().out == text


def publish_libfoo(context, sample, session):
    """A pending libfoo1 1.0 in the primary archive, published; (report,
    its alias, where its pool file goes)."""
    from buildmaster.publisher import layout
    from buildmaster.publisher.run import publish
    from buildmaster.testing.archives import binary_publication
    publication = binary_publication(session, context.librarian, sample.primary,
                                     sample.hoary["i386"], "libfoo1", "1.0", source="libfoo")
    alias = publication.binarypackagerelease.files[0].libraryfile
    session.commit()
    return publication, alias, lambda: publish(context), os.path.join(
        layout.tree_path(context.config.archives.root, sample.primary),
        "pool/main/libf/libfoo/libfoo1_1.0_i386.deb")


def test_the_publisher_puts_files_from_swift_in_the_pool(context, sample, session):
    publication, alias, publish, pool = publish_libfoo(context, sample, session)
    report = publish()
    assert report.published >= 1 and not report.errors
    with open(pool, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == alias.content.sha256
    assert not [name for name in os.listdir(os.path.dirname(pool)) if name.startswith(".")]


def test_the_publisher_refuses_a_corrupted_object(context, sample, session, swift):
    publication, alias, publish, pool = publish_libfoo(context, sample, session)
    container = context.config.librarian.swift_container
    assert swift_call(swift, "PUT", f"{container}/{alias.content.sha1}", b"not a deb")[0] == 201
    report = publish()
    assert [error for error in report.errors
            if f"librarian content {alias.content.sha1}" in error]
    assert not os.path.exists(pool)
    session.expire_all()
    assert publication.status.name == "PENDING"


@pytest_twisted.inlineCallbacks
def test_a_second_master_with_its_own_disk_serves_what_the_first_stored(
        context, servers, db, tmp_path):
    """Two masters on one database and one Swift, each with its own storage
    directory (only the token secret copied): what one stores, the other
    reads and serves, restricted files by the first one's token."""
    import copy
    import shutil
    from buildmaster.librarian.tokens import SECRET_NAME, load_secret
    from buildmaster.testing.librarian import RunningLibrarian
    first = RestrictedLibrarianClient(context)
    alias_id = first.addFile("buildlog_private.txt.gz", io.BytesIO(b"private build\n"))
    url = first.getFileByAlias(alias_id).url
    second_config = copy.deepcopy(context.config)
    second_config.librarian.storage = str(tmp_path / "second-master")
    os.makedirs(second_config.librarian.storage)
    load_secret(context.config.librarian.storage)
    shutil.copy(os.path.join(context.config.librarian.storage, SECRET_NAME),
                second_config.librarian.storage)
    second = FarmContext(second_config, engine=db.engine)
    second_servers = RunningLibrarian(second)
    try:
        with RestrictedLibrarianClient(second).getFileByAlias(alias_id) as stored:
            assert stored.read() == b"private build\n"
        response = yield get(url.replace(servers.restricted_url, second_servers.restricted_url))
        assert response.code == 200
        assert (yield treq.content(response)) == b"private build\n"
    finally:
        yield second_servers.stop()
        second.db.stop()
    assert os.listdir(second_config.librarian.storage) == [SECRET_NAME]


def test_a_streamed_write_starts_with_a_token_swift_accepts(context, session):
    """swiftclient cannot send a stream twice, so a token Swift refuses
    (expired) is renewed before a PUT, not after it failed."""
    now = [0.0]
    store = SwiftStorage(context.config.librarian, clock=lambda: now[0])
    store.add_bytes(session, "first.txt", b"first\n")
    store.connection().token = "AUTH_tk-expired"
    now[0] += 61
    alias = store.add_file(session, "second.txt", io.BytesIO(b"second\n"))
    session.commit()
    with store.open(alias) as stored:
        assert stored.read() == b"second\n"
