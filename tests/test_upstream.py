"""Failed builds waiting on upstream bugs: ``buildmaster bug link``, the
retry when checkwatches sees the upstream bug fixed, and what
``buildmaster builds --json`` says of it."""

import datetime
import logging

import pytest
import sqlalchemy as sa

from buildmaster.bugs import upstream
from buildmaster.bugs.checkwatches import BugWatchUpdater
from buildmaster.db.engine import Transaction
from buildmaster.model import (
    UTC, Bug, BugTracker, BugTrackerType, Build, BuildQueue, BuildStatus)
from tests.clihelpers import cli  # noqa: F401
from tests.trackerhelpers import bugzilla, tracker  # noqa: F401

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
# Sample build 3: foobar 1.0 in ~mark/ppa, warty i386, FAILEDTOBUILD.
FAILED_BUILD = 3


def bug_url(server, number):
    return f"{server.url}/show_bug.cgi?id={number}"


def check(session, bugtracker, hours_later=0):
    """One checkwatches batch of ``bugtracker``, ``hours_later`` after NOW."""
    when = NOW + datetime.timedelta(hours=hours_later)
    BugWatchUpdater(Transaction(session), logging.getLogger("test.upstream"),
                    now=lambda: when).updateBugTracker(bugtracker)


def test_linking_a_failed_build_makes_its_bug_a_tracker_and_a_watch(cli, bugzilla):
    result = cli("bug", "link", str(FAILED_BUILD), bug_url(bugzilla, 2000))
    assert result.status == 0, result.err
    assert result.out == (
        "Build 3 (i386 build of foobar 1.0 in ubuntu warty RELEASE) now waits on bug "
        f"2000 of new tracker auto-127.0.0.1 ({bugzilla.url}), as our bug 11; "
        "checkwatches retries it when that bug is fixed.\n")
    bug = cli.session.scalars(sa.select(Bug).filter_by(build_id=FAILED_BUILD)).one()
    assert bug.title == "i386 build of foobar 1.0 in ubuntu warty RELEASE fails to build"
    [watch] = bug.watches
    assert (watch.bugtracker.bugtrackertype, watch.bugtracker.baseurl, watch.remotebug,
            watch.lastchecked) == (BugTrackerType.BUGZILLA, bugzilla.url, "2000", None)


def test_linking_again_reuses_the_bug_the_tracker_and_the_watch(cli, bugzilla):
    cli("bug", "link", str(FAILED_BUILD), bug_url(bugzilla, 2000))
    again = cli("bug", "link", str(FAILED_BUILD), bug_url(bugzilla, 2000) + " ")
    assert "already waits on bug 2000 of tracker auto-127.0.0.1" in again.out
    other = cli("bug", "link", str(FAILED_BUILD), bug_url(bugzilla, 123543))
    assert "now waits on bug 123543 of tracker auto-127.0.0.1" in other.out
    count = cli.session.scalar
    assert count(sa.select(sa.func.count()).select_from(Bug)) == 11
    assert count(sa.select(sa.func.count()).select_from(BugTracker)) == 6
    auto = cli.session.scalars(sa.select(BugTracker).filter_by(name="auto-127.0.0.1")).one()
    assert [watch.remotebug for watch in auto.watches] == ["123543", "2000"]


def test_a_known_tracker_is_found_by_its_base_url_whatever_the_scheme(cli):
    result = cli("bug", "link", str(FAILED_BUILD),
                 "https://bugs.debian.org/cgi-bin/bugreport.cgi?bug=327452")
    assert "of tracker debbugs (http://bugs.debian.org)" in result.out


@pytest.mark.parametrize("argv, error", [
    (["1", "http://bugs.example.org/show_bug.cgi?id=1"],
     "build 1 (i386 build of evolution 1.0 in ubuntu warty RELEASE) is FULLYBUILT; "
     "only FAILEDTOBUILD builds wait on upstream bugs"),
    (["3", "http://example.org/wiki/Page"],
     "'http://example.org/wiki/Page' is no bug address we can watch: give a Roundup "
     ".../issueN, a Trac .../ticket/N, a Bugzilla .../show_bug.cgi?id=N or a debbugs "
     ".../cgi-bin/bugreport.cgi?bug=N address"),
    (["999", "http://bugs.example.org/show_bug.cgi?id=1"], "no build with id 999"),
    (["3", "http://bugs.debian.org/show_bug.cgi?id=1"],
     "http://bugs.debian.org/show_bug.cgi?id=1 is a Bugzilla address, but debbugs at "
     "http://bugs.debian.org is a Debbugs tracker"),
])
def test_what_cannot_be_linked_is_refused_in_one_line(cli, argv, error):
    assert cli("bug", "link", *argv).error_line() == f"buildmaster: error: {error}"
    assert cli.session.scalar(sa.select(sa.func.count()).select_from(Bug)) == 10


def test_a_linked_failed_build_is_retried_once_when_its_upstream_bug_is_fixed(
        session, sample, bugzilla, caplog):
    build = session.get(Build, FAILED_BUILD)
    link = upstream.link_build(session, build, bug_url(bugzilla, 2000), now=NOW)
    session.commit()
    caplog.set_level(logging.INFO)

    check(session, link.tracker)

    session.expire_all()
    assert build.buildstate is BuildStatus.NEEDSBUILD
    entry = session.scalars(sa.select(BuildQueue).filter_by(build_id=FAILED_BUILD)).one()
    assert (f"build 3 (foobar 1.0 i386): FAILEDTOBUILD -> NEEDSBUILD, upstream bug "
            f"{bug_url(bugzilla, 2000)} is fixed (RESOLVED FIXED); "
            f"score {entry.lastscore}") in caplog.messages
    assert link.watch.remotestatus == "RESOLVED FIXED"

    # The retry fails again; the upstream bug stays fixed: no second retry.
    session.delete(entry)
    build.buildstate = BuildStatus.FAILEDTOBUILD
    session.commit()
    check(session, link.tracker, hours_later=24)
    session.expire_all()
    assert build.buildstate is BuildStatus.FAILEDTOBUILD
    assert link.watch.lastchecked == NOW + datetime.timedelta(hours=24)


def test_a_build_whose_upstream_bug_is_open_stays_failed(session, sample, bugzilla):
    build = session.get(Build, FAILED_BUILD)
    link = upstream.link_build(session, build, bug_url(bugzilla, 123543), now=NOW)
    session.commit()
    check(session, link.tracker)
    session.expire_all()
    assert (build.buildstate, link.watch.remotestatus) == (
        BuildStatus.FAILEDTOBUILD, "ASSIGNED")


def test_builds_json_shows_the_upstream_bug_and_its_remote_status(cli, bugzilla):
    cli("bug", "link", str(FAILED_BUILD), bug_url(bugzilla, 2000))
    auto = cli.session.scalars(sa.select(BugTracker).filter_by(name="auto-127.0.0.1")).one()
    check(cli.session, auto)
    builds = {build["id"]: build for build in cli("--json", "builds").json()}
    [linked] = builds[FAILED_BUILD]["upstream_bugs"]
    assert linked == {
        "url": bug_url(bugzilla, 2000), "tracker": "auto-127.0.0.1", "remotebug": "2000",
        "remotestatus": "RESOLVED FIXED", "status": "FIXRELEASED",
        "lastchecked": NOW.isoformat(), "last_error": None}
    assert builds[FAILED_BUILD]["state"] == "NEEDSBUILD"
    assert builds[1]["upstream_bugs"] == []
