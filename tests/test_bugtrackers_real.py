"""checkwatches against real trackers on loopback: a Roundup tracker
served by roundup-server and a Trac environment served by tracd, their
issues made and closed through their own interfaces."""

import datetime
import json
import logging

import sqlalchemy as sa

from buildmaster.bugs.checkwatches import BugWatchUpdater
from buildmaster.db.engine import Transaction
from buildmaster.model import (
    Bug, BugTracker, BugTrackerType, BugWatch, BugWatchErrorType, Build, BuildStatus, utcnow)
from buildmaster.testing.trackers import (  # noqa: F401
    roundup_template, roundup_tracker, trac_env, trac_template)
from tests.clihelpers import cli  # noqa: F401

FAILED_BUILD = 3  # foobar 1.0 in ~mark/ppa, warty i386: FAILEDTOBUILD


def register(session, name, kind, url, *remotebugs):
    """A tracker row for ``url`` watching ``remotebugs`` for our bug 1."""
    tracker = BugTracker(name=name, title=name, bugtrackertype=kind, baseurl=url)
    session.add(tracker)
    for remotebug in remotebugs:
        session.get(Bug, 1).addWatch(tracker, remotebug, None)
    session.commit()
    return tracker


def only_these_are_due(session):
    """The sample's own watches (internet trackers) were just checked."""
    session.execute(sa.update(BugWatch).values(lastchecked=utcnow()))
    session.commit()


def watches_of(session, tracker):
    session.expire_all()
    return {watch.remotebug: (watch.remotestatus, watch.last_error_type)
            for watch in tracker.watches}


def update_all(session, timeout=30):
    BugWatchUpdater(Transaction(session), logging.getLogger("test.trackers"),
                    timeout=timeout).updateBugTrackers()


def test_checkwatches_reads_roundup_issues(session, sample, roundup_tracker):
    unread = roundup_tracker.create_issue("foobar fails to build with gcc 14")
    resolved = roundup_tracker.create_issue("evolution crashes")
    roundup_tracker.set_status(resolved, "resolved")
    only_these_are_due(session)
    tracker = register(session, "upstream-roundup", BugTrackerType.ROUNDUP,
                       roundup_tracker.url, unread, resolved, "404")
    update_all(session)
    assert watches_of(session, tracker) == {
        unread: ("unread", None), resolved: ("resolved", None),
        "404": (None, BugWatchErrorType.BUG_NOT_FOUND)}


def test_checkwatches_reads_trac_tickets(session, sample, trac_env):
    new = trac_env.create_ticket("foobar fails to build")
    fixed = trac_env.create_ticket("evolution crashes")
    trac_env.resolve(fixed, "fixed")
    wontfix = trac_env.create_ticket("please port to VMS")
    trac_env.resolve(wontfix, "wontfix")
    only_these_are_due(session)
    tracker = register(session, "upstream-trac", BugTrackerType.TRAC, trac_env.url,
                       new, fixed, wontfix)
    update_all(session)
    assert watches_of(session, tracker) == {
        new: ("new", None), fixed: ("closed fixed", None),
        wontfix: ("closed wontfix", None)}


def test_a_tracker_that_stops_answering_times_out_and_holds_up_no_other(
        session, sample, roundup_tracker, trac_env, caplog):
    issue = roundup_tracker.create_issue("hangs")
    ticket = trac_env.create_ticket("answers")
    only_these_are_due(session)
    # By title, the Roundup tracker is asked first.
    hung = register(session, "a-roundup", BugTrackerType.ROUNDUP, roundup_tracker.url, issue)
    alive = register(session, "b-trac", BugTrackerType.TRAC, trac_env.url, ticket)
    roundup_tracker.pause()
    try:
        update_all(session, timeout=1)
    finally:
        roundup_tracker.resume()
    assert watches_of(session, hung) == {issue: (None, BugWatchErrorType.TIMEOUT)}
    assert watches_of(session, alive) == {ticket: ("new", None)}
    assert (f"Connection timed out when updating {roundup_tracker.url}"
            in caplog.messages)


def test_a_tracker_that_is_gone_is_a_connection_error(session, sample, trac_env):
    ticket = trac_env.create_ticket("soon gone")
    only_these_are_due(session)
    tracker = register(session, "upstream-trac", BugTrackerType.TRAC, trac_env.url, ticket)
    trac_env.stop()
    update_all(session)
    assert watches_of(session, tracker) == {
        ticket: (None, BugWatchErrorType.CONNECTION_ERROR)}


def a_day_passes(session):
    """Every watch was last checked a day ago: all are due again."""
    session.execute(sa.update(BugWatch).values(
        lastchecked=utcnow() - datetime.timedelta(days=1)))
    session.commit()


def test_a_build_waiting_on_a_roundup_issue_is_retried_when_it_is_resolved(
        cli, roundup_tracker):
    issue = roundup_tracker.create_issue("foobar: FTBFS with the new toolchain")
    only_these_are_due(cli.session)
    linked = cli("bug", "link", str(FAILED_BUILD), roundup_tracker.bug_url(issue))
    assert linked.status == 0, linked.err

    first = cli.process("checkwatches")
    assert first.status == 0, first.err
    assert cli.session.get(Build, FAILED_BUILD).buildstate is BuildStatus.FAILEDTOBUILD

    roundup_tracker.set_status(issue, "resolved")
    a_day_passes(cli.session)
    second = cli.process("checkwatches")
    assert second.status == 0, second.err
    assert (f"INFO    build 3 (foobar 1.0 i386): FAILEDTOBUILD -> NEEDSBUILD, upstream "
            f"bug {roundup_tracker.bug_url(issue)} is fixed (resolved); score "
            in second.err)
    assert cli.session.get(Build, FAILED_BUILD).buildstate is BuildStatus.NEEDSBUILD

    [build] = [each for each in json.loads(cli("--json", "builds").out)
               if each["id"] == FAILED_BUILD]
    [upstream] = build["upstream_bugs"]
    assert (upstream["url"], upstream["remotestatus"], upstream["status"]) == (
        roundup_tracker.bug_url(issue), "resolved", "FIXRELEASED")


def test_a_build_waiting_on_a_trac_ticket_is_retried_when_it_is_closed_fixed(
        cli, trac_env):
    ticket = trac_env.create_ticket("foobar: FTBFS on i386")
    only_these_are_due(cli.session)
    assert cli("bug", "link", str(FAILED_BUILD), trac_env.bug_url(ticket)).status == 0
    assert cli.process("checkwatches").status == 0
    assert cli.session.get(Build, FAILED_BUILD).buildstate is BuildStatus.FAILEDTOBUILD

    trac_env.resolve(ticket, "fixed")
    a_day_passes(cli.session)
    run = cli.process("checkwatches")
    assert (f"FAILEDTOBUILD -> NEEDSBUILD, upstream bug {trac_env.bug_url(ticket)} "
            "is fixed (closed fixed)" in run.err), run.err
    assert cli.session.get(Build, FAILED_BUILD).buildstate is BuildStatus.NEEDSBUILD
