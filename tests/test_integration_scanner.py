"""The scanner against real slave processes doing real Debian builds.

Each test dispatches one job by hand (ensurepresent + build through the
SlaveClient, the BuildQueue marked building) and runs scan cycles until
the build reaches the state the slave's outcome calls for.
"""

import gzip
import os
import signal

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import reactor, task

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.scan import scanpass
from buildmaster.slaves import registry
from buildmaster.model import rows
from buildmaster.context import FarmContext
from buildmaster.model import (
    BinaryPackagePublishingHistory, Build, Builder, BuildQueue, BuildStatus,
    DistroArchSeries, PackagePublishingPocket, PackagePublishingStatus, Processor)
from buildmaster.testing.aptrepo import AptRepository
from buildmaster.testing.debpackages import DEPWAIT_DEPENDS, make_source_package, source_files
from buildmaster.testing.slaveprocess import send_files, wait_for_state
from scannerhelpers import delivered

SOURCE, VERSION = "hello-bm", "1.0"


@pytest.fixture
def mailer(build_mailer):
    return build_mailer


@pytest.fixture
def context(sample, farm_config, db, mailer):
    farm_config.builddmaster.socket_timeout = 10
    registry.configure(farm_config)
    ctx = FarmContext(farm_config, engine=db.engine)
    ctx.mailer = mailer
    return ctx


@pytest.fixture
def world(sample, session, slave_proc):
    """An amd64 hoary, the test package's source and a builder for the slave.

    The sample builders have no slaves behind them: they are switched off.
    """
    sample.bob.active = sample.frog.active = False
    amd64 = session.scalars(sa.select(Processor).where(Processor.name == "amd64")).one()
    arch = DistroArchSeries(distroseries=sample.hoary, processor=amd64,
                            architecturetag="amd64", chroot=sample.chroot)
    session.add(arch)
    release = rows.source_release(session, SOURCE, VERSION, sample.person["mark"])
    rows.publish_source(session, release, sample.primary, sample.hoary)
    builder = Builder(name="real", title="A real slave", url=slave_proc.url,
                      processor=amd64)
    session.add(builder)
    session.commit()
    return arch, release, builder


async def dispatch(session, world, served_dir, kind, chroot):
    """Send a ``kind`` package to the slave and start its build in
    ``chroot``, with an empty served archive as its sources: the job."""
    arch, release, builder = world
    build = release.createBuild(arch, arch.main_archive, PackagePublishingPocket.RELEASE)
    entry = build.createBuildQueueEntry()
    directory, url = served_dir
    dsc = make_source_package(str(directory), name=SOURCE, version=VERSION, kind=kind)
    AptRepository(directory / "archive").publish("hoary", [])
    (directory / "chroot.tar.gz").symlink_to(chroot)
    chroot = directory / "chroot.tar.gz"
    client = builder.slave
    filemap = await send_files(client, url, source_files(dsc))
    (chroot_sha1,) = (await send_files(client, url, [chroot])).values()
    entry.markAsBuilding(builder)
    build.buildstate = BuildStatus.BUILDING
    session.commit()
    archives = [AptRepository.line(url + "archive", "hoary")]
    answer = await client.build(f"{build.id}-{entry.id}", "binarypackage", chroot_sha1,
                                filemap, {"arch_tag": "amd64", "archives": archives})
    assert answer == ("BuilderStatus.BUILDING", f"{build.id}-{entry.id}")
    return build.id, entry.id


async def scan_until(context, session, build_id, done, cycles=600):
    for _ in range(cycles):
        await scanpass.scan(context)
        session.expire_all()
        build = session.get(Build, build_id)
        if done(build):
            return build
        await task.deferLater(reactor, 0.2, lambda: None)
    raise AssertionError(f"build {build_id} stayed {build.buildstate.name}")


def finished(build):
    return build.buildstate not in (BuildStatus.BUILDING, BuildStatus.NEEDSBUILD)


def stored_log(context, alias):
    with context.librarian.open(alias) as f:
        return gzip.decompress(f.read()).decode()


