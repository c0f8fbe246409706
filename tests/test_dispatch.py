"""The dispatcher: candidates, claims, slave refusals and whole passes."""

import base64
import gzip
import json
import logging
import multiprocessing
import subprocess
import sys

import pytest
import pytest_twisted
import sqlalchemy as sa
from sqlalchemy import event
from twisted.internet import defer, task

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.dispatch.dispatchpass import dispatch_idle_builders
from buildmaster.slaves import registry
from buildmaster.queue import candidates
from buildmaster.dispatch import dispatcher
from buildmaster.model import rows
from buildmaster.context import FarmContext
from buildmaster.db.engine import make_engine, make_session_factory
from buildmaster.db.threads import InlineDatabase
from buildmaster.publisher.signing import public_key
from buildmaster.model import (
    Build, Builder, BuildQueue, BuildStatus, PackagePublishingStatus)
from buildmaster.testing.deferreds import wait
from buildmaster.slaves.client import SlaveClient
from buildmaster.slaves.errors import SlaveConnectionError
from buildmaster.testing.mockslaves import BrokenSlave, OkSlave
from scannerhelpers import delivered


class QuietSlave(OkSlave):
    """An OkSlave that records the jobs it starts instead of printing."""

    def ensurepresent(self, sha1, url, user=None, password=None):
        self.calls.append(("ensurepresent", url, user, password))
        return [True, "Download"]

    def build(self, build_id, manager, chroot_sha1, filemap, args):
        self.calls.append(("build", build_id, manager, chroot_sha1, filemap, args))
        return ["BuilderStatus.BUILDING", build_id]


class RefusingSlave(QuietSlave):
    def ensurepresent(self, sha1, url, user=None, password=None):
        return [False, "No space left on device"]


class BusySlave(QuietSlave):
    def build(self, build_id, manager, chroot_sha1, filemap, args):
        return ["BuilderStatus.BUSY", "already building"]


@pytest.fixture
def bob(sample, session):
    """bob, idle (the sample's job 8-1 back in the queue), with a quiet slave."""
    builder = session.get(Builder, 1)
    running = builder.currentjob
    running.builder, running.date_started = None, None
    running.build.buildstate = BuildStatus.NEEDSBUILD
    builder.setSlaveForTesting(QuietSlave())
    session.commit()
    return builder


@pytest.fixture
def frog(sample, session):
    builder = session.get(Builder, 2)
    builder.setSlaveForTesting(QuietSlave())
    return builder


def queue_build(session, sample, name, archive=None, score=0, das=None,
                status=PackagePublishingStatus.PUBLISHED):
    """A published source with a queued build in hoary i386."""
    release = rows.source_release(session, name, "1.0", sample.person["mark"])
    archive = archive or sample.primary
    rows.publish_source(session, release, archive, sample.hoary, status=status)
    build = rows.build_for(release, das or sample.hoary["i386"], archive)
    return build.createBuildQueueEntry(lastscore=score)


# -- Finding candidates ---------------------------------------------------------

def test_best_score_first_then_oldest(session, sample, bob):
    first = queue_build(session, sample, "alpha", score=50)
    queue_build(session, sample, "beta", score=50)
    assert bob.findBuildCandidate().id == first.id


def test_virtualized_builders_take_only_virtualized_jobs(session, sample, bob):
    ppa_job = queue_build(session, sample, "inppa", archive=sample.cprov_ppa, score=9000)
    assert bob.findBuildCandidate().id == 2  # the sample's foobar build
    bob.virtualized = True
    assert bob.findBuildCandidate().id == ppa_job.id


def test_other_processors_find_nothing(session, sample, bob):
    bob.processor = sample.amd64
    assert bob.findBuildCandidate() is None


