"""scan(context): one cycle over every builder, with mock slaves.

Covers the batched loading and log tail UPDATE, bounded concurrency,
rescues, collection of finished builds, and the failure counting that
decides whether a builder or a job is to blame.
"""

import datetime
import gzip
import logging
import os

import pytest
import pytest_twisted
import sqlalchemy as sa
from sqlalchemy import event
from twisted.internet import defer

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.scan import scanpass
from buildmaster.slaves import registry
from buildmaster import health
from buildmaster.model import utcnow
from buildmaster.model import (
    BinaryPackageRelease, Build, Builder, BuildQueue, BuildStatus, Processor)
from buildmaster.testing.mockslaves import (
    BrokenSlave, BuildingSlave, OkSlave, WaitingSlave)
from buildmaster.testing.uploads import binary_upload
from buildmaster.uploads.processor import LOCK_NAME, _lock
from scannerhelpers import delivered, start_job


@pytest.fixture
def mailer(build_mailer):
    return build_mailer


@pytest.fixture
def context(mailing_context):
    return mailing_context


@pytest.fixture
def farm(context, session):
    """The sample builders: bob runs job 8-1, frog is idle."""
    bob = session.get(Builder, 1)
    frog = session.get(Builder, 2)
    bob.setSlaveForTesting(BuildingSlave("8-1"))
    frog.setSlaveForTesting(OkSlave())
    return bob, frog


SUBJECT_8 = "[Build #8] i386 build of mozilla-firefox 0.9 in ubuntu hoary RELEASE"


async def until(condition, polls=500):
    """Let the reactor run until ``condition()`` holds (the scan's first
    step reads the builders in a thread)."""
    from twisted.internet import reactor, task
    for _ in range(polls):
        if condition():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("the condition never held")


def run_scan(context):
    return scanpass.scan(context)


def claimed_now(session, entry_id=1):
    """Job ``entry_id`` (8-1 on bob) claimed by this master just now."""
    session.get(BuildQueue, entry_id).date_started = utcnow()
    session.commit()


@pytest.mark.parametrize("claimed", ["before-start", "past-dispatch-timeout"])
@pytest_twisted.ensureDeferred
async def test_an_idle_slave_whose_job_a_gone_master_claimed_gets_it_requeued_at_once(
        context, farm, session, caplog, claimed):
    """A master killed between committing a claim and the slave's build()
    leaves an idle slave and a BUILDING build; restarted (or long after),
    the first scan puts the job back in the queue: no streak, which lives
    in memory and dies with every restart, needs to prove it."""
    bob, _ = farm
    entry = session.get(BuildQueue, 1)
    entry.date_started = (context.started - datetime.timedelta(seconds=1)
                          if claimed == "before-start" else
                          utcnow() - datetime.timedelta(
                              seconds=context.config.builddmaster.download_timeout + 1))
    session.commit()
    bob.setSlaveForTesting(OkSlave())
    with caplog.at_level(logging.INFO, logger="buildmaster.scanner"):
        assert await run_scan(context) == 0
    entry = fresh(session, BuildQueue, 1)
    assert (entry.builder_id, entry.build.buildstate) == (None, BuildStatus.NEEDSBUILD)
    assert context.scan_failures.streak("bob") == 0
    assert ("build 8 (mozilla-firefox 0.9 i386) on bob: BUILDING -> NEEDSBUILD (its slave "
            "is idle: the master that claimed the job stopped before the slave took it)"
            in caplog.messages)


def fresh(session, model, ident):
    session.expire_all()
    return session.get(model, ident)


class QueryCounter:
    def __init__(self, engine):
        self.statements = []
        event.listen(engine, "before_cursor_execute", self._record)
        self.engine = engine

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._record)


@pytest_twisted.ensureDeferred
async def test_building_builders_get_their_log_tails(context, farm, session):
    await run_scan(context)
    assert fresh(session, BuildQueue, 1).logtail == "This is a build log"


