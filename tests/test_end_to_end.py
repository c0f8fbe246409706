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
import signal

import pytest
import pytest_twisted
import sqlalchemy as sa
import treq
from twisted.internet import reactor
from twisted.web.client import Agent, HTTPConnectionPool

from buildmaster import config as configmodule
from buildmaster.seeds import sampledata
from buildmaster.librarian.urls import http_url
from buildmaster.model import BuildQueue, Build, BuildStatus
from buildmaster.testing.aptrepo import AptRepository, make_binary_package
from buildmaster.testing.debpackages import make_source_package
from buildmaster.testing.farm import (  # noqa: F401
    STARTED, all_finished, builds_of, chroot, master, master_config_text, native_world,
    slaves, until, upload_dsc)
from buildmaster.testing.slaveprocess import serve_directory

pytestmark = pytest.mark.end_to_end

SERIES = "grumpy"
ADMIN = sampledata.BUILDD_ADMINS[0]


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
    return native_world(sample, session, slaves, chroot, SERIES)


@pytest.fixture
def master_config(db, farm_config, tmp_path, smtp_server, world, debian):
    path = tmp_path / "master.conf"
    path.write_text(master_config_text(db, farm_config, tmp_path, smtp_server,
                                       external={f"ubuntu/{SERIES}": debian}))
    return configmodule.load(str(path))


def upload(config, directory, name, kind, **package):
    """Make a source package and ``buildmaster upload`` it into grumpy."""
    dsc = make_source_package(str(directory), name=name, version="1.0", kind=kind,
                              **package)
    done = upload_dsc(config.path, dsc, SERIES)
    assert done.returncode == 0, done.stderr
    return name


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
    config = master_config
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

    config = master_config
    response, body = await fetch_raw(http_url(config, uses_lib.buildlog))
    log = gzip.decompress(body).decode()
    assert "running: apt-get satisfy fakeroot, libbm-dev (>= 1.0)" in log
    assert "Setting up libbm-dev (1.2)" in log
    assert "building arch-dependent and arch-independent packages (-b)" in log
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
