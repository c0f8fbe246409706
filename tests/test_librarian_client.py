"""The in-process librarian clients and the URLs they name."""

import datetime
import io
import os
from urllib.parse import parse_qs, urlsplit

import pytest

from buildmaster.librarian.client import (
    DownloadFailed, LibrarianClient, RestrictedLibrarianClient)
from buildmaster.librarian.tokens import check_token, load_secret
from buildmaster.librarian.urls import http_url, restricted_url
from buildmaster.model import LibraryFileAlias, utcnow


@pytest.fixture
def client(farm_context):
    return LibrarianClient(farm_context)


@pytest.fixture
def restricted_client(farm_context):
    return RestrictedLibrarianClient(farm_context)


def test_add_file_commits_a_public_alias(client, session):
    alias_id = client.addFile("hello.txt", io.BytesIO(b"hello\n"), contentType="text/plain")
    alias = session.get(LibraryFileAlias, alias_id)
    assert (alias.filename, alias.mimetype, alias.restricted) == (
        "hello.txt", "text/plain", False)
    with client.getFileByAlias(alias_id) as stored:
        assert stored.read() == b"hello\n"
        assert (stored.alias_id, stored.filename) == (alias_id, "hello.txt")
        assert stored.url == http_url(client.context.config, alias)


def test_public_client_refuses_restricted_files(client, restricted_client, session):
    alias_id = restricted_client.addFile("secret.txt", io.BytesIO(b"secret\n"))
    assert session.get(LibraryFileAlias, alias_id).restricted
    with pytest.raises(DownloadFailed) as failure:
        client.getFileByAlias(alias_id)
    assert str(failure.value) == f"Alias {alias_id} cannot be downloaded from this client."


def test_restricted_client_reads_any_file_and_names_a_token_url(
        client, restricted_client, farm_config):
    secret_id = restricted_client.addFile("secret.txt", io.BytesIO(b"secret\n"))
    public_id = client.addFile("public.txt", io.BytesIO(b"public\n"))
    with restricted_client.getFileByAlias(secret_id) as stored:
        assert stored.read() == b"secret\n"
        url = urlsplit(stored.url)
    assert url.path == f"/{secret_id}/secret.txt"
    assert f"{url.scheme}://{url.netloc}" == farm_config.librarian.restricted_url
    token = parse_qs(url.query)["token"][0]
    check_token(load_secret(farm_config.librarian.storage), secret_id, token,
                now=utcnow().timestamp())
    with restricted_client.getFileByAlias(public_id) as stored:
        assert stored.read() == b"public\n"


def test_unknown_expired_and_lost_files(client, librarian, session):
    with pytest.raises(DownloadFailed, match="^Alias 42 does not exist.$"):
        client.getFileByAlias(42)
    old = client.addFile("old.txt", io.BytesIO(b"old\n"),
                         expires=utcnow() - datetime.timedelta(seconds=1))
    with pytest.raises(DownloadFailed, match=rf"^Alias {old} \(old.txt\) has expired.$"):
        client.getFileByAlias(old)
    lost = client.addFile("lost.txt", io.BytesIO(b"lost\n"))
    os.unlink(librarian.path_for(session.get(LibraryFileAlias, lost).content.sha1))
    with pytest.raises(DownloadFailed, match=rf"^Alias {lost} \(lost.txt\): its content "
                                             r"\w{40} is missing from the store.$"):
        client.getFileByAlias(lost)


def test_restricted_url_token_lasts_token_lifetime(farm_config, librarian, session):
    alias = librarian.add_bytes(session, "a b.txt", b"x")
    url = urlsplit(restricted_url(farm_config, alias, now=1000.5))
    assert url.path == f"/{alias.id}/a%20b.txt"
    expected_expiry = 1000 + farm_config.librarian.token_lifetime
    assert parse_qs(url.query)["token"][0].startswith(f"{expected_expiry}-")
    assert http_url(farm_config, alias) == (
        f"{farm_config.librarian.public_url}/{alias.id}/a%20b.txt")