def add_building_builders(session, count):
    """``count`` more builders, each building a fresh job of build 9's source."""
    i386 = session.scalars(sa.select(Processor).where(Processor.name == "386")).one()
    template = session.get(Build, 9)
    first = session.scalar(sa.select(sa.func.count()).select_from(Builder))
    for n in range(first, first + count):
        builder = Builder(name=f"extra{n}", title=f"Extra {n}", url=f"http://extra{n}/",
                          processor=i386)
        session.add(builder)
        build = template.sourcepackagerelease.createBuild(
            template.distroarchseries, template.archive, template.pocket)
        session.flush()
        entry = start_job(build, builder, None)
        builder.setSlaveForTesting(BuildingSlave(f"{build.id}-{entry.id}"))
    session.commit()


async def count_queries(context):
    counter = QueryCounter(context.engine)
    try:
        await run_scan(context)
    finally:
        counter.close()
    return counter.statements


@pytest_twisted.ensureDeferred
async def test_queries_per_cycle_do_not_grow_with_builders(context, farm, session):
    add_building_builders(session, 3)
    few = await count_queries(context)
    add_building_builders(session, 20)
    many = await count_queries(context)
    assert len(many) == len(few)
    updates = [s for s in many if s.lstrip().upper().startswith("UPDATE BUILDQUEUE")]
    assert len(updates) == 1
    logtails = session.scalars(sa.select(BuildQueue.logtail).where(
        BuildQueue.builder_id.is_not(None))).all()
    assert len(logtails) == 24 and set(logtails) == {"This is a build log"}


@pytest_twisted.ensureDeferred
async def test_a_broken_builder_does_not_stop_the_others(context, farm, session, caplog):
    bob, frog = farm
    frog.setSlaveForTesting(BrokenSlave())
    add_building_builders(session, 1)
    with caplog.at_level(logging.WARNING):
        assert await run_scan(context) == 1
    assert "Scan of frog failed (1 of 5 in a row): <Fault 8001: 'Broken slave'>" \
        in caplog.messages
    assert fresh(session, BuildQueue, 1).logtail == "This is a build log"


class HeldSlave(OkSlave):
    """Answers status() only when the test releases it."""

    in_flight = 0
    most_in_flight = 0

    def __init__(self, pending):
        super().__init__()
        self.pending = pending

    def status(self):
        cls = type(self)
        cls.in_flight += 1
        cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        d = defer.Deferred()
        self.pending.append(d)

        def answered(result):
            cls.in_flight -= 1
            return result
        return d.addCallback(answered)


@pytest_twisted.ensureDeferred
async def test_calls_in_flight_are_bounded(context, farm, session):
    context.config.builddmaster.max_concurrent_calls = 2
    HeldSlave.in_flight = HeldSlave.most_in_flight = 0
    add_building_builders(session, 4)
    for entry in session.scalars(sa.select(BuildQueue).where(BuildQueue.builder_id.is_not(None))):
        entry.date_started = utcnow()   # claimed by this master: idle answers are failures
    session.commit()
    pending = []
    for builder in session.scalars(sa.select(Builder)):
        builder.setSlaveForTesting(HeldSlave(pending))
    done = scanpass.scan(context)
    await until(lambda: pending)
    assert len(pending) == 2
    while pending:
        pending.pop(0).callback(("BuilderStatus.IDLE", ""))
        assert HeldSlave.in_flight <= 2
    # Every builder with a job (all but frog) answered IDLE: its job vanished.
    assert await done == 5
    assert HeldSlave.most_in_flight == 2


def failure_notices(messages):
    """[(recipients, build state header, subject)] of delivered messages."""
    return [(to, message["X-Launchpad-Build-State"], message["Subject"])
            for to, message in messages]