@pytest_twisted.ensureDeferred
async def test_a_good_build_is_fully_built(context, session, world, served_dir, mailer,
                                          smtp_server, buildd_chroot):
    build_id, queue_id = await dispatch(session, world, served_dir, "good",
                                         buildd_chroot)
    build = await scan_until(context, session, build_id, finished)
    assert build.buildstate == BuildStatus.FULLYBUILT
    assert [b.name for b in build.binarypackages] == [SOURCE]
    (publication,) = session.scalars(sa.select(BinaryPackagePublishingHistory).where(
        BinaryPackagePublishingHistory.binarypackagerelease_id ==
        build.binarypackages[0].id)).all()
    assert publication.status == PackagePublishingStatus.PENDING
    assert "building the good package" in stored_log(context, build.buildlog)
    assert session.get(BuildQueue, queue_id) is None
    assert build.upload_log is None
    assert await delivered(mailer, smtp_server) == []
    status = await world[2].slave.status()
    assert status["builder_status"] == "BuilderStatus.IDLE"


@pytest_twisted.ensureDeferred
async def test_a_failing_build_fails_with_its_log(context, session, world, served_dir, mailer,
                                                 smtp_server, buildd_chroot):
    build_id, _ = await dispatch(session, world, served_dir, "fail",
                                         buildd_chroot)
    build = await scan_until(context, session, build_id, finished)
    assert build.buildstate == BuildStatus.FAILEDTOBUILD
    assert build.buildlog.filename.endswith("_BUILDING.txt.gz")
    assert "this build is going to fail" in stored_log(context, build.buildlog)
    # The source's creator and the test configuration's two buildd admins.
    messages = await delivered(mailer, smtp_server)
    assert [to for to, _ in messages] == [
        ["mark@example.com"], ["foo.bar@canonical.com"],
        ["celso.providelo@canonical.com"]]
    for _, message in messages:
        assert message["X-Launchpad-Build-State"] == "FAILEDTOBUILD"
        assert message["Subject"] == (
            f"[Build #{build_id}] amd64 build of {SOURCE} {VERSION} in ubuntu hoary RELEASE")
        assert "* State: Failed to build" in message.get_content()


@pytest_twisted.ensureDeferred
async def test_a_missing_dependency_waits(context, session, world, served_dir, mailer,
                                         smtp_server, buildd_chroot):
    build_id, _ = await dispatch(session, world, served_dir, "depwait",
                                         buildd_chroot)
    build = await scan_until(context, session, build_id, finished)
    assert build.buildstate == BuildStatus.MANUALDEPWAIT
    assert build.dependencies == DEPWAIT_DEPENDS
    assert await delivered(mailer, smtp_server) == []


@pytest_twisted.ensureDeferred
async def test_a_killed_slave_gives_the_job_back_to_the_queue(
        context, session, world, served_dir, slave_proc, buildd_chroot):
    build_id, queue_id = await dispatch(session, world, served_dir, "slow",
                                         buildd_chroot)
    client = world[2].slave
    await wait_for_state(client, "BuilderStatus.BUILDING")
    await scanpass.scan(context)
    slave_proc.send_signal(signal.SIGKILL)
    threshold = context.config.builddmaster.scan_failure_threshold
    for cycle in range(threshold):
        session.expire_all()
        assert session.get(BuildQueue, queue_id).builder_id == world[2].id
        assert await scanpass.scan(context) == 1
    session.expire_all()
    entry = session.get(BuildQueue, queue_id)
    assert entry.builder_id is None and entry.date_started is None
    build = session.get(Build, build_id)
    assert build.buildstate == BuildStatus.NEEDSBUILD
    assert (build.failure_count, session.get(Builder, world[2].id).failure_count) == (1, 1)


@pytest_twisted.ensureDeferred
async def test_a_corrupt_chroot_waits_for_a_new_one_and_is_mailed(
        context, session, world, served_dir, mailer, smtp_server, tmp_path):
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b this is no tarball")
    build_id, _ = await dispatch(session, world, served_dir, "good", str(corrupt))
    build = await scan_until(context, session, build_id, finished)
    assert build.buildstate == BuildStatus.CHROOTWAIT
    assert "is not a tarball" in stored_log(context, build.buildlog)
    messages = await delivered(mailer, smtp_server)
    assert messages and all(message["X-Launchpad-Build-State"] == "CHROOTWAIT"
                            for _, message in messages)


@pytest_twisted.ensureDeferred
async def test_a_build_writing_outside_its_tree_leaves_the_host_alone(
        context, session, world, served_dir, buildd_chroot):
    build_id, _ = await dispatch(session, world, served_dir, "escape", buildd_chroot)
    build = await scan_until(context, session, build_id, finished)
    assert build.buildstate == BuildStatus.FULLYBUILT
    assert "the escape attempt is over" in stored_log(context, build.buildlog)
    for path in ("/etc/buildmaster-escape", "/root/buildmaster-escape",
                 "/tmp/buildmaster-escape"):
        assert not os.path.exists(path)
