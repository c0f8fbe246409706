"""The whole loop with every part real: upload, build in a chroot, publish,
and the next build installs what was published.

A real ``twistd`` master (scanner, queue builder, dispatcher and
publisher, serving its archives and signing them with the test key), two
real slaves building in the bookworm buildd chroot, ``buildmaster
upload`` as a process.  An application that build-depends on a library
is uploaded first and waits for it; the library is uploaded, built and
published; the application is retried without anybody asking and builds
against the library from the farm's own archive, and apt on this host
finds both there.  Then the same in a
private PPA, whose archive only the buildd credentials open, and which
no log or mail ever shows.

Select it with ``pytest -m end_to_end``.
"""

import gzip
import signal

import pytest
import pytest_twisted
import sqlalchemy as sa
import treq
from twisted.internet import reactor, task, threads
from twisted.internet.error import ConnectError
from twisted.web.client import ResponseNeverReceived

from buildmaster import config as configmodule
from buildmaster.archive.dependencies import archive_url
from buildmaster.librarian.storage import LibrarianStorage
from buildmaster.model import BuildStatus, PackagePublishingStatus
from buildmaster.model import BinaryPackagePublishingHistory as BPPH
from buildmaster.testing.debpackages import make_source_package
from buildmaster.publisher.signing import public_key
from buildmaster.testing.farm import (  # noqa: F401
    builds_of, chroot, master, master_config_text, native_world, slaves, until,
    upload_dsc)
from buildmaster.testing.fixtures import TEST_SIGNING_KEY
from buildmaster.testing.hostapt import HostApt
from buildmaster.testing.slaveprocess import free_port

pytestmark = pytest.mark.end_to_end

SERIES = "loopy"
LIBRARY, APPLICATION = "loop-lib", "loop-app"
RELATION = f"{LIBRARY} (>= 1.0)"
SECRET = "buildd-secret-4711"


@pytest.fixture
def world(sample, session, slaves, chroot):
    """loopy, building for this machine in the real chroot; bob and frog
    on the slaves; cprov's PPA private and built on them too."""
    ppa = sample.cprov_ppa
    ppa.private, ppa.buildd_secret, ppa.require_virtualized = True, SECRET, False
    return native_world(sample, session, slaves, chroot, SERIES)


@pytest.fixture
def master_config(db, farm_config, tmp_path, smtp_server, world):
    archive_port = free_port()
    base = f"http://127.0.0.1:{archive_port}"
    path = tmp_path / "master.conf"
    path.write_text(master_config_text(
        db, farm_config, tmp_path, smtp_server, archive_port=archive_port,
        archives=f"primary_url = {base}/primary\nppa_url = {base}/ppa\n"
                 f"private_ppa_url = {base}/private\nsigning_key = {TEST_SIGNING_KEY}\n",
        job_timeout=300))
    return configmodule.load(str(path))


def upload(config, directory, name, archive="primary", **package):
    """Make source package ``name`` 1.0 and ``buildmaster upload`` it."""
    dsc = make_source_package(str(directory / name), name=name, version="1.0", **package)
    done = upload_dsc(config.path, dsc, SERIES, archive)
    assert done.returncode == 0, done.stderr


def ended(session, name, state):
    def check():
        builds = builds_of(session, [name])[name]
        if builds and builds[-1].buildstate == state:
            return builds
        return None
    return check


async def http_code(url, user=None, password=None):
    auth = (user, password) if user else None
    response = await treq.get(url, auth=auth, persistent=False)
    await treq.content(response)
    return response.code


async def serving(master, url, **credentials):
    """Wait until ``url`` answers 200 (the publisher wrote the suite)."""
    for _ in range(600):
        try:
            if await http_code(url, **credentials) == 200:
                return
        except (ConnectError, ResponseNeverReceived):  # the master is still starting
            pass
        await task.deferLater(reactor, 0.5, lambda: None)
    raise AssertionError(f"{url} never served; master log:\n{master.read_log()[-5000:]}")