BUILD_8_NOTICES = [
    (["mark@example.com"], "FAILEDTOBUILD", SUBJECT_8),
    (["foo.bar@canonical.com"], "FAILEDTOBUILD", SUBJECT_8),
    (["celso.providelo@canonical.com"], "FAILEDTOBUILD", SUBJECT_8),
]


@pytest_twisted.ensureDeferred
async def test_waiting_builds_are_collected(context, farm, session, mailer, smtp_server):
    bob, _ = farm
    bob.setSlaveForTesting(WaitingSlave("BuildStatus.PACKAGEFAIL", build_id="8-1"))
    await run_scan(context)
    build = fresh(session, Build, 8)
    assert build.buildstate == BuildStatus.FAILEDTOBUILD
    assert build.buildlog is not None
    assert fresh(session, BuildQueue, 1) is None
    # The source's creator and the buildd admins are told.
    assert failure_notices(await delivered(mailer, smtp_server)) == BUILD_8_NOTICES


@pytest_twisted.ensureDeferred
async def test_a_down_smtp_server_does_not_stop_a_scan(
        context, farm, session, mailer, smtp_server, mail_clock, caplog):
    bob, _ = farm
    bob.setSlaveForTesting(WaitingSlave("BuildStatus.PACKAGEFAIL", build_id="8-1"))
    await smtp_server.stop()
    with caplog.at_level(logging.WARNING):
        assert await scanpass.scan(context) == 0
        assert await delivered(mailer, smtp_server) == []
    assert fresh(session, Build, 8).buildstate == BuildStatus.FAILEDTOBUILD
    assert len([m for m in caplog.messages if "FAILEDTOBUILD to" in m
                and "not sent (attempt 1 of 12)" in m]) == 3
    # The mail waits in the spool and goes out once the server is back.
    smtp_server.start()
    mail_clock.advance(context.config.mail.retry_delay)
    assert failure_notices(await delivered(mailer, smtp_server)) == BUILD_8_NOTICES


@pytest_twisted.ensureDeferred
async def test_a_slave_with_a_job_the_farm_does_not_know_is_rescued(context, farm, caplog):
    _, frog = farm
    slave = WaitingSlave("BuildStatus.OK", build_id="1000-10000")
    cleaned = []
    slave.clean = lambda: cleaned.append(True) or "BuilderStatus.IDLE"
    frog.setSlaveForTesting(slave)
    with caplog.at_level(logging.WARNING):
        await run_scan(context)
    assert cleaned == [True]
    assert "Builder 'frog' rescued from '1000-10000: 'Object not found''" in caplog.messages


@pytest_twisted.ensureDeferred
async def test_a_slave_building_another_builders_job_is_aborted(context, farm, session, caplog):
    _, frog = farm
    slave = BuildingSlave("8-1")
    aborted = []
    slave.abort = lambda: aborted.append(True) or "BuilderStatus.ABORTING"
    frog.setSlaveForTesting(slave)
    with caplog.at_level(logging.WARNING):
        await run_scan(context)
    assert aborted == [True]
    assert "Builder 'frog' rescued from '8-1: Job not assigned to this builder'" \
        in caplog.messages
    assert fresh(session, BuildQueue, 1).builder_id == 1


async def scan_times(context, times):
    for _ in range(times):
        await run_scan(context)


@pytest_twisted.ensureDeferred
async def test_failures_count_only_after_a_streak(context, farm, session):
    bob, _ = farm
    bob.setSlaveForTesting(BrokenSlave())
    await scan_times(context, 4)
    assert fresh(session, Builder, 1).failure_count == 0
    await run_scan(context)
    bob = fresh(session, Builder, 1)
    build = session.get(Build, 8)
    # Equal counts: nobody can be blamed yet, the job tries elsewhere.
    assert (bob.failure_count, build.failure_count) == (1, 1)
    assert bob.builderok
    assert build.buildstate == BuildStatus.NEEDSBUILD
    assert session.get(BuildQueue, 1).builder_id is None


