"""``/metrics`` and ``/healthz``, and the reactor lag probe."""

import pytest_twisted
from twisted.internet import task

from buildmaster.runtime.activity import DISPATCH, SCAN
from buildmaster.config import JobConfig
from buildmaster.model import utcnow
from buildmaster.web.metrics import ReactorLag
from tests.webhelpers import web  # noqa: F401


def scanner_job(mindelay):
    return JobConfig(name="slave_scanner", command="", callable="buildmaster.jobs:scan",
                     mindelay=mindelay, alwayslog=False, timeout=60)


class FakeTime:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest_twisted.ensureDeferred
async def test_metrics_count_the_queue_builders_outcomes_and_timings(
        web, sample, session, farm_context):
    sample.frog.failBuilder("disk full")
    session.commit()
    farm_context.activity.record(SCAN, 10.0, 10.3)
    farm_context.activity.record(DISPATCH, 20.0, 27.0)
    response = await web.get("/metrics")
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type")[0].startswith("text/plain")
    text = response.body.decode()
    for line in ('buildmaster_queue_depth{processor="386"} 1.0',
                 'buildmaster_queue_depth{processor="amd64"} 0.0',
                 'buildmaster_builders{state="building"} 1.0',
                 'buildmaster_builders{state="disabled"} 1.0',
                 'buildmaster_builders{state="idle"} 0.0',
                 "buildmaster_scan_cycle_seconds_count 1.0",
                 'buildmaster_scan_cycle_seconds_bucket{le="0.5"} 1.0',
                 'buildmaster_dispatch_pass_seconds_bucket{le="5.0"} 0.0',
                 'buildmaster_dispatch_pass_seconds_bucket{le="10.0"} 1.0',
                 "buildmaster_mail_spool_depth 0.0",
                 "buildmaster_reactor_lag_seconds 0.0"):
        assert line in text.splitlines(), line


@pytest_twisted.ensureDeferred
async def test_finished_builds_are_counted_by_state(web, sample, session):
    from buildmaster.model import BuildOutcome
    for number, state in enumerate(("FULLYBUILT", "FULLYBUILT", "FAILEDTOBUILD")):
        session.add(BuildOutcome(
            build_id=3, buildqueue_id=100 + number, sourcepackagename_id=1,
            sourcepackagerelease_id=sample.foobar.id, archive_id=sample.primary.id,
            distroarchseries_id=sample.hoary["i386"].id, state=state, colour="green",
            finished_at=utcnow()))
    session.commit()
    text = (await web.get("/metrics")).body.decode().splitlines()
    assert 'buildmaster_builds_finished_total{state="FULLYBUILT"} 2.0' in text
    assert 'buildmaster_builds_finished_total{state="FAILEDTOBUILD"} 1.0' in text


@pytest_twisted.ensureDeferred
async def test_health_fails_when_no_scan_completes_for_three_intervals(
        web, sample, farm_context):
    farm_context.config.jobs = [scanner_job(5)]
    time = farm_context.activity.seconds = FakeTime(farm_context.activity.started_at)
    time.now += 14
    healthy = await web.json("/healthz")
    assert (healthy["status"], healthy["database"], healthy["problems"]) == ("ok", "ok", [])
    time.now += 2
    failing = await web.json("/healthz", code=503)
    assert failing["problems"] == [
        "no scan cycle has completed in 16 seconds since the start"]
    farm_context.activity.record(SCAN, time.now - 1, time.now)  # a 1-second cycle
    time.now += 18
    assert (await web.json("/healthz"))["seconds_since_scan"] == 18
    time.now += 1
    late = await web.json("/healthz", code=503)
    assert late["problems"] == ["the last scan cycle completed 19 seconds ago, more "
                                "than 3 intervals (18 seconds)"]


@pytest_twisted.ensureDeferred
async def test_health_fails_when_the_database_is_unreachable(web, farm_context, tmp_path):
    import sqlalchemy as sa
    from buildmaster.db.engine import make_session_factory
    farm_context.sessions = make_session_factory(sa.create_engine(
        f"sqlite:///{tmp_path}/missing/dir/none.db"))
    failing = await web.json("/healthz", code=503)
    assert failing["database"] == "unreachable"
    assert failing["problems"][0].startswith("database unreachable: ")


def test_reactor_lag_is_how_late_the_call_came():
    clock = task.Clock()

    class Gauge:
        value = None

        def set(self, value):
            self.value = value
    gauge = Gauge()
    probe = ReactorLag(gauge, clock, interval=1.0)
    probe.startService()
    clock.advance(1.0)
    assert gauge.value == 0.0
    clock.advance(3.5)  # the reactor was busy: the call came 2.5 s late
    assert gauge.value == 2.5
    probe.stopService()
    assert not clock.getDelayedCalls()