def test_skipped_candidates_do_not_hide_the_rest(session, sample, bob, monkeypatch):
    """Private builds waiting for their sources fill the first batches."""
    monkeypatch.setattr(candidates, "CANDIDATE_BATCH", 2)
    sample.cprov_ppa.private, sample.cprov_ppa.buildd_secret = True, "s"
    sample.cprov_ppa.require_virtualized = False
    for index in range(5):
        queue_build(session, sample, f"private{index}", archive=sample.cprov_ppa,
                    score=1000, status=PackagePublishingStatus.PENDING)
    candidate = bob.findBuildCandidate()
    assert candidate.id == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(BuildQueue)) == 7


def test_finding_reads_a_batch_not_the_queue(session, sample, bob, db):
    for index in range(30):
        queue_build(session, sample, f"many{index}", score=index)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert bob.findBuildCandidate().lastscore == 29
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert any("LIMIT" in statement for statement in statements)
    assert len(statements) <= 3, "fair share's usage, the vetted batch, the chosen entry"


# -- Dispatching one candidate ---------------------------------------------------

def test_dispatch_sends_files_and_arguments(session, sample, bob, farm_config):
    candidate = bob.findBuildCandidate()
    wait(bob.dispatchBuildCandidate(candidate, farm_config))
    calls = bob.slave.proxy.calls
    assert [call[0] for call in calls] == ["ensurepresent"] * 3 + ["build"]
    _, job, manager, chroot_sha1, filemap, args = calls[-1]
    build = candidate.build
    assert job == f"{build.id}-{candidate.id}" == "9-2"
    assert manager == "binarypackage"
    assert chroot_sha1 == build.distroarchseries.chroot.content.sha1
    assert filemap == {"foobar_1.0.dsc": sample.foobar_dsc.content.sha1,
                       "foobar_1.0.tar.xz": sample.foobar_tarball.content.sha1}
    assert args == {
        "archives": ["deb http://ftpmaster.internal/ubuntu hoary main"],
        "suite": "hoary", "ogrecomponent": "main", "archive_purpose": "PRIMARY",
        "archive_private": False, "arch_tag": "i386", "arch_indep": True,
        "distribution": "ubuntu", "series": "hoary",
        "trusted_keys": [base64.b64encode(public_key(farm_config.archives.signing_key))
                         .decode("ascii")]}
    session.expire_all()
    assert (candidate.builder_id, build.buildstate, build.builder_id) == \
        (bob.id, BuildStatus.BUILDING, bob.id)
    assert candidate.date_started is not None


def test_only_the_nominated_architecture_builds_arch_indep_packages(
        session, sample, bob, farm_config, hoary_amd64):
    bob.processor = sample.amd64
    queue_build(session, sample, "mixed", das=hoary_amd64, score=9000)
    session.commit()
    wait(bob.dispatchBuildCandidate(bob.findBuildCandidate(), farm_config))
    args = bob.slave.proxy.calls[-1][-1]
    assert (args["arch_tag"], args["arch_indep"]) == ("amd64", False)
    i386_entry = queue_build(session, sample, "mixed2")
    assert dispatcher.build_request(farm_config, i386_entry)[1][3]["arch_indep"] is True


def test_a_series_nominating_another_architecture_moves_arch_indep_builds(
        session, sample, farm_config, hoary_amd64):
    sample.hoary.nominatedarchindep = hoary_amd64
    entries = {das.architecturetag: queue_build(session, sample, f"on{das.id}", das=das)
               for das in (sample.hoary["i386"], hoary_amd64)}
    assert {tag: dispatcher.build_request(farm_config, entry)[1][3]["arch_indep"]
            for tag, entry in entries.items()} == {"i386": False, "amd64": True}
    sample.hoary.nominatedarchindep = None
    assert not any(dispatcher.build_request(farm_config, entry)[1][3]["arch_indep"]
                   for entry in entries.values())


