"""A database outage told once: the first job that meets it fails on one
line, the rest end quietly, and its end is told with how long it lasted."""

import logging
import pytest
import sqlalchemy.exc
from twisted.internet import defer, task

from buildmaster.db import outage


def unreachable():
    return sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, Exception("server closed the connection unexpectedly\n"
                                  "\tThis probably means the server terminated"))


class Context:
    """What outage.watch reads of the farm's context: its clock."""

    def __init__(self):
        self.reactor = task.Clock()


@pytest.fixture
def context():
    return Context()


def test_an_outage_is_told_once_and_its_end_with_how_long(context, caplog):
    caplog.set_level(logging.DEBUG, logger="buildmaster.database")
    first = outage.watch(context, "slave_scanner", defer.fail(unreachable()))
    failures = []
    first.addErrback(failures.append)
    assert failures[0].check(outage.DatabaseOutage)
    assert "\n" not in failures[0].getErrorMessage()
    context.reactor.advance(12)
    results = []
    outage.watch(context, "dispatcher", defer.fail(unreachable())).addBoth(results.append)
    assert results == [None]
    outage.watch(context, "dispatcher", defer.succeed(3)).addBoth(results.append)
    assert results == [None, 3]
    told = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert told == [
        ("WARNING", "database unreachable (slave_scanner failed): server closed the "
                    "connection unexpectedly This probably means the server terminated; "
                    "the jobs go on and will get through once it is back"),
        ("INFO", "database reachable again (dispatcher got through) after 12 s")]
    assert not outage.in_outage(context)


def test_other_failures_pass_through(context):
    failures = []
    outage.watch(context, "dispatcher", defer.fail(ValueError("a bug"))).addErrback(
        failures.append)
    assert failures[0].check(ValueError)
    assert not outage.in_outage(context)


# -- The passes leave an outage to the jobs' watch --------------------------------------

from test_wakeups import farm, farm_clock, jobs_config, publish  # noqa: E402,F401


def test_a_dispatch_pass_cut_off_fails_as_an_outage_not_a_dispatch_error(
        farm, monkeypatch, caplog):
    from buildmaster.dispatch import dispatchpass

    def cut_off(config, entry):
        raise unreachable()
    publish(farm, "cut")
    monkeypatch.setattr(dispatchpass, "build_request", cut_off)
    failures = []
    with caplog.at_level(logging.INFO):
        dispatchpass.dispatch_idle_builders(farm.context).addErrback(failures.append)
    assert failures[0].check(sqlalchemy.exc.OperationalError)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
