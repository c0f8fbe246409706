"""``buildmaster token create|list|revoke`` and the tokens the web checks."""

import pytest
import sqlalchemy as sa

from buildmaster.model import ApiToken
from buildmaster.web import auth
from tests.clihelpers import cli  # noqa: F401


def test_a_token_is_printed_once_and_stored_only_as_its_hash(cli, session, db):
    made = cli("token", "create", "release-team")
    assert made.status == 0, made.err
    token = made.out.strip()
    assert token.startswith("bm_") and len(token) > 40
    row = session.scalars(sa.select(ApiToken)).one()
    assert (row.name, row.rights, row.revoked) == ("release-team", "write", False)
    assert row.token_sha256 == auth.digest(token) and token not in row.token_sha256
    assert token not in cli("--json", "token", "list").out


def test_the_web_knows_a_token_by_its_secret_and_records_its_use(cli, db, farm_context):
    token = cli("token", "create", "ops", "--rights", "write,private").out.strip()
    found = auth.authenticate(farm_context.sessions, token)
    assert found.name == "ops" and found.can(auth.WRITE) and found.can(auth.PRIVATE)
    assert auth.authenticate(farm_context.sessions, None) is None
    with pytest.raises(auth.BadToken, match="unknown token"):
        auth.authenticate(farm_context.sessions, token + "x")
    (listed,) = cli("token", "list", "--json").json()
    assert listed["rights"] == "write,private" and listed["date_last_used"] is not None


def test_a_revoked_token_is_refused(cli, db, farm_context):
    token = cli("token", "create", "old").out.strip()
    assert cli("token", "revoke", "old").out == "Token old revoked.\n"
    with pytest.raises(auth.BadToken, match="revoked"):
        auth.authenticate(farm_context.sessions, token)


@pytest.mark.parametrize("argv, error", [
    (("token", "create", "Bad Name"), "is not a token name"),
    (("token", "create", "x", "--rights", "admin"), "--rights: not a right: admin"),
    (("token", "revoke", "nobody"), "no token named 'nobody'"),
])
def test_bad_token_commands_are_one_line(cli, db, argv, error):
    assert error in cli(*argv).error_line()


def test_two_tokens_never_share_a_name(cli, db):
    cli("token", "create", "ops")
    assert "already exists" in cli("token", "create", "ops").error_line()


def test_a_bearer_header_wins_and_a_malformed_one_is_refused():
    assert auth.presented("Bearer abc", cookie="c", form="f") == "abc"
    assert auth.presented(None, cookie="c", form="f") == "f"
    assert auth.presented(None, cookie="c") == "c"
    assert auth.presented(None) is None
    with pytest.raises(auth.BadToken):
        auth.presented("Basic dXNlcjpwdw==")