def test_an_unsigned_farm_sends_no_keys_and_trusts_its_own_lines(
        session, sample, bob, farm_config):
    farm_config.archives.signing_key = ""
    entry = bob.findBuildCandidate()
    args = dispatcher.build_request(farm_config, entry)[1][3]
    assert "trusted_keys" not in args
    assert args["archives"] == ["deb [trusted=yes] http://ftpmaster.internal/ubuntu hoary main"]


def test_external_dependency_lines_follow_the_farms_own(session, sample, bob, farm_config):
    farm_config.external_dependencies = {
        "series": {"ubuntu/hoary": ["deb http://mirror.example/debian bookworm main"]},
        "archive": {"ubuntu/primary": ["deb http://extra.example/%(series)s ./"]}}
    entry = bob.findBuildCandidate()
    assert dispatcher.build_request(farm_config, entry)[1][3]["archives"] == [
        "deb http://ftpmaster.internal/ubuntu hoary main",
        "deb http://mirror.example/debian bookworm main",
        "deb http://extra.example/hoary ./"]


def test_dispatch_logs_the_state_change(session, sample, bob, farm_config, caplog):
    caplog.set_level("INFO", logger="buildmaster.dispatch")
    wait(bob.dispatchBuildCandidate(bob.findBuildCandidate(), farm_config))
    assert caplog.messages == [
        "build 9 (foobar 1.0 i386): NEEDSBUILD -> BUILDING on bob (job 9-2)"]


@pytest.mark.parametrize("slave, why", [
    (RefusingSlave(), "refused: No space left on device"),
    (BusySlave(), "answered BuilderStatus.BUSY"),
    (BrokenSlave(), "Broken slave"),
])
def test_refusal_undoes_the_claim_and_counts_a_failure(
        session, sample, bob, farm_config, slave, why, caplog):
    bob.setSlaveForTesting(slave)
    candidate = bob.findBuildCandidate()
    with pytest.raises(dispatcher.DispatchFailed, match=why):
        wait(bob.dispatchBuildCandidate(candidate, farm_config))
    session.expire_all()
    assert candidate.builder_id is None and candidate.date_started is None
    assert candidate.build.buildstate == BuildStatus.NEEDSBUILD
    assert (bob.builderok, bob.failure_count, candidate.build.failure_count) == (True, 1, 1)
    assert why in bob.failnotes
    assert bob.findBuildCandidate().id == candidate.id
    assert any("Dispatch of build 9 (foobar 1.0 i386) failed" in message
               for message in caplog.messages)


def test_builder_failing_dispatches_is_failed_at_the_threshold(
        session, sample, bob, farm_config):
    bob.setSlaveForTesting(RefusingSlave())
    for attempt in range(farm_config.builddmaster.builder_failure_threshold):
        candidate = queue_build(session, sample, f"job{attempt}", score=10 ** 6)
        session.commit()
        with pytest.raises(dispatcher.DispatchFailed):
            wait(bob.dispatchBuildCandidate(candidate, farm_config))
    assert bob.builderok is False
    assert "No space left on device" in bob.failnotes


@pytest_twisted.ensureDeferred
async def test_job_failing_on_many_builders_is_failed(
        session, sample, bob, farm_config, librarian, build_mailer, smtp_server):
    """Like any FAILEDTOBUILD build: date built, a build log saying why,
    failure mail."""
    candidate = bob.findBuildCandidate()
    build = candidate.build
    build.failure_count = farm_config.builddmaster.job_failure_threshold - 1
    bob.setSlaveForTesting(RefusingSlave())
    session.commit()
    with pytest.raises(dispatcher.DispatchFailed):
        wait(dispatcher.dispatch_candidate(bob, candidate, farm_config,
                                         librarian=librarian, mailer=build_mailer))
    session.expire_all()
    assert build.buildstate == BuildStatus.FAILEDTOBUILD
    assert session.get(BuildQueue, candidate.id) is None
    assert build.datebuilt is not None and build.builder.name == "bob"
    assert build.buildlog.filename == (
        "buildlog_ubuntu-hoary-i386.foobar_1.0_FAILEDTOBUILD.txt.gz")
    with librarian.open(build.buildlog) as stored:
        log = gzip.decompress(stored.read()).decode()
    assert log.startswith(f"The build master failed this build: dispatching it failed "
                          f"{build.failure_count} times, last on bob.\n")
    assert "No space left on device" in log
    mail = await delivered(build_mailer, smtp_server)
    creator = build.sourcepackagerelease.creator.preferred_email
    assert sorted(address for to, _ in mail for address in to) == sorted(
        {creator, *farm_config.mail.buildd_admins})
    subjects = {message["Subject"] for _, message in mail}
    assert subjects == {f"[Build #{build.id}] {build.title}"}
    body = mail[0][1].get_content()
    assert "* State: Failed to build" in body and "* Builder: bob" in body


