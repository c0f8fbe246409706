"""A whole farm of real processes, for the tests that run one.

The pieces the end-to-end, archive-loop and Debian-rebuild tests share:
two real slaves on this machine's architecture (``slaves``), the cached
bookworm buildd chroot in the farm's librarian (``chroot``), a series of
the sample world building natively on them (``native_world``), the
master's configuration file (``master_config_text``) and the daemon on
it (``master``, on the test's own ``master_config`` fixture), ``buildmaster
upload`` as a process, and polling the database until builds end
(``until``, ``builds_of``, ``all_finished``).  Import the fixtures into
a test module to use them.

The polling helpers let the reactor run between polls; the rest block.
"""

import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

from buildmaster.seeds import sampledata
from buildmaster.archive.chroots import host_architecture
from buildmaster.demo.farm import native_series, point_builder
from buildmaster.model import Build, BuildStatus, SourcePackageName, SourcePackageRelease
from buildmaster.testing.masterprocess import MasterProcess
from buildmaster.testing.slaveprocess import SlaveProcess, free_port, processes_in

TERMINAL = {BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD, BuildStatus.MANUALDEPWAIT,
            BuildStatus.CHROOTWAIT, BuildStatus.SUPERSEDED, BuildStatus.FAILEDTOUPLOAD}
# The daemon's jobs for a farm that builds and publishes.
JOBS = (("slave_scanner", "scan"), ("queue_builder", "build_queue"),
        ("dispatcher", "dispatch"), ("publisher", "publish"))
STARTED = f"Sequencer starting with {len(JOBS)} jobs"


@pytest.fixture
def slaves(tmp_path):
    """Two real slaves, bob and frog, building for this machine."""
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


def native_world(sample, session, slaves, chroot, series_name):
    """Series ``series_name`` of the sample's ubuntu, building natively in
    ``chroot``; bob and frog sent to ``slaves``; committed."""
    series, arch = native_series(session, sample.ubuntu, series_name, "5.10", chroot)
    for builder, slave in zip((sample.bob, sample.frog), slaves):
        point_builder(session, builder, slave.url, arch.processor)
    session.commit()
    return series


@pytest.fixture
def master(master_config, tmp_path):
    """The daemon on the test's ``master_config`` (a loaded Config),
    logging to master.log; killed after the test if still running.
    The test starts it."""
    process = MasterProcess(master_config.path, tmp_path / "master.log")
    yield process
    process.stop(signal.SIGKILL)


def master_config_text(db, farm_config, tmp_path, smtp_server, archives="",
                       archive_port=None, external=None, job_timeout=120, upload=""):
    """A daemon configuration for a test farm: the test's database and
    librarian (shared with ``farm_config``, where the sample's files
    are), servers on free loopback ports, mail to ``smtp_server``, the
    JOBS every second.  The archives are served on ``archive_port`` (a
    free one by default); ``archives`` holds further ``[archives]``
    lines (the primary archive is ``http://127.0.0.1:<archive_port>``
    unless they say otherwise); ``external`` maps DISTRIBUTION/SERIES to
    an external dependency line; ``upload`` holds ``[upload]`` lines."""
    public_port, restricted_port = free_port(), free_port()
    archive_port = archive_port or free_port()
    if "primary_url" not in archives:
        archives = f"primary_url = http://127.0.0.1:{archive_port}\n" + archives
    external_lines = "".join(f"{key} = {line}\n" for key, line in (external or {}).items())
    return (
        f"[database]\nurl = {db.url}\n"
        f"[builddmaster]\nroot = {tmp_path / 'builddmaster'}\nsocket_timeout = 10\n"
        f"[librarian]\nstorage = {farm_config.librarian.storage}\n"
        f"public_port = {public_port}\nrestricted_port = {restricted_port}\n"
        f"public_url = http://127.0.0.1:{public_port}\n"
        f"restricted_url = http://127.0.0.1:{restricted_port}\n"
        f"[mail]\nsmtp_host = {smtp_server.host}\nsmtp_port = {smtp_server.port}\n"
        f"buildd_admins = {', '.join(sampledata.BUILDD_ADMINS)}\nretry_delay = 2\n"
        f"[archives]\nroot = {tmp_path / 'archives'}\nhttp_port = {archive_port}\n"
        + archives
        + (f"[external_dependencies.series]\n{external_lines}" if external_lines else "")
        + (f"[upload]\n{upload}" if upload else "")
        # The web on a port of its own: its default, 58010, may be taken.
        + f"[web]\nport = {free_port()}\n"
        + "[sequencer]\nshutdown_timeout = 30\n"
        + "".join(f"[sequencer.job.{name}]\ncallable = buildmaster.jobs:{function}\n"
                  f"mindelay = 1\ntimeout = {job_timeout}\n" for name, function in JOBS))


def upload_dsc(config_path, dsc, series, archive="primary"):
    """``buildmaster upload DSC`` into ubuntu ``series`` as a process;
    the CompletedProcess."""
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
         "--config", str(config_path), "upload", str(dsc),
         "--distribution", "ubuntu", "--series", series, "--archive", archive],
        capture_output=True, text=True, timeout=120)


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


async def until(check, what, master, timeout=600, interval=0.2):
    """Poll ``check()`` until it returns something true; that.  Fails
    with the master's log when it never does or the master exits."""
    from twisted.internet import reactor, task
    for _ in range(int(timeout / interval)):
        result = check()
        if result:
            return result
        if master.popen.poll() is not None:
            break
        await task.deferLater(reactor, interval, lambda: None)
    raise AssertionError(f"never {what}; master log:\n{master.read_log()[-8000:]}")


def all_finished(session, names):
    """A check for ``until``: {name: builds} once every build of every
    source in ``names`` is in a terminal state."""
    def check():
        found = builds_of(session, names)
        if all(builds and all(b.buildstate in TERMINAL for b in builds)
               for builds in found.values()):
            return found
        return None
    return check


def buildmaster(config_path, *args, timeout=300):
    """``buildmaster --config CONFIG_PATH ARGS...`` as a process; the
    CompletedProcess (text)."""
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
         "--config", str(config_path), *map(str, args)],
        capture_output=True, text=True, timeout=timeout)


def published(session, builds):
    """A check for ``until``: every binary of ``builds`` is PUBLISHED."""
    from buildmaster.model import BinaryPackagePublishingHistory as BPPH
    from buildmaster.model import PackagePublishingStatus

    def check():
        session.rollback()
        ids = [binary.id for build in builds for binary in build.binarypackages]
        states = session.scalars(sa.select(BPPH.status).where(
            BPPH.binarypackagerelease_id.in_(ids))).all()
        session.rollback()
        return bool(ids) and len(states) == len(ids) and all(
            state == PackagePublishingStatus.PUBLISHED for state in states)
    return check


async def http_get(url, auth=None):
    """(status code, body) of a GET of ``url``; ``auth`` is (user, password)."""
    import treq
    response = await treq.get(url, auth=auth, persistent=False)
    return response.code, await treq.content(response)


def build_log(config, build):
    """``build``'s log, from the farm's librarian, as text."""
    import gzip

    from buildmaster.librarian.storage import LibrarianStorage
    with LibrarianStorage(config.librarian.storage).open(build.buildlog) as handle:
        return gzip.decompress(handle.read()).decode("utf-8", "replace")
