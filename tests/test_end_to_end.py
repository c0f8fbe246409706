"""The whole farm, every part real: ``twistd -n -y buildmaster.tac`` as a
process, two slave processes doing real Debian builds, ``buildmaster
upload`` as a process, the librarian over HTTP and failure mail caught by
an SMTP server on loopback.  Then the master is killed with SIGKILL while
builds run, restarted, and every build still ends exactly once.

Select it with ``pytest -m end_to_end``; it takes a minute or two.

The sample world gets a new series, grumpy, building for this machine's
architecture only (the slaves build natively) in the real bookworm
buildd chroot, and bob and frog are sent to the two slaves, so every
build the farm makes here is one the test uploaded.  The master
publishes and serves its own archives; a small archive served by the
test stands in for Debian, as grumpy's external dependency line.
"""

import gzip
import os
import signal
import subprocess
import sys

import pytest
import pytest_twisted
import sqlalchemy as sa
import treq
from twisted.internet import reactor, task
from twisted.web.client import Agent, HTTPConnectionPool

from buildmaster import sampledata
from buildmaster.demo import host_architecture, native_series, point_builder
from buildmaster.librarian.urls import http_url
from buildmaster.model import (
    Build, BuildQueue, BuildStatus, SourcePackageName, SourcePackageRelease)
from buildmaster.testing.aptrepo import AptRepository, make_binary_package
from buildmaster.testing.debpackages import make_source_package
from buildmaster.testing.masterprocess import MasterProcess
from buildmaster.testing.slaveprocess import (
    SlaveProcess, free_port, processes_in, serve_directory)

pytestmark = pytest.mark.end_to_end

SERIES = "grumpy"
TERMINAL = {BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD, BuildStatus.MANUALDEPWAIT,
            BuildStatus.CHROOTWAIT, BuildStatus.SUPERSEDED, BuildStatus.FAILEDTOUPLOAD}
ADMIN = sampledata.BUILDD_ADMINS[0]


@pytest.fixture
def slaves(tmp_path):
    arch = host_architecture()
    started = [SlaveProcess(tmp_path / name, arch=arch).start() for name in ("bob", "frog")]
    yield started
    for slave in started:
        slave.stop()
        for pid in processes_in(slave.workdir):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def chroot(session, farm_config, buildd_chroot):
    """The real buildd chroot tarball, in the farm's librarian."""
    from buildmaster.librarian.storage import LibrarianStorage
    (alias,) = LibrarianStorage(farm_config.librarian.storage).add_paths(
        session, [("bookworm-buildd.tar.gz", buildd_chroot, "application/x-gtar", False)])
    return alias


@pytest.fixture
def debian(tmp_path):
    """An archive standing in for Debian: libbm-dev 1.2 in grumpy; its line."""
    directory = tmp_path / "debian"
    library = make_binary_package(str(tmp_path), "libbm-dev", "1.2")
    AptRepository(directory).publish(SERIES, [library])
    port, url = serve_directory(directory)
    yield AptRepository.line(url, SERIES)
    port.stopListening()


@pytest.fixture
def world(sample, session, slaves, chroot):
    """grumpy, building natively; bob and frog on the real slaves."""
    grumpy, arch = native_series(session, sample.ubuntu, SERIES, "5.10", chroot)
    for builder, slave in zip((sample.bob, sample.frog), slaves):
        point_builder(session, builder, slave.url, arch.processor)
    session.commit()
    return grumpy


JOBS = (("slave_scanner", "scan"), ("queue_builder", "build_queue"),
        ("dispatcher", "dispatch"), ("publisher", "publish"))
STARTED = f"Sequencer starting with {len(JOBS)} jobs"


@pytest.fixture
def master_config(db, farm_config, tmp_path, smtp_server, world, debian):
    public_port, restricted_port, archive_port = free_port(), free_port(), free_port()
    path = tmp_path / "master.conf"
    path.write_text(
        f"[database]\nurl = {db.url}\n"
        f"[builddmaster]\nroot = {tmp_path / 'builddmaster'}\nsocket_timeout = 10\n"
        # The sample's files are in farm_config's librarian: share it.
        f"[librarian]\nstorage = {farm_config.librarian.storage}\n"
        f"public_port = {public_port}\nrestricted_port = {restricted_port}\n"
        f"public_url = http://127.0.0.1:{public_port}\n"
        f"restricted_url = http://127.0.0.1:{restricted_port}\n"
        f"[mail]\nsmtp_host = {smtp_server.host}\nsmtp_port = {smtp_server.port}\n"
        f"buildd_admins = {', '.join(sampledata.BUILDD_ADMINS)}\nretry_delay = 2\n"
        f"[archives]\nroot = {tmp_path / 'archives'}\nhttp_port = {archive_port}\n"
        f"primary_url = http://127.0.0.1:{archive_port}\n"
        f"[external_dependencies.series]\nubuntu/{SERIES} = {debian}\n"
        "[sequencer]\nshutdown_timeout = 30\n"
        + "".join(f"[sequencer.job.{name}]\ncallable = buildmaster.jobs:{function}\n"
                  "mindelay = 1\ntimeout = 120\n"
                  for name, function in JOBS))
    return path


@pytest.fixture
def master(master_config, tmp_path):
    process = MasterProcess(master_config, tmp_path / "master.log")
    yield process
    process.stop(signal.SIGKILL)


def upload(config_path, directory, name, kind, **package):
    """Make a source package and ``buildmaster upload`` it into grumpy."""
    dsc = make_source_package(str(directory), name=name, version="1.0", kind=kind,
                              **package)
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
         "--config", str(config_path), "upload", dsc,
         "--distribution", "ubuntu", "--series", SERIES],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return name