def test_ensurepresent_may_take_the_download_timeout(
        session, sample, bob, farm_config, monkeypatch):
    """The slave downloads before answering ensurepresent: the socket
    timeout is too short for that."""
    clock = task.Clock()
    hanging = QuietSlave()
    hanging.ensurepresent = lambda *args: defer.Deferred()
    client = SlaveClient(bob.url, timeout=farm_config.builddmaster.socket_timeout,
                         reactor=clock, proxy=hanging)
    monkeypatch.setattr(registry, "slave_of", lambda builder: client)
    d = bob.dispatchBuildCandidate(bob.findBuildCandidate(), farm_config)
    failures = []
    d.addErrback(failures.append)
    clock.advance(farm_config.builddmaster.download_timeout - 1)
    assert failures == []
    clock.advance(1)
    assert failures[0].check(dispatcher.DispatchFailed)
    assert "ensurepresent() timed out" in failures[0].getErrorMessage()


def test_claim_loses_to_another_builder(session, sample, bob, frog, farm_config):
    candidate = bob.findBuildCandidate()
    assert dispatcher.claim(session, frog, candidate)
    with pytest.raises(dispatcher.JobTaken):
        wait(bob.dispatchBuildCandidate(candidate, farm_config))
    assert bob.slave.proxy.calls == []
    session.expire_all()
    assert candidate.builder_id == frog.id


def test_busy_builder_cannot_claim_a_second_job(session, sample, bob, farm_config):
    first = bob.findBuildCandidate()
    wait(bob.dispatchBuildCandidate(first, farm_config))
    second = queue_build(session, sample, "second", score=5)
    session.commit()
    assert bob.is_available is False
    with pytest.raises(dispatcher.JobTaken):
        wait(bob.dispatchBuildCandidate(second, farm_config))
    session.expire_all()
    assert second.builder_id is None


def test_the_farm_rules_hold_under_python_O():
    """The seed's refusals are raised, not asserted: ``python -O`` keeps them."""
    program = (
        "from types import SimpleNamespace\n"
        "from buildmaster.dispatch.dispatcher import check_dispatchable\n"
        "from buildmaster.model import PackagePublishingPocket\n"
        "try:\n"
        "    check_dispatchable(SimpleNamespace(pocket=PackagePublishingPocket.SECURITY))\n"
        "except AssertionError as error:\n"
        "    print(error)\n")
    done = subprocess.run([sys.executable, "-O", "-c", program], capture_output=True,
                          text=True, check=True)
    assert done.stdout == "Soyuz is not yet capable of building SECURITY uploads.\n"


def test_missing_chroot_is_refused_before_claiming(session, sample, bob, farm_config):
    candidate = bob.findBuildCandidate()
    candidate.build.distroarchseries.chroot = None
    with pytest.raises(ValueError, match="no chroot for ubuntu hoary i386"):
        wait(bob.dispatchBuildCandidate(candidate, farm_config))
    assert candidate.builder_id is None


# -- Whole passes -----------------------------------------------------------------

