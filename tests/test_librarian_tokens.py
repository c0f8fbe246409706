"""Restricted-librarian tokens: the secret file, signing and checking."""

import os
import stat

import pytest

from buildmaster.librarian.tokens import (
    SECRET_NAME, TokenError, check_token, load_secret, make_token)


def test_secret_is_created_private_once_and_reused(tmp_path):
    secret = load_secret(str(tmp_path))
    path = tmp_path / SECRET_NAME
    assert len(secret) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret(str(tmp_path)) == secret
    assert [name for name in os.listdir(tmp_path)] == [SECRET_NAME]


def test_different_storages_have_different_secrets(tmp_path):
    assert load_secret(str(tmp_path / "a")) != load_secret(str(tmp_path / "b"))


def test_damaged_secret_is_reported(tmp_path):
    (tmp_path / SECRET_NAME).write_bytes(b"short")
    with pytest.raises(TokenError, match=r"\.token-secret is damaged: expected 32 bytes, "
                                         r"found 5"):
        load_secret(str(tmp_path))


def test_token_grants_its_file_until_it_expires():
    secret = b"s" * 32
    token = make_token(secret, 7, 1000)
    assert token.startswith("1000-")
    check_token(secret, 7, token, now=999)
    check_token(secret, 7, token, now=1000)
    with pytest.raises(TokenError, match="^token has expired$"):
        check_token(secret, 7, token, now=1001)


@pytest.mark.parametrize("token, problem", [
    (make_token(b"s" * 32, 8, 1000), "token is not valid for file 7"),
    (make_token(b"t" * 32, 7, 1000), "token is not valid for file 7"),
    (make_token(b"s" * 32, 7, 1000).replace("1000-", "2000-"), "token is not valid for file 7"),
    ("1000-é", "token is not valid for file 7"),
    ("", "malformed token"),
    ("soon-abc", "malformed token"),
    ("1000", "malformed token"),
])
def test_forged_tokens_are_refused(token, problem):
    with pytest.raises(TokenError, match=f"^{problem}$"):
        check_token(b"s" * 32, 7, token, now=0)
