"""A build's history, as its page and ``/api/1.0/builds/ID`` show it:
every attempt and every cancel stays, with its real times, through
cancels, requeues and retries (buildmaster.web.views.history), on the
sample world (build 8 runs on bob as job 1, build 9 is job 2)."""

import datetime
import logging

import pytest

from buildmaster import health
from buildmaster.db.engine import Transaction
from buildmaster.dispatch.dispatcher import claim
from buildmaster.model import Build, Builder, BuildQueue, BuildStatus, utcnow
from buildmaster.scan.collection import close_job
from buildmaster.scan.jobactions import JobActions
from buildmaster.web import actions, views
from tests.clihelpers import cli  # noqa: F401


@pytest.fixture
def shown(session, farm_config):
    """shown(build_id) -> [(state, at, builder)] of the build's history."""
    def shown(build_id):
        session.expire_all()
        viewer = views.Viewer(farm_config, utcnow(), see_private=True)
        return [(event["state"], event["at"], event["builder"])
                for event in views.build(session, viewer, build_id)["history"]]
    return shown


def at(when):
    return when.isoformat()


@pytest.fixture
def scanner(session, farm_config, librarian):
    return JobActions(logging.getLogger("test.history"), Transaction(session),
                      config=farm_config, librarian=librarian)


def dispatch(session, build_id, builder_name):
    """Build ``build_id``'s job claimed by ``builder_name``, as a dispatch
    does; its start."""
    entry = session.get(Build, build_id).buildqueue_record
    builder = session.query(Builder).filter_by(name=builder_name).one()
    assert claim(session, builder, entry)
    return entry.date_started


def test_a_cancelled_attempt_and_the_cancel_stay_through_a_retry(
        cli, session, shown, scanner, farm_config):
    """Issue 23: build 12 went BUILDING, was cancelled with the CLI,
    then retried and built; its page showed only the last attempt."""
    created = session.get(Build, 9).datecreated
    started = dispatch(session, 9, "frog")
    result = cli.process("cancel", "9", "--json").json()
    assert (result["was"], result["builder"]) == ("BUILDING", "frog")
    cancelled = session.get(Build, 9).datebuilt
    assert cancelled > started
    first = [("NEEDSBUILD", at(created), None), ("BUILDING", at(started), "frog"),
             ("CANCELLED", at(cancelled), "frog")]
    assert shown(9) == first
    # The scanner sees frog's slave aborted and drops the job.
    scanner.requeue(session.get(BuildQueue, 2), " (aborted)")
    assert session.get(Build, 9).buildqueue_record is None
    assert shown(9) == first
    # Retried, built again, finished.
    _, entry = actions.retry(session, 9, "test")
    queued = entry.created
    again = dispatch(session, 9, "frog")
    assert shown(9) == first + [("NEEDSBUILD", at(queued), None),
                                ("BUILDING", at(again), "frog")]
    done = again + datetime.timedelta(minutes=3)
    close_job(session, entry, None, BuildStatus.FULLYBUILT, now=done)
    health.record(session, farm_config, [health.Finished(entry, log_text="built")])
    session.commit()
    assert shown(9) == first + [("NEEDSBUILD", at(queued), None),
                                ("BUILDING", at(again), "frog"),
                                ("FULLYBUILT", at(done), "frog")]


def test_an_attempt_the_scanner_requeues_stays_with_its_builder(
        sample, session, shown, scanner):
    """Given back, aborted, its builder failed: the attempt went back to
    the queue, and the next one is told after it."""
    entry = session.get(BuildQueue, 1)  # build 8 on bob since the sample's date
    started, created = entry.date_started, entry.build.datecreated
    before = utcnow()
    scanner.requeueGivenBack(entry, "8-1")
    requeued = shown(8)
    assert requeued[:2] == [("NEEDSBUILD", at(created), None),
                            ("BUILDING", at(started), "bob")]
    (state, when, builder), = requeued[2:]
    assert (state, builder) == ("NEEDSBUILD", None)
    assert before <= datetime.datetime.fromisoformat(when) <= utcnow()
    again = dispatch(session, 8, "frog")
    assert shown(8) == requeued + [("BUILDING", at(again), "frog")]


def test_a_cancelled_dependency_wait_is_cancelled_when_it_was(sample, session, shown):
    """Not at the date its dependency wait began (the sample's 2005)."""
    build = session.get(Build, 4)
    waited = build.datebuilt
    now = utcnow()
    assert actions.cancel(session, 4, "test", now=now) == (BuildStatus.MANUALDEPWAIT, None)
    history = shown(4)
    assert history[-1] == ("CANCELLED", at(now), None)
    assert at(waited) not in [when for _, when, _ in history]
    assert session.get(Build, 4).datebuilt == now
