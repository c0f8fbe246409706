"""``buildmaster token create|list|revoke`` and the tokens the web checks."""

import datetime

import pytest
import pytest_twisted
import sqlalchemy as sa

from buildmaster.commands import tokens
from buildmaster.commands.registry import CommandError
from buildmaster.model import UTC, ApiToken, utcnow
from buildmaster.web import auth
from tests.clihelpers import cli  # noqa: F401
from tests.webhelpers import web  # noqa: F401


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


def test_a_token_with_no_expiry_never_expires(cli, db, farm_context):
    token = cli("token", "create", "forever").out.strip()
    later = utcnow() + datetime.timedelta(days=100 * 366)
    assert auth.authenticate(farm_context.sessions, token, now=later).name == "forever"
    (listed,) = cli("token", "list", "--json").json()
    assert (listed["date_expires"], listed["expired"]) == (None, False)


def test_an_expired_token_is_refused_like_a_wrong_one_and_listed_expired(
        cli, session, db, farm_context):
    token = cli("token", "create", "temp", "--expires", "30").out.strip()
    row = session.scalars(sa.select(ApiToken)).one()
    assert row.date_expires - row.date_created == datetime.timedelta(days=30)
    assert auth.authenticate(farm_context.sessions, token).name == "temp"
    with pytest.raises(auth.BadToken, match="token 'temp' expired on "):
        auth.authenticate(farm_context.sessions, token,
                          now=row.date_expires + datetime.timedelta(seconds=1))
    row.date_expires = utcnow() - datetime.timedelta(minutes=1)
    session.commit()
    (listed,) = cli("token", "list", "--json").json()
    assert listed["expired"] is True and listed["date_expires"].startswith(
        row.date_expires.date().isoformat())
    table = cli("token", "list").out.splitlines()
    assert table[0].split() == ["NAME", "RIGHTS", "CREATED", "LAST", "USED", "EXPIRES",
                                "EXPIRED", "REVOKED"]
    assert table[1].split()[-2:] == ["yes", "no"]


@pytest_twisted.ensureDeferred
async def test_the_web_answers_an_expired_token_401(web, sample, session):
    token = auth.create(session, "temp", (auth.WRITE,),
                        expires=utcnow() - datetime.timedelta(seconds=1))
    session.commit()
    answer = await web.json("/api/1.0/builds/9/rescore", data={"score": "7"},
                            token=token, code=401)
    assert answer["error"].startswith("token 'temp' expired on ")
    page = await web.post("/builds/9/rescore", data={"score": "7", "token": token})
    assert page.code == 401


def test_expires_takes_days_or_a_date_worked_through():
    now = datetime.datetime(2026, 12, 8, 15, 30, tzinfo=UTC)
    assert tokens.expiry_of("1", now) == now + datetime.timedelta(days=1)
    assert tokens.expiry_of("2027-01-31", now) == datetime.datetime(
        2027, 2, 1, tzinfo=UTC)
    assert tokens.expiry_of("2026-12-08", now) == datetime.datetime(
        2026, 12, 9, tzinfo=UTC)  # today: until tonight
    for bad, error in (("0", "0 days is not from 1"), ("99999999", "is not from 1"),
                       ("2026-12-07", "2026-12-07 is past"), ("tomorrow", "neither"),
                       ("-3", "neither"), ("9999-12-31", "neither"), ("\u0663", "neither")):
        with pytest.raises(CommandError, match=error):
            tokens.expiry_of(bad, now)


def test_a_bad_expiry_is_one_line(cli, db):
    assert "--expires: 'soon' is neither a number of days nor a date" in cli(
        "token", "create", "x", "--expires", "soon").error_line()
