"""Flaky builds: a version that failed and built when retried is flagged
with both builders, told as flaky, and not counted as a regression."""

import datetime
import email
import email.policy

import pytest
import pytest_twisted
import sqlalchemy as sa

from buildmaster.health import reporting
from buildmaster.model import BuildOutcome, utcnow
from buildmaster.testing.history import Farm
from tests.clihelpers import cli  # noqa: F401

LIST = "buildbot-status@example.com"


@pytest.fixture
def farm(sample, session, farm_config, librarian, build_mailer):
    farm_config.status.mailing_list = [LIST]
    farm_config.status.mode = ("change",)
    return Farm(session, sample, farm_config, librarian, build_mailer)


def outcomes_of(session, build):
    return session.scalars(sa.select(BuildOutcome).filter_by(build_id=build.id)
                           .order_by(BuildOutcome.id)).all()


@pytest_twisted.ensureDeferred
async def test_a_failure_that_builds_when_retried_is_flaky(
        farm, session, cli, build_mailer, smtp_server):
    farm.build("hello", "2.3-1", builder="frog")
    failed = farm.build("hello", "2.4-1", builder="bob", result="PACKAGEFAIL")
    retried = cli("retry", str(failed.id))
    assert retried.status == 0, retried.err
    farm.run(failed, "frog")
    red, green = outcomes_of(session, failed)
    assert (red.colour, red.builder.name, green.colour, green.builder.name) == (
        "red", "bob", "green", "frog")
    assert green.flaky_of_id == red.id and green.change == "flaky"
    # The list heard of the regression, then that it was flaky.
    await build_mailer.flush()
    told = sorted((message["Message-ID"], message["X-Buildmaster-Change"],
                   message.get_content().splitlines()[0]) for message in (
        email.message_from_string(raw, policy=email.policy.default)
        for _, to, raw in smtp_server.messages if to == [LIST]))
    assert [(what, line) for _, what, line in told] == [
        ("regression", "A regression: hello 2.4-1 is red (FAILEDTOBUILD); 2.3-1 before "
                       "it was green."),
        ("flaky", "Flaky: hello 2.4-1 built (green) when tried again after failing on "
                  "bob.")]
    # The report lists it with both builders, and counts no regression.
    now = utcnow()
    figures = reporting.figures(session, now - datetime.timedelta(days=1), now, now)
    assert figures["builds"]["regressions"] == 0 and figures["builds"]["flaky"] == 1
    assert [(row["source"], row["version"], row["failed_on"], row["built_on"])
            for row in figures["flaky"]] == [("hello", "2.4-1", "bob", "frog")]


def test_failing_again_when_retried_is_not_flaky(farm, session, cli):
    failed = farm.build("hello", "2.4-1", builder="bob", result="PACKAGEFAIL")
    cli("retry", str(failed.id))
    farm.run(failed, "frog", result="PACKAGEFAIL")
    cli("retry", str(failed.id))
    farm.run(failed, "bob")
    first, second, third = outcomes_of(session, failed)
    assert [o.change for o in (first, second, third)] == ["first", "still-failing", "flaky"]
    assert third.flaky_of_id == second.id and second.flaky_of_id is None


def test_a_new_version_that_builds_is_fixed_not_flaky(farm, session):
    farm.build("hello", "2.4-1", result="PACKAGEFAIL")
    fixed = farm.build("hello", "2.5-1")
    (outcome,) = outcomes_of(session, fixed)
    assert (outcome.change, outcome.flaky_of_id) == ("fixed", None)