@pytest.fixture
def context(sample, farm_config, db):
    ctx = FarmContext(farm_config, engine=db.engine)
    yield ctx
    ctx.db.stop()


def started_jobs(*builders):
    return sorted(call[1] for builder in builders
                  for call in builder.slave.proxy.calls if call[0] == "build")


@pytest_twisted.ensureDeferred
async def test_dispatch_fills_every_idle_builder_best_first(
        session, sample, bob, frog, context):
    queue_build(session, sample, "top", score=500)
    low = queue_build(session, sample, "low", score=1)
    session.commit()
    assert await dispatch_idle_builders(context) == 2
    assert started_jobs(bob, frog) == sorted(["10-3", "9-2"])
    session.expire_all()
    assert low.builder_id is None
    assert await dispatch_idle_builders(context) == 0


async def count_statements(engine, call):
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        await call()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


@pytest_twisted.ensureDeferred
async def test_a_pass_loads_its_jobs_together(session, sample, db, context):
    """Each job started adds a claim's few statements to a pass, never a
    query per relationship its request reads."""
    builders = [Builder(name=f"many{index}", title="many", url=f"http://many{index}/",
                        processor=sample.i386, active=index < 2) for index in range(6)]
    session.add_all(builders)
    for index in range(10):
        queue_build(session, sample, f"job{index}", score=index)
    for builder in session.scalars(sa.select(Builder).where(Builder.name.in_(["bob", "frog"]))):
        builder.active = False
    session.commit()
    for builder in builders:
        builder.setSlaveForTesting(QuietSlave())
    two = await count_statements(db.engine, lambda: dispatch_idle_builders(context))
    for builder in builders:
        builder.active = True
    session.commit()
    four = await count_statements(db.engine, lambda: dispatch_idle_builders(context))
    assert len(started_jobs(*builders)) == 6
    assert four - two <= 2 * 5


@pytest_twisted.ensureDeferred
async def test_dispatch_leaves_manual_and_failed_builders_alone(
        session, sample, bob, frog, context):
    bob.manual = True
    frog.builderok = False
    session.commit()
    assert await dispatch_idle_builders(context) == 0
    assert started_jobs(bob, frog) == []


@pytest_twisted.ensureDeferred
async def test_dispatch_survives_a_refusing_builder(session, sample, bob, frog, context):
    queue_build(session, sample, "top", score=500)
    bob.setSlaveForTesting(RefusingSlave())
    session.commit()
    assert await dispatch_idle_builders(context) == 1
    assert started_jobs(frog) == ["9-2"]


class UnreachableSlave(QuietSlave):
    def ensurepresent(self, sha1, url, user=None, password=None):
        raise SlaveConnectionError(f"{url}: connection refused")


@pytest.mark.parametrize("slave, kind", [
    (RefusingSlave(), "its slave refused it"),
    (UnreachableSlave(), "its slave could not be reached"),
])
@pytest_twisted.ensureDeferred
async def test_a_private_builds_refusal_is_not_named_in_the_builders_notes(
        session, sample, bob, context, slave, kind, caplog):
    """The builder's failnotes are on every page and in the API without
    a token: they say only what kind of failure a private build's
    dispatch met; the master's log names the build."""
    sample.cprov_ppa.private, sample.cprov_ppa.buildd_secret = True, "s"
    sample.cprov_ppa.require_virtualized = False
    entry = queue_build(session, sample, "secret-pkg", archive=sample.cprov_ppa,
                        score=5000)
    bob.setSlaveForTesting(slave)
    session.commit()
    caplog.set_level("WARNING", logger="buildmaster.dispatch")
    assert await dispatch_idle_builders(context, builder_ids=[bob.id]) == 0
    session.expire_all()
    assert bob.failnotes == (f"Dispatch of a private build failed: {kind} (the "
                             "master's log says more)")
    assert (bob.failure_count, entry.builder_id) == (1, None)
    assert any(f"Dispatch of build {entry.build_id} (secret-pkg 1.0 i386) failed: "
               in line for line in caplog.messages)
    # At the threshold the builder is failed with the same notes.
    bob.failure_count = context.config.builddmaster.builder_failure_threshold - 1
    session.commit()
    await dispatch_idle_builders(context, builder_ids=[bob.id])
    session.expire_all()
    assert not bob.builderok and "secret-pkg" not in bob.failnotes


