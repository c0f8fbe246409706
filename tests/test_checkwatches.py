"""checkwatches: which watches a run checks, what it records when a
tracker fails, and that one tracker's failure never stops the others."""

import datetime
import logging

import pytest
import pytest_twisted
import sqlalchemy as sa

from buildmaster import jobs
from buildmaster.bugs import checkwatches, externalbugtracker
from buildmaster.bugs.checkwatches import AlreadyRunning, BugWatchUpdater, LockFile
from buildmaster.db.engine import Transaction, make_session_factory
from buildmaster.model import (
    UTC, Bug, BugTracker, BugTrackerType, BugWatch, BugWatchErrorType)
from tests.clihelpers import cli  # noqa: F401
from tests.trackerhelpers import bugzilla, silent, tracker  # noqa: F401

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def add_tracker(session, name, kind, baseurl, *remotebugs, bug_id=1):
    made = BugTracker(name=name, title=name, bugtrackertype=kind, baseurl=baseurl)
    session.add(made)
    bug = session.get(Bug, bug_id)
    for remotebug in remotebugs:
        bug.addWatch(made, remotebug, None)
    session.commit()
    return made


def checked_recently(session):
    session.execute(sa.update(BugWatch).values(lastchecked=NOW))
    session.commit()


def updater(session, **options):
    return BugWatchUpdater(Transaction(session), logging.getLogger("test.checkwatches"),
                           now=lambda: NOW, **options)


def committed_watches(db, tracker_name):
    """The tracker's watches as a fresh session reads them."""
    with make_session_factory(db.engine)() as fresh:
        row = fresh.scalars(sa.select(BugTracker).filter_by(name=tracker_name)).one()
        return [(watch.remotebug, watch.remotestatus, watch.last_error_type,
                 watch.lastchecked) for watch in row.watches.order_by(None)
                .order_by(BugWatch.id)]


def test_a_run_with_nothing_due_asks_no_tracker(session, sample, bugzilla, caplog):
    for number, row in enumerate(session.scalars(sa.select(BugTracker)), start=1):
        row.baseurl = f"{bugzilla.url}/tracker{number}"
    checked_recently(session)
    caplog.set_level(logging.INFO)
    updater(session).updateBugTrackers()
    assert bugzilla.requests == []
    assert [record.getMessage() for record in caplog.records] == [
        f"No watches to update on {bugzilla.url}/tracker3",
        f"No watches to update on {bugzilla.url}/tracker2",
        f"No watches to update on {bugzilla.url}/tracker5",
        f"No watches to update on {bugzilla.url}/tracker1",
        "Skipping updating Ubuntu Bugzilla watches.",
    ]


def test_one_failing_tracker_never_stops_the_others(
        db, session, sample, bugzilla, silent, monkeypatch, caplog):
    checked_recently(session)
    add_tracker(session, "a-hung-roundup", BugTrackerType.ROUNDUP, silent.url, "1", "2")
    add_tracker(session, "b-broken-trac", BugTrackerType.TRAC, "http://127.0.0.1:9/", "5")
    add_tracker(session, "c-bugzilla", BugTrackerType.BUGZILLA, bugzilla.url, "2000", "42")

    def client_bug(self, remote_ids):
        raise RuntimeError("a bug of ours")
    monkeypatch.setattr(externalbugtracker.Trac, "getRemoteStatuses", client_bug)

    updater(session, timeout=0.5).updateBugTrackers()

    assert committed_watches(db, "a-hung-roundup") == [
        ("1", None, BugWatchErrorType.TIMEOUT, NOW), ("2", None, BugWatchErrorType.TIMEOUT, NOW)]
    assert committed_watches(db, "b-broken-trac") == [("5", None, None, None)]
    assert committed_watches(db, "c-bugzilla") == [
        ("2000", "RESOLVED FIXED", None, NOW), ("42", None, BugWatchErrorType.BUG_NOT_FOUND, NOW)]
    errors = [record.getMessage() for record in caplog.records
              if record.levelno >= logging.ERROR]
    assert errors == [f"Connection timed out when updating {silent.url}",
                      "An exception was raised when updating http://127.0.0.1:9/"]


def test_a_tracker_nobody_can_read_gets_its_watches_marked_unsupported(
        db, session, sample, caplog):
    checked_recently(session)
    add_tracker(session, "a-mantis", BugTrackerType.MANTIS, "http://mantis.example.org/", "3")
    updater(session).updateBugTrackers()
    assert committed_watches(db, "a-mantis") == [
        ("3", None, BugWatchErrorType.UNSUPPORTED_BUG_TRACKER, NOW)]
    assert ("No client for MANTIS bug trackers: not updating http://mantis.example.org/"
            in caplog.text)


def test_a_run_checks_at_most_a_batch_per_tracker_oldest_checks_first(
        db, session, sample, bugzilla, monkeypatch):
    checked_recently(session)
    row = add_tracker(session, "a-bugzilla", BugTrackerType.BUGZILLA, bugzilla.url,
                      "2000", "123543", "7", "42", "99")
    monkeypatch.setattr(externalbugtracker.Bugzilla, "batch_size", 2)
    for hours_later in (24, 48, 72):
        BugWatchUpdater(Transaction(session), now=lambda: NOW + datetime.timedelta(
            hours=hours_later)).updateBugTracker(row)
    asked = [request[2]["id"] for request in bugzilla.requests]
    # Never checked first (by id), then the one checked longest ago.
    assert asked == ["2000,123543", "7,42", "99,2000"]


def test_a_failed_batch_keeps_nothing_but_the_error_and_the_check_time(
        db, session, sample, silent):
    row = add_tracker(session, "a-roundup", BugTrackerType.ROUNDUP, silent.url, "1")
    watch = row.watches[0]
    watch.remotestatus = "chatting"
    session.commit()
    updater(session, timeout=0.3).updateBugTracker(row)
    assert committed_watches(db, "a-roundup") == [
        ("1", "chatting", BugWatchErrorType.TIMEOUT, NOW)]
    assert watch.last_error_type is BugWatchErrorType.TIMEOUT


def test_a_second_run_while_the_lock_is_held_refuses(farm_context, sample, cli):
    path = checkwatches.lock_path(farm_context.config)
    with LockFile(path):
        with pytest.raises(AlreadyRunning) as raised:
            checkwatches.check_watches(farm_context)
        assert str(raised.value) == f"checkwatches is already running: {path} is locked"
        result = cli("checkwatches")
        assert result.error_line() == (
            f"buildmaster: error: checkwatches is already running: {path} is locked")
    assert cli("checkwatches").status == 0


@pytest_twisted.inlineCallbacks
def test_the_sequencer_job_runs_checkwatches_in_a_thread(
        db, farm_context, session, sample, bugzilla, caplog):
    checked_recently(session)
    add_tracker(session, "a-bugzilla", BugTrackerType.BUGZILLA, bugzilla.url, "2000")
    caplog.set_level(logging.INFO)
    yield jobs.checkwatches(farm_context)
    assert committed_watches(db, "a-bugzilla")[0][1] == "RESOLVED FIXED"
    assert "Updating 1 watches on " + bugzilla.url in caplog.text
    assert "Time for this run: " in caplog.text


@pytest_twisted.inlineCallbacks
def test_the_job_does_nothing_while_an_operator_run_holds_the_lock(
        farm_context, sample, caplog):
    caplog.set_level(logging.INFO)
    with LockFile(checkwatches.lock_path(farm_context.config)):
        result = yield jobs.checkwatches(farm_context)
    assert result is None
    assert "is locked; not running again" in caplog.text
