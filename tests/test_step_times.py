"""Where a build's time goes (issue 25, part 3): the slave's step lines,
read by the master as the log streams in, stored with the build and
shown on its page and in the API's build object."""

import datetime
import io

import pytest
import pytest_twisted

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.model import Build, Builder, BuildStatus
from buildmaster.scan import scanpass
from buildmaster.slaves.buildlog import StepLines
from buildmaster.testing.mockslaves import WaitingSlave
from common import steptimes
from tests.webhelpers import web  # noqa: F401

LOG = (b"[slave] chroot 0123 is unpacked already\n"
       b"[slave] step chroot: 1.25 s\n"
       b"dpkg-source: info: extracting hello-bm in /build/hello-bm-1.0\n"
       b"[slave] step source: 0.08 s\n"
       b"Get:1 http://127.0.0.1/archive breezy Release [1045 B]\n"
       b"[slave] step apt-update: 2.41 s\n"
       b"[slave] step build-depends: 3.50 s\n"
       b"a package's own line that says [slave] step build: 99.00 s\n"
       b"[slave] step build: 12.00 s\n"
       b"[slave] step results: 0.02 s")
STEPS = {"chroot": 1.25, "source": 0.08, "apt-update": 2.41, "build-depends": 3.5,
         "build": 12.0, "results": 0.02}


def test_the_slave_writes_a_step_line_the_master_reads_back():
    assert steptimes.step_note("apt-update", 2.4149) == "step apt-update: 2.41 s"
    assert steptimes.parse(["[slave] " + steptimes.step_note("build", 61.5) + "\n"]) == {
        "build": 61.5}
    with pytest.raises(ValueError, match="not a build step: 'nap'"):
        steptimes.step_note("nap", 1)
    assert steptimes.parse(["[slave] step nap: 1.00 s", "[slave] step build: soon s",
                            "[slave] step queue: 1.00 s",
                            "  [slave] step build: 1.00 s"]) == {}


def test_step_lines_are_picked_out_of_the_log_however_it_is_cut():
    for size in (1, 7, 64, len(LOG)):
        target = io.BytesIO()
        steps = StepLines().passing_to(target)
        for start in range(0, len(LOG), size):
            steps.write(LOG[start:start + size])
        assert target.getvalue() == LOG
        assert steps.steps() == STEPS


def test_a_long_line_is_never_held_whole():
    steps = StepLines().passing_to(io.BytesIO())
    steps.write(b"[slave] step build: " + b"9" * 100_000)
    steps.write(b"9" * 100_000 + b".00 s\n[slave] step results: 0.50 s\n")
    assert len(steps._partial) == 0
    assert steps.steps() == {"results": 0.5}


def test_steps_are_shown_in_the_order_a_build_runs_them():
    assert list(steptimes.ordered({"build": 2.0, "chroot": 1.0, "apt-update": 3.0,
                                   "queue": 9.0})) == ["queue", "chroot", "apt-update", "build"]
    assert steptimes.ordered({}) is None and steptimes.ordered(None) is None


def queued_before_start(session, seconds):
    """bob's job 8-1 was queued ``seconds`` before it started."""
    entry = session.get(Builder, 1).currentjob
    entry.created = entry.date_started - datetime.timedelta(seconds=seconds)
    session.commit()


class TimedSlave(WaitingSlave):
    """Ended job 8-1 PACKAGEFAIL, its log saying where the time went."""

    def __init__(self, log=LOG):
        super().__init__("BuildStatus.PACKAGEFAIL", build_id="8-1")
        self.log = log

    def getFile(self, name):
        return io.BytesIO(self.log) if name == "buildlog" else super().getFile(name)


@pytest_twisted.ensureDeferred
async def test_the_scan_pass_stores_the_steps_of_the_log_it_collects(
        farm_context, sample, session, web):  # noqa: F811
    queued_before_start(session, 42.5)
    session.get(Builder, 1).setSlaveForTesting(TimedSlave())
    await scanpass.scan(farm_context)
    session.expire_all()
    build = session.get(Build, 8)
    assert build.buildstate == BuildStatus.FAILEDTOBUILD
    # The master's own step first: how long the job waited in the queue.
    expected = {"queue": 42.5, **STEPS}
    assert build.step_times == expected

    shown = await web.json("/api/1.0/builds/8")
    assert shown["step_times"] == expected
    page = (await web.get("/builds/8")).body.decode()
    assert "<h2>Where the time went</h2>" in page
    rows = [page.index(f"<tr><td>{step}</td><td>{seconds:.2f} s</td></tr>")
            for step, seconds in expected.items()]
    assert rows == sorted(rows)

    # A retry forgets the last attempt's steps.
    build.reset_for_retry()
    session.commit()
    assert (await web.json("/api/1.0/builds/8"))["step_times"] is None
    assert "Where the time went" not in (await web.get("/builds/8")).body.decode()


@pytest_twisted.ensureDeferred
async def test_a_log_without_step_lines_keeps_only_the_wait_in_the_queue(
        farm_context, sample, session):
    queued_before_start(session, 3)
    session.get(Builder, 1).setSlaveForTesting(TimedSlave(b"launchpad-buildd's log\n"))
    await scanpass.scan(farm_context)
    session.expire_all()
    assert session.get(Build, 8).step_times == {"queue": 3.0}
