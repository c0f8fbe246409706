"""The operators' verbs: builder set and remove, cancel, rescore of one
build; each with --json and one-line errors, each noted in the journal
the daemon logs."""

import logging

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import reactor, task

from buildmaster.operators import journal
from buildmaster.context import FarmContext
from buildmaster.model import (
    Build, Builder, BuildQueue, BuildStatus, OperatorAction)
from tests.clihelpers import cli  # noqa: F401


def builder(session, name):
    return session.scalars(sa.select(Builder).filter_by(name=name)).one()


def journalled(session):
    return [row.what for row in session.scalars(
        sa.select(OperatorAction).order_by(OperatorAction.id))]


# -- builder add, set, remove ---------------------------------------------------

@pytest.mark.parametrize("url", ["http://alice:notaport/", "http://alice:99999/"])
def test_a_url_whose_port_is_no_number_is_refused(cli, url):
    assert cli("builder", "add", "alice", url, "--processor", "386").error_line() == (
        f"buildmaster: error: {url!r} has a port that is not a number from 0 to 65535")
    assert cli("builder", "set", "frog", "--url", url).status == 2


def test_set_changes_what_is_given_and_says_what(cli, session):
    result = cli("builder", "set", "frog", "--url", "http://frog2:9221/",
                 "--virtualized", "--manual")
    assert result.out == ("Builder frog changed: URL http://localhost:9221/ -> "
                          "http://frog2:9221/, virtualized, manual.\n")
    frog = builder(session, "frog")
    assert (frog.url, frog.virtualized, frog.manual) == ("http://frog2:9221/", True, True)
    shown = cli("builder", "set", "frog", "--not-manual", "--processor", "amd64",
                "--json").json()
    assert (shown["name"], shown["processor"], shown["manual"]) == ("frog", "amd64", False)
    assert journalled(session)[-1] == "Builder frog changed: processor 386 -> amd64, " \
        "not manual."


def test_set_refuses_nothing_to_change_and_a_busy_builders_url(cli):
    assert cli("builder", "set", "frog").error_line().startswith(
        "buildmaster: error: builder frog: nothing to change")
    assert cli("builder", "set", "bob", "--url", "http://b:1/").error_line() == (
        "buildmaster: error: builder bob is building build 8 (job 8-1): change its URL, "
        "processor or virtualization once it is done, or after 'buildmaster cancel 8'")
    assert cli("builder", "set", "bob", "--manual").status == 0
    assert cli("builder", "set", "nobody", "--manual").error_line() == (
        "buildmaster: error: no builder named 'nobody'")


def test_remove_refuses_a_builder_with_a_job(cli, session):
    assert cli("builder", "remove", "bob").error_line().startswith(
        "buildmaster: error: builder bob is building build 8 (job 8-1): remove it")
    assert builder(session, "bob").active


def test_a_removed_builder_leaves_the_lists_and_its_name_may_come_back(cli, session):
    assert cli("builder", "remove", "frog", "--json").json()["removed"] is True
    assert [b["name"] for b in cli("--json", "builder", "list").json()] == ["bob"]
    assert not builder(session, "frog").active
    assert cli("builder", "enable", "frog").error_line() == (
        "buildmaster: error: builder frog was removed")
    assert cli("builder", "add", "frog", "http://frog:1/", "--processor", "386").status == 0
    frog = builder(session, "frog")
    assert (frog.active, frog.url) == (True, "http://frog:1/")


def test_enable_and_disable_print_json_on_request(cli):
    shown = cli("builder", "disable", "frog", "--reason", "disk full", "--json").json()
    assert (shown["builderok"], shown["failnotes"]) == (False, "disk full")
    assert cli("builder", "enable", "frog", "--json").json()["builderok"] is True


# -- cancel -----------------------------------------------------------------------

def test_cancel_takes_a_pending_build_off_the_queue(cli, session):
    assert session.get(Build, 9).buildqueue_record.builder_id is None
    result = cli("cancel", "9")
    assert result.out == ("Build 9 (i386 build of foobar 1.0 in ubuntu hoary RELEASE) "
                          "was NEEDSBUILD; now CANCELLED.\n")
    build = session.get(Build, 9)
    assert (build.buildstate, build.buildqueue_record) == (BuildStatus.CANCELLED, None)
    assert journalled(session) == [result.out.strip()]