def build_log(config, build):
    with LibrarianStorage(config.librarian.storage).open(build.buildlog) as handle:
        return gzip.decompress(handle.read()).decode("utf-8", "replace")


async def library_then_application(master, config, session, sources, archive):
    """Upload the application, see it wait, upload the library, and wait
    for the application to be retried and built; (library build,
    application build)."""
    upload(config, sources, APPLICATION, archive, build_depends=RELATION)
    (waiting,) = await until(ended(session, APPLICATION, BuildStatus.MANUALDEPWAIT),
                             f"saw {APPLICATION} wait for {LIBRARY}", master)
    assert waiting.dependencies == RELATION
    upload(config, sources, LIBRARY, archive)
    (library,) = await until(ended(session, LIBRARY, BuildStatus.FULLYBUILT),
                             f"built {LIBRARY}", master)
    (application,) = await until(ended(session, APPLICATION, BuildStatus.FULLYBUILT),
                                 f"built {APPLICATION} once {LIBRARY} was published",
                                 master)
    assert application.id == waiting.id, "the waiting build itself was retried"
    return library, application


@pytest_twisted.ensureDeferred
async def test_an_application_waiting_for_its_library_builds_once_it_is_published(
        master, master_config, session, sample, tmp_path):
    primary = archive_url(master_config, sample.primary)
    master.start()
    await serving(master, f"{primary}/dists/{SERIES}/InRelease")
    library, application = await library_then_application(
        master, master_config, session, tmp_path / "sources", "primary")

    (published,) = session.scalars(sa.select(BPPH).where(
        BPPH.binarypackagerelease_id == library.binarypackages[0].id)).all()
    assert published.status == PackagePublishingStatus.PUBLISHED
    log = build_log(master_config, application)
    assert f"{primary} {SERIES}/main" in log, "apt fetched from the farm's archive"
    assert f"Setting up {LIBRARY} (1.0)" in log
    assert (f"MANUALDEPWAIT -> NEEDSBUILD, its dependencies '{RELATION}' are "
            "published now") in master.read_log()

    def application_published():
        session.rollback()
        return session.scalar(sa.select(BPPH.status).where(
            BPPH.binarypackagerelease_id == application.binarypackages[0].id)) \
            == PackagePublishingStatus.PUBLISHED
    await until(application_published, f"published {APPLICATION}", master)
    apt = HostApt(tmp_path / "apt", [f"deb {primary} {SERIES} main"],
                  keys=[public_key(TEST_SIGNING_KEY)])
    updated = await threads.deferToThread(apt.update)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    for name in (LIBRARY, APPLICATION):
        assert await threads.deferToThread(apt.versions, name) == ["1.0"]
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM


@pytest_twisted.ensureDeferred
async def test_a_private_ppa_builds_against_itself_behind_its_credentials(
        master, master_config, session, sample, slaves, smtp_server, tmp_path):
    ppa = archive_url(master_config, sample.cprov_ppa, with_credentials=False)
    master.start()
    await serving(master, f"{archive_url(master_config, sample.primary)}/dists/"
                          f"{SERIES}/InRelease")
    library, application = await library_then_application(
        master, master_config, session, tmp_path / "sources", "~cprov/ppa")

    release = f"{ppa}/dists/{SERIES}/Release"
    assert await http_code(release) == 401
    assert await http_code(release, "buildd", "wrong") == 401
    assert await http_code(release, "buildd", SECRET) == 200
    public = f"{master_config.archives.ppa_url}/cprov/ppa/ubuntu/dists/{SERIES}/Release"
    assert await http_code(public, "buildd", SECRET) == 404

    log = build_log(master_config, application)
    assert f"Setting up {LIBRARY} (1.0)" in log
    assert "buildd:********@127.0.0.1" in log, "the PPA's line, its password masked"
    texts = {"master log": master.read_log(),
             "library's build log": build_log(master_config, library),
             "application's build log": log,
             **{f"mail {n}": text for n, (_, _, text) in enumerate(smtp_server.messages)},
             **{f"slave log {s.url}": s.read_log() for s in slaves}}
    assert [where for where, text in texts.items() if SECRET in text] == []
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
