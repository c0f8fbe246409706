"""The farm report on a farm with a known history: as text, as JSON, from
the command line, and mailed once per period by the farm_report job."""

import datetime
import email
import email.policy
import itertools

import pytest
import pytest_twisted
import sqlalchemy as sa

from buildmaster.model import rows
from buildmaster.health import notify, report, reporting
from buildmaster.health.outbox import Outbox
from buildmaster.model import (
    UTC, BuilderHealth, BuildOutcome, BuildQueue, BuildStatus, PackagePublishingPocket,
    StatusReport)
from tests.clihelpers import cli  # noqa: F401

DAY = datetime.datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
NOW = DAY + datetime.timedelta(days=7)
COLOURS = {"FULLYBUILT": "green", "FAILEDTOBUILD": "red", "CHROOTWAIT": "red",
           "MANUALDEPWAIT": "none"}

# (day, source, version, builder, state, warnings, minutes queued, minutes building)
HISTORY = [
    (-1, "qux", "1.0-1", "bob", "FULLYBUILT", 0, 1, 1),  # before the period
    (0, "hello", "1.0-1", "bob", "FULLYBUILT", 0, 5, 10),
    (0, "foo", "1.0-1", "frog", "FULLYBUILT", 0, 1, 20),
    (1, "hello", "1.1-1", "bob", "FAILEDTOBUILD", 0, 2, 3),  # went red ...
    (1, "foo", "1.1-1", "frog", "FULLYBUILT", 2, 3, 30),
    (2, "hello", "1.1-1", "frog", "FULLYBUILT", 0, 10, 12),  # ... and built when retried
    (3, "bar", "1.0-1", "bob", "FAILEDTOBUILD", 0, 4, 1),
    (3, "baz", "1.0-1", "frog", "MANUALDEPWAIT", 0, 6, 2),
    (4, "foo", "1.2-1", "frog", "CHROOTWAIT", 0, 8, 0.5),
]


def make_history(session, sample, farm_config):
    """The outcomes of HISTORY, judged; bob quarantined since day 5, noon."""
    queue_ids = itertools.count(1000)
    builds = {}
    for day, source, version, builder, state, warnings, queued, building in HISTORY:
        build = builds.get((source, version))
        if build is None:
            release = rows.source_release(session, source, version, sample.person["mark"])
            build = builds[source, version] = release.createBuild(
                sample.hoary["i386"], sample.primary, PackagePublishingPocket.RELEASE)
        release = build.sourcepackagerelease
        finished = DAY + datetime.timedelta(days=day, hours=12)
        started = finished - datetime.timedelta(minutes=building)
        build.buildstate = BuildStatus[state]
        session.add(BuildOutcome(
            build=build, buildqueue_id=next(queue_ids),
            sourcepackagename_id=release.sourcepackagename_id,
            sourcepackagerelease_id=release.id, archive_id=build.archive_id,
            distroarchseries_id=build.distroarchseries_id,
            builder=getattr(sample, builder), state=state,
            colour=("orange" if warnings else COLOURS[state]), warnings=warnings,
            queued_at=started - datetime.timedelta(minutes=queued), started_at=started,
            finished_at=finished,
            judged_at=finished if COLOURS[state] == "none" else None))
        session.flush()
    session.add(BuilderHealth(builder=sample.bob, state="QUARANTINED",
                              since=DAY + datetime.timedelta(days=5, hours=12),
                              notes="Quarantined: ..."))
    sample.bob.failBuilder("Quarantined: failed 3 builds in a row")
    session.get(BuildQueue, 1).builder = None
    session.commit()
    notify.judge_pending(session, farm_config, Outbox(None), NOW)


@pytest.fixture
def history(session, sample, farm_config):
    make_history(session, sample, farm_config)


def test_the_report_as_figures(history, session):
    figures = reporting.figures(session, DAY, NOW, NOW)
    assert figures["builds"] == {"total": 8, "green": 3, "orange": 1, "red": 3, "none": 1,
                                 "failure_rate": 0.429, "regressions": 1, "flaky": 1}
    assert [(day["day"], day["total"], day["states"]) for day in figures["per_day"]] == [
        ("2024-01-01", 2, {"FULLYBUILT": 2}),
        ("2024-01-02", 2, {"FULLYBUILT": 1, "FAILEDTOBUILD": 1}),
        ("2024-01-03", 1, {"FULLYBUILT": 1}),
        ("2024-01-04", 2, {"FAILEDTOBUILD": 1, "MANUALDEPWAIT": 1}),
        ("2024-01-05", 1, {"CHROOTWAIT": 1}),
        ("2024-01-06", 0, {}), ("2024-01-07", 0, {})]
    assert figures["builders"] == [
        {"builder": "bob", "builds": 3, "red": 2, "failure_rate": 0.667},
        {"builder": "frog", "builds": 4, "red": 1, "failure_rate": 0.25}]
    assert figures["architectures"] == [
        {"arch": "i386", "builds": 7, "red": 3, "failure_rate": 0.429}]
    assert [(row["source"], row["red"]) for row in figures["top_failing"]] == [
        ("bar", 1), ("foo", 1), ("hello", 1)]
    # hello 1.1-1 went red, but built when tried again: flaky, no regression.
    assert [(row["source"], row["version"]) for row in figures["regressions"]] == [
        ("foo", "1.2-1")]
    assert figures["flaky"] == [{
        "source": "hello", "version": "1.1-1", "arch": "i386", "archive": "primary",
        "series": "hoary", "failed_on": "bob", "built_on": "frog",
        "failed_at": "2024-01-02T12:00:00+00:00", "built_at": "2024-01-03T12:00:00+00:00"}]
    assert figures["offline"] == [{
        "builder": "bob", "state": "QUARANTINED", "since": "2024-01-06T12:00:00+00:00",
        "for_seconds": 36 * 3600, "notes": "Quarantined: failed 3 builds in a row"}]
    # Waits 1..10 minutes: the median between 4 and 5, the 95th percentile
    # the longest of eight.
    assert figures["queue_wait"] == {"builds": 8, "median_seconds": 270.0,
                                     "p95_seconds": 600.0}
    assert figures["build_time"] == {"builds": 8, "median_seconds": 390.0,
                                     "p95_seconds": 1800.0}