# -- Two masters on one PostgreSQL ------------------------------------------------

MASTERS, BUILDERS, JOBS = 2, 6, 60


def run_master(config, url, builder_ids, barrier, out_path):
    """One master process: dispatch passes until the queue is empty; after
    each pass it finishes the jobs it started, as its scanner would."""
    from buildmaster.slaves import registry
    engine = make_engine(url)
    # No reactor runs in this process: the database work runs inline.
    context = FarmContext(config, engine=engine,
                          db=InlineDatabase(make_session_factory(engine)))
    session = make_session_factory(engine)()
    slaves = [QuietSlave() for _ in builder_ids]
    for builder, slave in zip(session.scalars(
            sa.select(Builder).where(Builder.id.in_(builder_ids))), slaves):
        registry.override(builder, slave)
    logger = logging.getLogger("test.race")
    logger.setLevel(logging.INFO)
    lost = []
    handler = logging.Handler()
    handler.emit = lambda record: lost.append(record.getMessage())
    logger.addHandler(handler)
    barrier.wait()
    started = set()
    for _ in range(10 * JOBS):
        wait(dispatch_idle_builders(context, logger))
        jobs = {call[1] for slave in slaves for call in slave.calls if call[0] == "build"}
        finish(session, jobs - started)
        started |= jobs
        if not session.scalar(sa.select(sa.func.count()).select_from(BuildQueue)):
            break
    with open(out_path, "w") as out:
        json.dump({"started": [call[1] for slave in slaves for call in slave.calls
                               if call[0] == "build"],
                   "lost": sum("taken by another builder" in line for line in lost)}, out)
    engine.dispose()


def finish(session, jobs):
    for job in jobs:
        build_id, queue_id = map(int, job.split("-"))
        session.execute(sa.delete(BuildQueue).where(BuildQueue.id == queue_id))
        session.execute(sa.update(Build).where(Build.id == build_id)
                        .values(buildstate=BuildStatus.FULLYBUILT))
    session.commit()


def test_two_masters_dispatch_every_job_exactly_once(session, sample, db, farm_config,
                                                      tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: two processes writing one queue")
    processor = sample.i386
    builders = [Builder(name=f"racer{index}", title="racer", url=f"http://racer{index}/",
                        processor=processor) for index in range(BUILDERS)]
    session.add_all(builders)
    for index in range(JOBS):
        queue_build(session, sample, f"race{index}", score=index % 7)
    for builder in session.scalars(sa.select(Builder).where(Builder.name.in_(["bob", "frog"]))):
        builder.active = False
    session.commit()
    ids = [builder.id for builder in builders]
    expected = {f"{entry.build_id}-{entry.id}" for entry in session.scalars(
        sa.select(BuildQueue).where(BuildQueue.builder_id.is_(None)))
        if entry.build.buildstate == BuildStatus.NEEDSBUILD}

    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(MASTERS)
    outputs = [tmp_path / f"master{index}.json" for index in range(MASTERS)]
    masters = [fork.Process(target=run_master, args=(
        farm_config, db.url, ids, barrier, str(outputs[index])))
        for index in range(MASTERS)]
    for master in masters:
        master.start()
    for master in masters:
        master.join(120)
        assert master.exitcode == 0

    results = [json.loads(path.read_text()) for path in outputs]
    started = [job for result in results for job in result["started"]]
    assert len(started) == len(set(started))
    assert set(started) == expected
    assert (any(result["lost"] for result in results)
            or all(result["started"] for result in results)), "the masters raced"