@pytest_twisted.ensureDeferred
async def test_a_successful_scan_breaks_the_streak(context, farm, session):
    bob, _ = farm
    bob.setSlaveForTesting(BrokenSlave())
    await scan_times(context, 4)
    bob.setSlaveForTesting(BuildingSlave("8-1"))
    await run_scan(context)
    bob.setSlaveForTesting(BrokenSlave())
    await scan_times(context, 4)
    assert fresh(session, Builder, 1).failure_count == 0
    assert session.get(BuildQueue, 1).builder_id == 1


@pytest_twisted.ensureDeferred
async def test_the_builder_is_blamed_when_it_failed_more(context, farm, session):
    bob, _ = farm
    bob.failure_count = 4
    session.commit()
    bob.setSlaveForTesting(BrokenSlave())
    await scan_times(context, 5)
    bob = fresh(session, Builder, 1)
    assert not bob.builderok
    assert bob.failnotes == ("Failed 5 scans in a row 5 times; last error: "
                             "<Fault 8001: 'Broken slave'>")
    assert session.get(Build, 8).buildstate == BuildStatus.NEEDSBUILD
    assert session.get(BuildQueue, 1).builder_id is None


@pytest_twisted.ensureDeferred
async def test_the_job_is_failed_when_it_failed_on_too_many_builders(
        context, farm, session, mailer, smtp_server):
    bob, _ = farm
    session.get(Build, 8).failure_count = 2
    session.commit()
    bob.setSlaveForTesting(BrokenSlave())
    await scan_times(context, 5)
    build = fresh(session, Build, 8)
    assert build.buildstate == BuildStatus.FAILEDTOBUILD
    assert build.failure_count == 3
    assert session.get(BuildQueue, 1) is None
    assert fresh(session, Builder, 1).builderok
    with context.librarian.open(build.buildlog) as f:
        note = gzip.decompress(f.read()).decode()
    assert note.startswith("The build master failed this build: it failed on 3 builders")
    assert failure_notices(await delivered(mailer, smtp_server)) == BUILD_8_NOTICES


@pytest_twisted.ensureDeferred
async def test_an_idle_slave_with_a_job_is_a_scan_failure(context, farm, session, caplog):
    """A job this master claimed a moment ago may still be on its way to
    the slave: an idle answer only counts against the builder."""
    bob, _ = farm
    claimed_now(session)
    bob.setSlaveForTesting(OkSlave())
    with caplog.at_level(logging.WARNING):
        assert await run_scan(context) == 1
    assert any("should be running job 8-1" in m for m in caplog.messages)


@pytest_twisted.ensureDeferred
async def test_an_idle_slave_with_a_job_has_its_job_requeued_after_a_streak(
        context, farm, session):
    """A master killed between claiming a job and sending it leaves a slave
    that answers, idle, while the database says it builds: the job must
    come back to the queue once the streak is complete."""
    bob, _ = farm
    claimed_now(session)
    bob.setSlaveForTesting(OkSlave())
    await scan_times(context, 4)
    assert context.scan_failures.streak("bob") == 4
    assert session.get(BuildQueue, 1).builder_id == 1
    await run_scan(context)
    session.expire_all()
    assert session.get(BuildQueue, 1).builder_id is None
    assert session.get(Build, 8).buildstate == BuildStatus.NEEDSBUILD


@pytest.mark.parametrize("slave, scans, score", [
    (WaitingSlave("BuildStatus.ABORTED", build_id="8-1"), 1, 1234),
    (WaitingSlave("BuildStatus.BUILDERFAIL", build_id="8-1"), 1, 1234),
    (OkSlave(), 5, 1234),
    (WaitingSlave("BuildStatus.GIVENBACK", build_id="8-1"), 1, 0),
], ids=["aborted", "builder-failed", "failure-streak", "given-back"])
@pytest_twisted.ensureDeferred
async def test_a_requeued_job_keeps_its_score_unless_given_back(
        context, farm, session, slave, scans, score):
    bob, _ = farm
    session.get(BuildQueue, 1).lastscore = 1234
    claimed_now(session)
    bob.setSlaveForTesting(slave)
    await scan_times(context, scans)
    entry = fresh(session, BuildQueue, 1)
    assert (entry.builder_id, entry.build.buildstate) == (None, BuildStatus.NEEDSBUILD)
    assert entry.lastscore == score