REPORT_TEXT = """\
Build farm report, 2024-01-01 00:00 to 2024-01-08 00:00 UTC

Builds finished: 8 (3 green, 1 orange, 3 red, 1 none); failure rate 42.9%
Regressions: 1; flaky builds: 1

Builds per day
DAY         TOTAL  FULLYBUILT  FAILEDTOBUILD  MANUALDEPWAIT  CHROOTWAIT
2024-01-01  2      2           0              0              0
2024-01-02  2      1           1              0              0
2024-01-03  1      1           0              0              0
2024-01-04  2      0           1              1              0
2024-01-05  1      0           0              0              1
2024-01-06  0      0           0              0              0
2024-01-07  0      0           0              0              0

Failure rate per builder
BUILDER  BUILDS  RED  RATE
bob      3       2    66.7%
frog     4       1    25.0%

Failure rate per architecture
ARCH  BUILDS  RED  RATE
i386  7       3    42.9%

Top failing sources
SOURCE  RED  VERSIONS  ARCHES
bar     1    1.0-1     i386
foo     1    1.2-1     i386
hello   1    1.1-1     i386

Regressions
SOURCE  VERSION  ARCH  ARCHIVE  SERIES  STATE       BUILDER
foo     1.2-1    i386  primary  hoary   CHROOTWAIT  frog

Flaky builds (failed, then built when tried again)
SOURCE  VERSION  ARCH  ARCHIVE  FAILED ON  BUILT ON  BUILT AT
hello   1.1-1    i386  primary  bob        frog      2024-01-03 12:00

Builders offline or quarantined
BUILDER  STATE        SINCE             FOR     NOTES
bob      QUARANTINED  2024-01-06 12:00  1d 12h  Quarantined: failed 3 builds in a row

Queue wait: median 4m 30s, 95th percentile 10m 00s (8 builds)
Build time: median 6m 30s, 95th percentile 30m 00s (8 builds)
"""


def test_the_report_as_text(history, session):
    assert report.text(reporting.figures(session, DAY, NOW, NOW)) == REPORT_TEXT


def test_an_empty_period_says_so(session, sample):
    text = report.text(reporting.figures(session, NOW, NOW + datetime.timedelta(days=1),
                                         NOW))
    assert "Builds finished: 0 (0 green, 0 orange, 0 red, 0 none); failure rate -" in text
    assert "Flaky builds (failed, then built when tried again)\n(none)\n" in text
    assert "Queue wait: median -, 95th percentile - (0 builds)" in text


def test_the_command_line_prints_the_same_report(history, cli):
    printed = cli("report", "--since", "7d", "--until", "2024-01-08")
    assert printed.status == 0
    # The offline builder's time out is counted to the moment the command runs.
    assert printed.out.split("Builders offline")[0] == REPORT_TEXT.split(
        "Builders offline")[0]
    figures = cli("report", "--since", "1w", "--until", "2024-01-08T00:00", "--json").json()
    assert figures["builds"]["flaky"] == 1 and figures["since"] == "2024-01-01T00:00:00+00:00"
    assert figures["offline"][0]["for_seconds"] > 36 * 3600


@pytest.mark.parametrize("argv, error", [
    (["--since", "7x"], "--since: '7x' is not a duration like 7d, 12h, 30m or 2w"),
    (["--since", "0d"], "--since: '0d' is not a duration"),
    (["--until", "monday"], "--until: 'monday' is not a date like 2024-01-08"),
])
def test_bad_periods_are_refused_in_one_line(cli, argv, error):
    assert cli("report", *argv).error_line().startswith(f"buildmaster: error: {error}")


@pytest_twisted.ensureDeferred
async def test_the_farm_report_job_mails_each_period_once(
        history, farm_context, farm_config, build_mailer, smtp_server, session):
    farm_config.status.report_to = ["buildd-team@example.com"]
    farm_config.status.report_every = 1
    outbox = Outbox(build_mailer)
    after = DAY + datetime.timedelta(days=2, hours=6)  # during January 3rd
    assert reporting.mail_report_now(farm_context, outbox, after) is not None
    assert reporting.mail_report_now(farm_context, outbox, after) is None  # told already
    assert reporting.mail_report_now(
        farm_context, outbox, after + datetime.timedelta(hours=1)) is None
    assert reporting.mail_report_now(
        farm_context, outbox, after + datetime.timedelta(days=1)) is not None
    outbox.release()
    await build_mailer.flush()
    mailed = sorted((message["Subject"], message.get_content()) for message in (
        email.message_from_string(raw, policy=email.policy.default)
        for _, to, raw in smtp_server.messages if to == ["buildd-team@example.com"]))
    assert [subject for subject, _ in mailed] == [
        "Build farm report, 2024-01-02 to 2024-01-03",
        "Build farm report, 2024-01-03 to 2024-01-04"]
    assert "Builds finished: 2 (0 green, 1 orange, 1 red, 0 none)" in mailed[0][1]
    assert "hello   1.1-1    i386  primary  bob        frog" in mailed[1][1]
    assert session.scalar(sa.select(sa.func.count()).select_from(StatusReport)) == 2


def test_no_report_is_mailed_without_recipients(history, farm_context):
    assert reporting.mail_report_now(farm_context, Outbox(None), NOW) is None