def test_cancel_of_a_running_build_ends_it_and_leaves_the_job_for_the_scanner(
        cli, session):
    """Bob's slave (sample data) is not there: the scanner will abort it.
    (A process of its own: the abort runs the reactor.)"""
    result = cli.process("cancel", "8", "--json").json()
    assert result == {"build": 8, "was": "BUILDING", "state": "CANCELLED",
                      "builder": "bob", "aborted": False}
    build = session.get(Build, 8)
    assert build.buildstate == BuildStatus.CANCELLED
    assert build.buildqueue_record.builder.name == "bob"


@pytest.mark.parametrize("build_id, message", [
    (7, "build 7 (i386 build of evolution 1.0 in ubuntu hoary RELEASE) is "
        "FULLYBUILT; only pending, waiting and running builds can be cancelled"),
    (404, "no build with id 404")])
def test_cancel_refuses_in_one_line(cli, session, build_id, message):
    assert cli("cancel", str(build_id)).error_line() == f"buildmaster: error: {message}"
    assert journalled(session) == []


# -- retry --------------------------------------------------------------------------

def test_retry_is_journalled_and_prints_json_on_request(cli, session):
    build = session.get(Build, 7)
    build.buildstate = BuildStatus.FAILEDTOBUILD
    session.commit()
    result = cli("retry", "7", "--json").json()
    assert (result["build"], result["was"], result["state"]) == (7, "FAILEDTOBUILD",
                                                                 "NEEDSBUILD")
    assert journalled(session) == [
        "Build 7 (i386 build of evolution 1.0 in ubuntu hoary RELEASE) was FAILEDTOBUILD; "
        "now NEEDSBUILD."]
    assert cli("retry", "7").error_line().startswith("buildmaster: error: build 7 ")
    assert len(journalled(session)) == 1


# -- rescore ------------------------------------------------------------------------

def test_rescore_one_build_keeps_its_score(cli, session):
    result = cli("rescore", "9", "--score", "4242", "--json").json()
    assert (result["build"], result["score"]) == (9, 4242)
    entry = session.get(Build, 9).buildqueue_record
    assert (entry.lastscore, entry.manual) == (4242, True)
    assert journalled(session) == [
        f"Build 9 (i386 build of foobar 1.0 in ubuntu hoary RELEASE): score "
        f"{result['was']} -> 4242."]


@pytest.mark.parametrize("argv, message", [
    (["rescore", "9"], "give both BUILD_ID and --score N"),
    (["rescore", "--score", "5"], "give both BUILD_ID and --score N"),
    (["rescore", "8", "--score", "5"], "build 8 (i386 build of mozilla-firefox 0.9 in "
                                       "ubuntu hoary RELEASE) is BUILDING, not waiting"),
    (["rescore", "9", "--score", "9999999"], "score 9999999 is beyond")])
def test_rescore_refuses_in_one_line(cli, argv, message):
    assert message in cli(*argv).error_line()


# -- the journal, as the daemon tells it ----------------------------------------------

@pytest_twisted.ensureDeferred
async def test_the_daemon_logs_what_operators_did_since_it_started(
        cli, session, farm_config, db, caplog):
    journal.record(session, "something done before the daemon started")
    session.commit()
    service = journal.JournalService(FarmContext(farm_config, engine=db.engine),
                                     interval=0.05)
    with caplog.at_level(logging.INFO, logger="buildmaster.operator"):
        service.startService()
        try:
            await task.deferLater(reactor, 0.3, lambda: None)
            assert cli("builder", "disable", "frog", "--reason", "disk full").status == 0
            for _ in range(100):
                if told(caplog):
                    break
                await task.deferLater(reactor, 0.05, lambda: None)
        finally:
            service.stopService()
    assert told(caplog) == [
        f"operator {journal.operator_name()}: Builder frog disabled: disk full"]


def told(caplog):
    """What the operators' log said (the CLI's own run, in this process,
    logs alembic's lines beside it)."""
    return [record.getMessage() for record in caplog.records
            if record.name == "buildmaster.operator"]