@pytest_twisted.ensureDeferred
async def test_a_cancelled_running_build_is_aborted_then_its_job_dropped(
        context, farm, session, caplog):
    """'buildmaster cancel' ends a running build CANCELLED and leaves its job
    on the builder: the scanner aborts the slave, cleans it once aborted,
    and drops the job without queueing the build again."""
    bob, _ = farm
    session.get(Build, 8).buildstate = BuildStatus.CANCELLED
    session.commit()
    building = BuildingSlave("8-1")
    bob.setSlaveForTesting(building)
    with caplog.at_level(logging.INFO, logger="buildmaster.scanner"):
        assert await run_scan(context) == 0
    assert ("abort",) in building.calls
    assert fresh(session, BuildQueue, 1).builder_id == 1
    aborted = WaitingSlave("BuildStatus.ABORTED", build_id="8-1")
    bob.setSlaveForTesting(aborted)
    with caplog.at_level(logging.INFO, logger="buildmaster.scanner"):
        assert await run_scan(context) == 0
    assert ("clean",) in aborted.calls
    assert fresh(session, BuildQueue, 1) is None
    assert fresh(session, Build, 8).buildstate == BuildStatus.CANCELLED
    assert fresh(session, Builder, 1).currentjob is None
    assert "build 8 (mozilla-firefox 0.9 i386) on bob: CANCELLED, its job dropped " \
        "(aborted)" in caplog.messages


@pytest_twisted.ensureDeferred
async def test_a_failed_builder_is_left_alone(context, farm, session):
    _, frog = farm
    frog.builderok = False
    session.commit()
    asked = []
    slave = OkSlave()
    slave.status = lambda: asked.append(True) or ("BuilderStatus.IDLE", "")
    frog.setSlaveForTesting(slave)
    await run_scan(context)
    assert asked == []
    frog.manual = True
    session.commit()
    await run_scan(context)
    assert asked == [True]


@pytest_twisted.ensureDeferred
async def test_a_build_its_pocket_refuses_ends_failedtoupload_once(
        context, farm, session, caplog, mailer, smtp_server):
    """The seed's AssertionError is logged once, not at every scan: the
    build ends FAILEDTOUPLOAD, mailed, and the builder is cleaned and free."""
    bob, _ = farm
    build = session.get(Build, 2)
    session.delete(session.get(BuildQueue, 1))
    session.flush()
    entry = start_job(build, bob, WaitingSlave("BuildStatus.OK"))
    # Nothing else waits, so the builder stays free (the scan would
    # otherwise give it the next job at once).
    session.execute(sa.delete(BuildQueue).where(BuildQueue.builder_id.is_(None)))
    session.commit()
    slave = WaitingSlave("BuildStatus.OK", build_id=f"{build.id}-{entry.id}")
    bob.setSlaveForTesting(slave)
    with caplog.at_level(logging.WARNING):
        await scanpass.scan(context)
        bob.setSlaveForTesting(OkSlave())
        await scanpass.scan(context)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "illegal status" in errors[0]
    assert context.scan_failures.streak("bob") == 0
    build = fresh(session, Build, 2)
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    assert fresh(session, Builder, 1).currentjob is None
    assert ("clean",) in slave.calls
    with context.librarian.open(build.upload_log) as stored:
        assert b"can not be built for pocket RELEASE: illegal status" in \
            gzip.decompress(stored.read())
    mails = await delivered(mailer, smtp_server)
    assert {mail["X-Launchpad-Build-State"] for _, mail in mails} == {"FAILEDTOUPLOAD"}