def builds_of(session, names):
    """{source name: [its builds]}, fresh from the database."""
    session.rollback()
    session.expire_all()
    builds = session.scalars(
        sa.select(Build).join(SourcePackageRelease).join(SourcePackageName)
        .where(SourcePackageName.name.in_(names)).order_by(Build.id)).all()
    found = {name: [] for name in names}
    for build in builds:
        found[build.sourcepackagerelease.name].append(build)
    session.rollback()
    return found


async def until(check, what, master, timeout=300, interval=0.2):
    """Poll ``check()`` until it returns something true; that."""
    for _ in range(int(timeout / interval)):
        result = check()
        if result:
            return result
        if master.popen.poll() is not None:
            break
        await task.deferLater(reactor, interval, lambda: None)
    raise AssertionError(f"never {what}; master log:\n{master.read_log()[-8000:]}")


def all_finished(session, names):
    def check():
        found = builds_of(session, names)
        if all(builds and all(b.buildstate in TERMINAL for b in builds)
               for builds in found.values()):
            return found
        return None
    return check


async def fetch_raw(url):
    """Headers and body exactly as sent (no gzip decoding)."""
    agent = Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False))
    response = await agent.request(b"GET", url.encode("ascii"))
    return response, await treq.content(response)


@pytest_twisted.ensureDeferred
async def test_uploads_build_fail_wait_and_survive_a_killed_master(
        master, master_config, session, tmp_path, smtp_server):
    sources = tmp_path / "sources"
    sources.mkdir()
    master.start()
    await master.logged(STARTED)
    first = {upload(master_config, sources, "hello-good", "good"): BuildStatus.FULLYBUILT,
             upload(master_config, sources, "hello-fail", "fail"): BuildStatus.FAILEDTOBUILD,
             upload(master_config, sources, "hello-wait", "depwait"):
                 BuildStatus.MANUALDEPWAIT}

    found = await until(all_finished(session, first), "finished the first builds", master)
    assert {name: [b.buildstate for b in builds] for name, builds in found.items()} == {
        name: [state] for name, state in first.items()}
    good, failed, waiting = (found[name][0] for name in first)
    assert [b.name for b in good.binarypackages] == ["hello-good"]
    assert waiting.dependencies == "baz (>= 1.0.1)"

    # The failed build's log, over the librarian's HTTP, gzipped.
    from buildmaster import config as configmodule
    config = configmodule.load(str(master_config))
    response, body = await fetch_raw(http_url(config, failed.buildlog))
    assert response.code == 200
    assert response.headers.getRawHeaders("content-encoding") == ["gzip"]
    assert "this build is going to fail" in gzip.decompress(body).decode()

    # The failed build is mailed, to the admins among others; a build
    # waiting for a dependency is not (nobody can fix it but the archive).
    def mailed():
        return [text for _, recipients, text in smtp_server.messages
                if recipients == [ADMIN] and "hello-fail" in text]
    (mail,) = await until(mailed, "mailed the failure", master)
    assert f"Subject: [Build #{failed.id}] " in mail
    assert f"State: {BuildStatus.FAILEDTOBUILD.title}" in mail

    # A clean stop; more uploads meanwhile; a start, and kill -9 as soon
    # as one of them is building.
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
    second = [upload(master_config, sources, f"hello-more{n}", "good") for n in range(1, 5)]
    master.start()

    def building():
        return any(b.buildstate == BuildStatus.BUILDING
                   for builds in builds_of(session, second).values() for b in builds)
    await until(building, "started building the second uploads", master, interval=0.05)
    master.kill()
    killed_at = len(master.read_log())
    master.start()
    await master.logged(STARTED, after=killed_at)
    found = await until(all_finished(session, second), "finished after the restart", master)

    for name, builds in found.items():
        assert [b.buildstate for b in builds] == [BuildStatus.FULLYBUILT], name
        assert [b.name for b in builds[0].binarypackages] == [name], name
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(BuildQueue).join(Build)
                          .where(Build.id.in_([b[0].id for b in found.values()]))) == 0
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
    mailed_about = {name for _, _, text in smtp_server.messages
                    for name in [*first, *second] if name in text}
    assert mailed_about == {"hello-fail"}


@pytest_twisted.ensureDeferred
async def test_what_a_new_user_tries_first_builds_in_real_chroots(
        master, master_config, session, tmp_path):
    """An arch-any source whose build-dependency only the external
    archive has, an arch-all source and a failing one, uploaded at once."""
    sources = tmp_path / "sources"
    sources.mkdir()
    master.start()
    await master.logged(STARTED)
    expected = {
        upload(master_config, sources, "uses-lib", "good",
               build_depends="libbm-dev (>= 1.0)"): BuildStatus.FULLYBUILT,
        upload(master_config, sources, "docs-only", "all"): BuildStatus.FULLYBUILT,
        upload(master_config, sources, "breaks", "fail"): BuildStatus.FAILEDTOBUILD}
    found = await until(all_finished(session, expected), "finished the builds", master)
    assert {name: [b.buildstate for b in builds] for name, builds in found.items()} == {
        name: [state] for name, state in expected.items()}
    uses_lib, docs_only = found["uses-lib"][0], found["docs-only"][0]
    assert [b.name for b in docs_only.binarypackages] == ["docs-only"]
    assert [b.architecturespecific for b in docs_only.binarypackages] == [False]

    from buildmaster import config as configmodule
    config = configmodule.load(str(master_config))
    response, body = await fetch_raw(http_url(config, uses_lib.buildlog))
    log = gzip.decompress(body).decode()
    assert "running: apt-get satisfy fakeroot, libbm-dev (>= 1.0)" in log
    assert "Setting up libbm-dev (1.2)" in log
    assert "building arch-dependent and arch-independent packages (-b)" in log
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
