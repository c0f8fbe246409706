"""Events wake jobs through the sequencer; polls of a just-started build
come quickly, then less often; the timers still catch what no event told.

Time is a twisted Clock wherever timing is the point.
"""

import hashlib
import io
import os
import subprocess
import sys
import textwrap

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer, task

import sequencer
import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster import config as configmodule
from buildmaster.model import rows
from buildmaster.runtime import wakeups
from buildmaster.context import FarmContext
from buildmaster.db.engine import make_session_factory
from buildmaster.db.threads import InlineDatabase
from buildmaster.model import (
    Build, Builder, BuildQueue, BuildStatus, PackagePublishingStatus, SourcePackageName,
    SourcePackageRelease)
from buildmaster.slaves.polling import PollSchedule
from buildmaster.testing.mockslaves import OkSlave
from buildmaster.testing.uploads import binary_upload
from test_sequencer import Farm


def job_dispatch(context):
    return context.run("dispatch")


def job_scan(context):
    return context.run("scan")


class QuietLog:
    def msg(self, text):
        pass

    def err(self, what):
        raise AssertionError(f"unexpected sequencer error: {what}")


@pytest.fixture
def clock():
    return task.Clock()


@pytest.fixture
def seq(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(sequencer, "log", QuietLog())
    path = tmp_path / "sequencer.conf"
    path.write_text(textwrap.dedent("""\
        [sequencer.job.dispatcher]
        callable = test_wakeups:job_dispatch
        mindelay = 5
        [sequencer.job.slave_scanner]
        callable = test_wakeups:job_scan
        mindelay = 5
        """))
    config = configmodule.load(str(path), check_dirs=False)
    service = sequencer.BuildSequencer(config, reactor=clock, context=Farm(clock))
    yield service
    if service.running:
        service.stopService()


def test_a_wake_up_runs_the_job_now_not_at_its_timer(seq, clock):
    seq.startService()
    clock.advance(1)
    seq.wake("test_wakeups:job_dispatch")
    clock.advance(0)
    assert seq.context.calls == [("dispatch", 1)]


def test_jobs_are_woken_by_section_name_too(seq, clock):
    seq.startService()
    clock.advance(2)
    seq.wake("slave_scanner", after=0.5)
    clock.advance(0.5)
    assert seq.context.calls == [("scan", 2.5)]


def test_a_job_woken_while_another_runs_waits_for_it(seq, clock):
    slow = defer.Deferred()
    seq.context.answers["scan"] = slow
    seq.startService()
    clock.advance(1)
    seq.wake("slave_scanner")
    clock.advance(0)
    seq.wake("dispatcher")
    clock.advance(3)
    assert seq.context.calls == [("scan", 1)]
    slow.callback(None)
    clock.advance(0)
    assert seq.context.calls == [("scan", 1), ("dispatch", 4)]


def test_a_job_woken_while_it_runs_runs_again_when_it_ends(seq, clock):
    slow = defer.Deferred()
    seq.context.answers["dispatch"] = slow
    seq.startService()
    seq.wake("dispatcher")
    clock.advance(0)
    seq.wake("dispatcher")
    clock.advance(2)
    slow.callback(None)
    seq.context.answers["dispatch"] = None
    clock.advance(0)
    assert seq.context.calls == [("dispatch", 0), ("dispatch", 2)]


def test_without_events_the_timers_still_run_every_job(seq, clock):
    seq.startService()
    for _ in range(10):
        clock.advance(1)
    assert seq.context.calls == [("dispatch", 5), ("scan", 5), ("dispatch", 10),
                                 ("scan", 10)]


def test_a_wake_up_never_delays_a_job_due_sooner(seq, clock):
    seq.startService()
    seq.wake("dispatcher", after=60)
    clock.advance(5)
    assert ("dispatch", 5) in seq.context.calls


def test_a_stopped_sequencer_ignores_wake_ups(seq, clock):
    seq.startService()
    seq.stopService()
    seq.wake("dispatcher")
    clock.advance(10)
    assert seq.context.calls == []


# -- Polls ------------------------------------------------------------------------

def test_a_just_started_build_is_polled_after_0_2_s_then_less_often(clock):
    polls = PollSchedule(clock, ceiling=5)
    assert polls.plan() == (True, None)
    polls.dispatched(7)
    assert polls.next_in() == pytest.approx(0.2)
    clock.advance(0.2)
    assert polls.plan() == (False, {7})
    polls.still_building(7)
    assert polls.next_in() == pytest.approx(0.4)
    intervals = [0.4]
    while polls.pending():
        clock.advance(polls.next_in())
        full, due = polls.plan()
        assert full or due == {7}
        polls.still_building(7)
        if polls.pending():
            intervals.append(polls.pending()[7])
    assert intervals == pytest.approx([0.4, 0.8, 1.6, 3.2])


def test_the_full_scan_comes_round_whatever_the_polls_do(clock):
    polls = PollSchedule(clock, ceiling=5)
    polls.plan()
    polls.dispatched(1)
    clock.advance(4.9)
    assert polls.plan() == (False, {1})
    polls.forget(1)
    assert polls.next_in() == pytest.approx(0.1)
    clock.advance(0.1)
    assert polls.plan() == (True, None)


def test_a_slave_calling_back_is_due_at_once(clock):
    polls = PollSchedule(clock, ceiling=5)
    polls.plan()
    clock.advance(1)
    polls.called_back(3)
    assert polls.next_in() == 0
    assert polls.plan() == (False, {3})


# -- The farm's jobs on a fake clock -------------------------------------------------
#
# The sequencer, the polls and the wake-ups run on a Clock; the database
# work runs inline (no thread, so nothing happens behind the clock's back)
# and the slaves are mocks answering at once.  Time moves only when the
# test says so.



class FarmClock(task.Clock):
    """A Clock the database threads' results could come back through."""

    def callFromThread(self, function, *args, **kwargs):
        function(*args, **kwargs)


class QuickSlave(OkSlave):
    """A slave whose builds are done the moment they start: WAITING with
    a real upload, ``upload_of(build id)`` ({file name: bytes})."""

    def __init__(self, upload_of):
        super().__init__()
        self.upload_of = upload_of
        self.job = None
        self.filemap = {}
        self.files = {}
        self.build_args = None

    def status(self):
        if self.job is None:
            return ("BuilderStatus.IDLE", "")
        return ("BuilderStatus.WAITING", "BuildStatus.OK", self.job, self.filemap, None)

    def ensurepresent(self, sha1, url, user=None, password=None):
        return [True, "Cached"]

    def build(self, build_id, manager, chroot_sha1, filemap, args):
        self.calls.append(("build", build_id))
        self.job = build_id
        self.build_args = args
        upload = self.upload_of(int(build_id.split("-")[0]))
        self.filemap = {name: hashlib.sha1(data).hexdigest()
                        for name, data in upload.items()}
        self.files = {hashlib.sha1(data).hexdigest(): data for data in upload.values()}
        return ["BuilderStatus.BUILDING", build_id]

    def clean(self):
        self.calls.append(("clean",))
        self.job = None
        return "BuilderStatus.IDLE"

    def getFile(self, name):
        if name in self.files:
            return io.BytesIO(self.files[name])
        return super().getFile(name)


JOBS_INI = """\
[sequencer.job.slave_scanner]
callable = buildmaster.jobs:scan
mindelay = 5
[sequencer.job.queue_builder]
callable = buildmaster.jobs:build_queue
mindelay = 60
[sequencer.job.dispatcher]
callable = buildmaster.jobs:dispatch
mindelay = 5
"""


@pytest.fixture
def farm_clock():
    return FarmClock()


@pytest.fixture
def jobs_config(farm_config):
    """The test farm's configuration with the scanner, queue builder and
    dispatcher jobs only."""
    with open(farm_config.path, "a") as handle:
        handle.write("[sequencer]\nmailer_targets = -\n" + JOBS_INI)
    return configmodule.load(farm_config.path)


@pytest.fixture
def farm(sample, session, db, jobs_config, farm_clock, build_mailer, monkeypatch):
    """A master on the fake clock: its context, its sequencer (started,
    subscribed to the wake-ups as the daemon's is), and bob, idle, on a
    QuickSlave; frog is out of use and the sample's pending job gone, so
    every job is the test's."""
    monkeypatch.setattr(sequencer, "log", QuietLog())
    context = FarmContext(jobs_config, engine=db.engine, reactor=farm_clock,
                          db=InlineDatabase(make_session_factory(db.engine)))
    context.mailer = build_mailer
    bob, frog = session.get(Builder, 1), session.get(Builder, 2)
    frog.active = False
    session.execute(sa.delete(BuildQueue))
    session.get(Build, 8).buildstate = BuildStatus.FULLYBUILT
    session.commit()

    def upload_of(build_id):
        with make_session_factory(db.engine)() as reading:
            release = reading.get(Build, build_id).sourcepackagerelease
            return binary_upload(release.name, release.version, "i386")
    bob.setSlaveForTesting(QuickSlave(upload_of))
    seq = sequencer.BuildSequencer(jobs_config, reactor=farm_clock, context=context)
    context.wakeups.subscribe(seq.wake)
    seq.startService()
    farm = type("Farm", (), {})()
    farm.context, farm.sequencer, farm.bob = context, seq, bob
    farm.sample, farm.session = sample, session
    yield farm
    seq.stopService()


def publish(farm, name, with_build=True):
    """A published source in hoary; with its build and job when
    ``with_build`` (else the queue builder is to make them)."""
    session, sample = farm.session, farm.sample
    release = rows.source_release(session, name, "1.0", sample.person["mark"])
    rows.publish_source(session, release, sample.primary, sample.hoary,
                        status=PackagePublishingStatus.PUBLISHED)
    build = None
    if with_build:
        build = rows.build_for(release, sample.hoary["i386"], sample.primary)
        build.createBuildQueueEntry(lastscore=10)
    session.commit()
    return build


def state_of(session, build_id):
    session.expire_all()
    return session.get(Build, build_id).buildstate


def builds_named(session, name):
    session.expire_all()
    return session.scalars(
        sa.select(Build).join(SourcePackageRelease).join(SourcePackageName)
        .where(SourcePackageName.name == name)).all()


def test_a_queued_job_starts_when_the_dispatcher_is_woken_not_at_its_timer(
        farm, farm_clock):
    build = publish(farm, "woken")
    farm_clock.advance(1)
    farm.context.wakeups.wake(wakeups.DISPATCH)
    farm_clock.advance(0)
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING
    assert farm_clock.seconds() == 1


def test_a_short_build_is_heard_0_2_s_after_it_started(farm, farm_clock):
    build = publish(farm, "short")
    farm.context.wakeups.wake(wakeups.DISPATCH)
    farm_clock.advance(0)
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING
    farm_clock.advance(0.1)
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING
    farm_clock.advance(0.1)
    assert state_of(farm.session, build.id) == BuildStatus.FULLYBUILT


def test_a_finished_builds_builder_is_refilled_in_the_pass_that_collected_it(
        farm, farm_clock):
    first = publish(farm, "first")
    second = publish(farm, "second")
    farm.context.wakeups.wake(wakeups.DISPATCH)
    farm_clock.advance(0)
    slave = farm.bob.slave.proxy
    assert [call[1] for call in slave.calls if call[0] == "build"] == [
        f"{first.id}-{first.buildqueue_record.id}"]
    farm_clock.advance(0.2)
    # One scan pass, at 0.2 s: the first collected, bob cleaned and given
    # the second, with no dispatcher run in between.
    assert state_of(farm.session, first.id) == BuildStatus.FULLYBUILT
    assert state_of(farm.session, second.id) == BuildStatus.BUILDING
    assert [call[0] for call in slave.calls] == ["build", "clean", "build"]
    assert farm_clock.seconds() == pytest.approx(0.2)


def test_builds_the_queue_builder_makes_wake_the_dispatcher(farm, farm_clock):
    publish(farm, "queued-later", with_build=False)
    farm_clock.advance(59)
    assert builds_named(farm.session, "queued-later") == []
    farm_clock.advance(1)  # the queue builder's run, at 60 s
    (build,) = builds_named(farm.session, "queued-later")
    assert build.buildstate == BuildStatus.BUILDING


def test_without_any_event_the_timers_still_catch_the_work(farm, farm_clock):
    build = publish(farm, "quiet")
    farm_clock.advance(4.9)
    assert state_of(farm.session, build.id) == BuildStatus.NEEDSBUILD
    farm_clock.advance(0.1)  # the dispatcher's own 5 s
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING
    farm_clock.advance(0.2)
    assert state_of(farm.session, build.id) == BuildStatus.FULLYBUILT


# -- Between processes, on PostgreSQL --------------------------------------------------

def needs_postgresql(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: NOTIFY between processes")


async def until(condition, polls=1000):
    from twisted.internet import reactor
    for _ in range(polls):
        if condition():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("the condition never held")


@pytest.fixture
def listener(db, farm):
    needs_postgresql(db)
    heard = wakeups.NotificationListener(db.engine, farm.context.wakeups)
    heard.startService()
    yield heard
    heard.stopService()


@pytest_twisted.ensureDeferred
async def test_a_notify_from_another_process_wakes_this_master(
        farm, farm_clock, listener, db):
    await until(lambda: listener._socket is not None)
    farm_clock.advance(0)  # the catch-up wake-ups of a new connection
    build = publish(farm, "other")
    notify = ("from buildmaster.runtime import wakeups; from buildmaster.db.engine import "
              "make_engine, make_session_factory; import sys\n"
              "with make_session_factory(make_engine(sys.argv[1]))() as session:\n"
              "    wakeups.notify(session, wakeups.DISPATCH); session.commit()\n")
    subprocess.run([sys.executable, "-c", notify, db.url], check=True)
    await until(lambda: listener.heard)
    assert farm_clock.seconds() == 0
    farm_clock.advance(0)
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING


@pytest_twisted.ensureDeferred
async def test_an_upload_by_the_cli_wakes_the_dispatcher_without_a_timer(
        farm, farm_clock, listener, jobs_config, tmp_path):
    from buildmaster.testing.debpackages import make_source_package
    await until(lambda: listener._socket is not None)
    farm_clock.advance(0)
    dsc = make_source_package(str(tmp_path), "cli-upload", "1.0")
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "buildmaster"), "--config",
         jobs_config.path, "upload", dsc, "--distribution", "ubuntu", "--series", "hoary"],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (build,) = builds_named(farm.session, "cli-upload")
    await until(lambda: listener.heard)
    farm_clock.advance(0)
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING
    assert farm_clock.seconds() == 0


@pytest_twisted.ensureDeferred
async def test_a_publisher_run_that_retried_dependency_waits_wakes_the_dispatcher(
        farm, farm_clock, monkeypatch):
    from buildmaster import jobs
    from buildmaster.publisher import run
    build = publish(farm, "waited")
    monkeypatch.setattr(run, "publish", lambda context: run.PublishReport(retried=[build.id]))
    farm_clock.advance(1)
    await jobs.publish(farm.context)
    farm_clock.advance(0)
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING
    assert farm_clock.seconds() == 1