@pytest_twisted.ensureDeferred
async def test_an_upload_finding_the_lock_held_is_retried_at_the_next_scan(
        context, farm, session, caplog):
    bob, _ = farm
    slave = WaitingSlave("BuildStatus.OK", build_id="8-1",
                         files=binary_upload("mozilla-firefox", "0.9", "i386"))
    bob.setSlaveForTesting(slave)
    lock_path = os.path.join(context.config.builddmaster.root, LOCK_NAME)
    with caplog.at_level(logging.INFO, logger="buildmaster.scanner"), _lock(lock_path):
        assert await run_scan(context) == 0
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "upload waits" in caplog.messages[0] and "retrying" in caplog.messages[0]
    assert fresh(session, Build, 8).buildstate == BuildStatus.BUILDING
    assert ("clean",) not in slave.calls
    assert context.scan_failures.streak("bob") == 0
    await run_scan(context)
    assert fresh(session, Build, 8).buildstate == BuildStatus.FULLYBUILT


@pytest_twisted.ensureDeferred
async def test_jobs_recorded_again_alone_have_their_uploads_processed_again(
        context, farm, session, monkeypatch):
    """Two good builds are recorded together; that transaction fails after
    their uploads were processed (the database went away, say), so each
    is recorded again alone: from its upload, not from what the failed
    attempt had decided, or it would end FULLYBUILT with no binaries."""
    bob, frog = farm
    bob.setSlaveForTesting(WaitingSlave(
        "BuildStatus.OK", build_id="8-1",
        files=binary_upload("mozilla-firefox", "0.9", "i386")))
    entry = start_job(session.get(Build, 9), frog, None)
    session.commit()
    frog.setSlaveForTesting(WaitingSlave(
        "BuildStatus.OK", build_id=f"9-{entry.id}", files=binary_upload("foobar", "1.0", "i386")))
    record = health.record
    calls = []

    def fails_first(session, config, attempts):
        calls.append(len(attempts))
        if len(calls) == 1:
            raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))
        return record(session, config, attempts)
    monkeypatch.setattr("buildmaster.scan.collection.health.record", fails_first)
    assert await run_scan(context) == 0
    assert calls == [2, 1, 1]
    for build_id in (8, 9):
        assert fresh(session, Build, build_id).buildstate == BuildStatus.FULLYBUILT
        assert session.scalars(sa.select(BinaryPackageRelease.id).where(
            BinaryPackageRelease.build_id == build_id)).all()


@pytest_twisted.ensureDeferred
async def test_a_collection_cut_off_fails_the_pass_as_an_outage(
        context, farm, session, monkeypatch, caplog):
    """No slave is blamed and nothing is logged as the master's fault: the
    outage is told once by the job's watch, and the next pass collects."""
    bob, _ = farm
    bob.setSlaveForTesting(WaitingSlave(
        "BuildStatus.OK", build_id="8-1",
        files=binary_upload("mozilla-firefox", "0.9", "i386")))

    def cut_off(*args):
        raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))
    monkeypatch.setattr("buildmaster.scan.collection.health.record", cut_off)
    with caplog.at_level(logging.WARNING), pytest.raises(sa.exc.OperationalError):
        await run_scan(context)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert context.scan_failures.streak("bob") == 0
    monkeypatch.undo()
    await run_scan(context)
    assert fresh(session, Build, 8).buildstate == BuildStatus.FULLYBUILT


@pytest_twisted.ensureDeferred
async def test_slave_timeouts_are_scan_failures(context, farm, session):
    context.config.builddmaster.socket_timeout = 0.1
    registry.configure(context.config)
    bob, _ = farm
    slave = OkSlave()
    slave.status = lambda: defer.Deferred()
    bob.setSlaveForTesting(slave)
    assert await scanpass.scan(context) == 1
    assert context.scan_failures.streak("bob") == 1

