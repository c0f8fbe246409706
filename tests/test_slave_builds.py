"""Real slave processes doing real Debian builds in fresh chroots, driven
by SlaveClient, with their build-dependencies from a small apt archive
served on loopback."""

import os
import signal
import xmlrpc.client
from unittest import mock

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from buildmaster.config import load
from buildmaster.health.colours import read_log
from buildmaster.slaves.client import SlaveClient
from buildmaster.slaves.errors import SlaveConnectionError, SlaveProtocolError, SlaveTimeout
from buildmaster.testing.aptrepo import AptRepository, make_binary_package
from buildmaster.testing.debpackages import make_source_package, source_files
from buildmaster.testing.slaveprocess import (
    SlaveProcess, processes_in, send_files, sha1_of, wait_for_state)

IDLE = "BuilderStatus.IDLE"
BUILDING = "BuilderStatus.BUILDING"
WAITING = "BuilderStatus.WAITING"


@pytest.fixture
def client(slave_proc):
    return SlaveClient(slave_proc.url, timeout=20)


SUITE = "breezy"


def publish_archive(served_dir, name, debs):
    """An apt archive of ``debs`` served under ``name``; its line."""
    directory, url = served_dir
    AptRepository(directory / name).publish(SUITE, debs)
    return AptRepository.line(url + name, SUITE)


@pytest.fixture
def empty_archive(served_dir):
    """The sources.list line of a served archive with no packages."""
    return publish_archive(served_dir, "empty", [])


async def send_chroot(client, served_dir, tarball):
    directory, url = served_dir
    link = directory / "chroot.tar.gz"
    if not link.exists():
        link.symlink_to(tarball)
    (sha1,) = (await send_files(client, url, [link])).values()
    return sha1


async def start_build(client, served_dir, kind, chroot, archives, build_id="1-1",
                      **package):
    """Send a `kind` package and the chroot to the slave; start the build
    with ``archives`` as its sources.list."""
    directory, url = served_dir
    dsc = make_source_package(str(directory), kind=kind, **package)
    filemap = await send_files(client, url, source_files(dsc))
    chroot_sha1 = await send_chroot(client, served_dir, chroot)
    answer = await client.build(build_id, "binarypackage", chroot_sha1, filemap,
                                {"arch_tag": "amd64", "archives": [archives],
                                 "suite": SUITE, "ogrecomponent": "main"})
    assert answer == ("BuilderStatus.BUILDING", build_id)
    return chroot_sha1, filemap


async def log_text(client, tmp_path):
    path = tmp_path / "buildlog.txt"
    await client.getFile("buildlog", str(path))
    return path.read_text()


@pytest_twisted.ensureDeferred
async def test_good_build_offers_its_deb(client, served_dir, tmp_path, buildd_chroot,
                                         empty_archive):
    await start_build(client, served_dir, "good", buildd_chroot, empty_archive,
                      build_id="7-3")
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.OK"
    assert status["build_id"] == "7-3"
    debs = [name for name in status["filemap"] if name.endswith(".deb")]
    assert debs == ["hello-bm_1.0_amd64.deb"]
    assert "hello-bm_1.0_amd64.changes" in status["filemap"]
    sha1 = status["filemap"][debs[0]]
    target = tmp_path / debs[0]
    await client.getFile(sha1, str(target))
    assert sha1_of(target) == sha1
    log = await log_text(client, tmp_path)
    assert "building the good package" in log
    # dpkg-source's "extracting unsigned source package" is in the log,
    # and no warning the default patterns count: the build is green.
    assert "dpkg-source: warning: extracting unsigned source package" in log
    assert read_log(log.splitlines(), load(None, check_dirs=False).status.warning_patterns) \
        == (0, mock.ANY)
    assert await client.clean() == IDLE
    assert (await client.status())["builder_status"] == IDLE


@pytest_twisted.ensureDeferred
async def test_failing_build_is_packagefail_with_log(client, served_dir, tmp_path,
                                                     buildd_chroot, empty_archive):
    await start_build(client, served_dir, "fail", buildd_chroot, empty_archive)
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.PACKAGEFAIL"
    assert "this build is going to fail" in await log_text(client, tmp_path)


@pytest_twisted.ensureDeferred
async def test_missing_build_dependency_is_depfail(client, served_dir, buildd_chroot,
                                                   tmp_path):
    too_old = make_binary_package(str(tmp_path), "baz", "1.0.0")
    archive = publish_archive(served_dir, "old", [too_old])
    await start_build(client, served_dir, "depwait", buildd_chroot, archive)
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.DEPFAIL"
    assert status["dependencies"] == "baz (>= 1.0.1)"
    assert "waiting on: baz (>= 1.0.1)" in await log_text(client, tmp_path)


@pytest.mark.parametrize("kind", ["good", "depwait"])
@pytest_twisted.ensureDeferred
async def test_a_chroot_without_fakeroot_is_the_farms_problem_not_the_packages(
        client, served_dir, tmp_path, plain_buildd_chroot, empty_archive, kind):
    # mmdebstrap's plain buildd variant has no fakeroot, nor has the
    # archive: the build ends on a chroot problem, whatever the package
    # itself needs (the depwait one's baz is missing too).
    await start_build(client, served_dir, kind, plain_buildd_chroot, empty_archive)
    status = await wait_for_state(client, WAITING)
    assert (status["build_status"], status["dependencies"]) == ("BuildStatus.CHROOTFAIL", None)
    log = (await log_text(client, tmp_path)).splitlines()
    assert " satisfy:command-line : Depends: fakeroot but it is not installable" in log
    assert log[-1] == ("[slave] fakeroot, which the slave needs to build any package, cannot "
                       "be installed: neither the chroot nor this build's archives have it")


@pytest_twisted.ensureDeferred
async def test_build_dependency_comes_from_the_archive_into_the_chroot(
        client, served_dir, buildd_chroot, tmp_path):
    baz = make_binary_package(str(tmp_path), "baz", "1.0.2")
    archive = publish_archive(served_dir, "full", [baz])
    await start_build(client, served_dir, "depwait", buildd_chroot, archive)
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.OK"
    log = await log_text(client, tmp_path)
    assert "Setting up baz (1.0.2)" in log
    assert f"  {archive}" in log
    assert not os.path.exists("/usr/share/doc/baz")


@pytest_twisted.ensureDeferred
async def test_unreachable_archive_gives_the_build_back(client, served_dir, buildd_chroot,
                                                        tmp_path):
    _, url = served_dir
    archive = f"deb [trusted=yes] {url}no-such-archive {SUITE} main"
    await start_build(client, served_dir, "good", buildd_chroot, archive)
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.GIVENBACK"
    assert "giving back: the archives could not be read" in await log_text(client, tmp_path)


@pytest_twisted.ensureDeferred
async def test_a_build_cannot_touch_the_host(client, served_dir, buildd_chroot,
                                             empty_archive, tmp_path):
    await start_build(client, served_dir, "escape", buildd_chroot, empty_archive)
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.OK"
    assert "the escape attempt is over" in await log_text(client, tmp_path)
    for path in ("/etc/buildmaster-escape", "/root/buildmaster-escape",
                 "/tmp/buildmaster-escape"):
        assert not os.path.exists(path)


@pytest_twisted.ensureDeferred
async def test_clean_removes_what_the_build_did_and_keeps_the_unpacked_chroot(
        client, served_dir, buildd_chroot, empty_archive, slave_proc, tmp_path):
    chroot_sha1, _ = await start_build(client, served_dir, "good", buildd_chroot,
                                       empty_archive)
    await wait_for_state(client, WAITING)
    build_dir = os.path.join(slave_proc.workdir, "build")
    assert os.path.isdir(os.path.join(build_dir, "upper", "build"))
    base = os.path.join(slave_proc.workdir, "chroots", chroot_sha1)
    assert not os.path.exists(os.path.join(base, "build"))
    assert await client.clean() == IDLE
    # What stays: the unpacked chroot, and apt's lists of the build's
    # archives for the next build of the same ones (slave/aptlists.py).
    for _ in range(200):
        if sorted(os.listdir(slave_proc.workdir)) == ["apt-lists", "chroots"]:
            break
        await task.deferLater(reactor, 0.1, lambda: None)
    assert sorted(os.listdir(slave_proc.workdir)) == ["apt-lists", "chroots"]
    assert os.listdir(os.path.join(slave_proc.workdir, "chroots")) == [chroot_sha1]

    # The next build starts from the same pristine chroot, unpacked once.
    await start_build(client, served_dir, "fail", buildd_chroot, empty_archive,
                      build_id="2-2", name="second-bm")
    await wait_for_state(client, WAITING)
    log = await log_text(client, tmp_path)
    assert f"chroot {chroot_sha1} is unpacked already" in log
    assert "running: tar" not in log


@pytest_twisted.ensureDeferred
async def test_corrupt_chroot_is_chrootfail(client, served_dir, empty_archive, tmp_path):
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(b"not a tarball at all")
    await start_build(client, served_dir, "good", str(corrupt), empty_archive)
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.CHROOTFAIL"
    assert "is not a tarball" in await log_text(client, tmp_path)


@pytest_twisted.ensureDeferred
async def test_tarball_that_is_no_system_is_chrootfail(client, served_dir, empty_archive,
                                                       tmp_path):
    import tarfile
    empty_root = tmp_path / "root"
    (empty_root / "etc").mkdir(parents=True)
    with tarfile.open(tmp_path / "nosystem.tar.gz", "w:gz") as tar:
        tar.add(empty_root, arcname=".")
    await start_build(client, served_dir, "good", str(tmp_path / "nosystem.tar.gz"),
                      empty_archive)
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.CHROOTFAIL"
    assert "the chroot has no /bin/sh" in await log_text(client, tmp_path)


@pytest_twisted.ensureDeferred
async def test_unusable_work_dir_is_builderfail(client, served_dir, slave_proc,
                                                buildd_chroot, empty_archive):
    with open(os.path.join(slave_proc.workdir, "build"), "w") as f:
        f.write("a file where the build dir should be")
    await start_build(client, served_dir, "good", buildd_chroot, empty_archive)
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.BUILDERFAIL"


@pytest_twisted.ensureDeferred
async def test_abort_kills_the_build(client, served_dir, slave_proc, buildd_chroot,
                                     empty_archive):
    await start_build(client, served_dir, "slow", buildd_chroot, empty_archive)
    building = await wait_for_state(client, BUILDING)
    while b"a slow build starts" not in building["logtail"].data:
        building = await wait_for_state(client, BUILDING)
    assert processes_in(slave_proc.workdir)
    assert await client.abort() == "BuilderStatus.ABORTING"
    status = await wait_for_state(client, WAITING)
    assert status["build_status"] == "BuildStatus.ABORTED"
    assert processes_in(slave_proc.workdir) == []


@pytest_twisted.ensureDeferred
async def test_build_past_its_timeout_is_aborted(tmp_path, served_dir, buildd_chroot,
                                                 empty_archive):
    process = SlaveProcess(tmp_path / "quick", build_timeout=2).start()
    try:
        client = SlaveClient(process.url, timeout=20)
        await start_build(client, served_dir, "slow", buildd_chroot, empty_archive)
        status = await wait_for_state(client, WAITING)
        assert status["build_status"] == "BuildStatus.ABORTED"
        assert "timed out after 2 seconds" in await log_text(client, tmp_path)
        assert processes_in(process.workdir) == []
    finally:
        process.stop()


@pytest_twisted.ensureDeferred
async def test_waiting_state_survives_a_restart(client, served_dir, slave_proc,
                                                buildd_chroot, empty_archive):
    await start_build(client, served_dir, "good", buildd_chroot, empty_archive,
                      build_id="5-6")
    before = await wait_for_state(client, WAITING)
    slave_proc.stop()
    slave_proc.start()
    after = await client.status()
    assert after == before
    sha1 = after["filemap"]["hello-bm_1.0_amd64.deb"]
    assert (await client.ensurepresent(sha1, None)) == (True, "No URL")


@pytest_twisted.ensureDeferred
async def test_shutdown_mid_build_gives_it_back(client, served_dir, slave_proc,
                                                buildd_chroot, empty_archive):
    await start_build(client, served_dir, "slow", buildd_chroot, empty_archive)
    await wait_for_state(client, BUILDING)
    slave_proc.stop()
    assert processes_in(slave_proc.workdir) == []
    slave_proc.start()
    status = await client.status()
    assert status["builder_status"] == WAITING
    assert status["build_status"] == "BuildStatus.GIVENBACK"


@pytest_twisted.ensureDeferred
async def test_corrupt_download_is_refused_and_removed(client, served_dir,
                                                        slave_proc):
    directory, url = served_dir
    (directory / "data").write_bytes(b"the real content")
    wrong = "0" * 40
    present, info = await client.ensurepresent(wrong, url + "data")
    assert present is False
    assert "did not match" in info
    assert os.listdir(slave_proc.filecache) == []


@pytest_twisted.ensureDeferred
async def test_download_with_basic_auth_url_and_cache_answers(client, served_dir):
    directory, url = served_dir
    (directory / "data").write_bytes(b"some bytes")
    sha1 = sha1_of(directory / "data")
    assert await client.ensurepresent(sha1, url + "data", "user", "pw") == (
        True, "Download")
    assert await client.ensurepresent(sha1, url + "data") == (True, "Cache")
    assert await client.ensurepresent(sha1, None) == (True, "No URL")
    missing = await client.ensurepresent("1" * 40, url + "nothing")
    assert missing[0] is False and "404" in missing[1]


@pytest_twisted.ensureDeferred
async def test_bad_requests_are_refused_and_slave_keeps_serving(client):
    chroot = "a" * 40
    for name in ("../x", "/etc/passwd", ".."):
        with pytest.raises(xmlrpc.client.Fault, match="bad file name"):
            await client.build("1-1", "binarypackage", chroot,
                               {name: "b" * 40}, {})
    with pytest.raises(xmlrpc.client.Fault, match="wrong type"):
        await client.build(1, "binarypackage", chroot, {}, {})

    with pytest.raises(xmlrpc.client.Fault, match="not a sha1"):
        await client.ensurepresent("../../etc/passwd", None)
    with pytest.raises(xmlrpc.client.Fault, match="arguments"):
        await client._call("info", 1, 2)
    with pytest.raises(xmlrpc.client.Fault, match="not BuilderStatus"):
        await client.clean()
    with pytest.raises(xmlrpc.client.Fault, match="not BuilderStatus"):
        await client.abort()
    present, info = await client.ensurepresent(chroot, "file:///etc/passwd")
    assert present is False and "non-HTTP" in info
    state, info = await client.build("1-1", "binarypackage", chroot, {}, {})
    assert state == "BuilderStatus.UNKNOWNSUM" and chroot in info
    state, info = await client.build("1-1", "sourcepackagerecipe", chroot,
                                     {}, {})
    assert state == "BuilderStatus.UNKNOWNBUILDER"
    assert await client.echo("still", "here") == ["still", "here"]


@pytest_twisted.ensureDeferred
async def test_build_while_building_is_a_fault(client, served_dir, buildd_chroot,
                                               empty_archive):
    chroot_sha1, filemap = await start_build(client, served_dir, "slow", buildd_chroot,
                                             empty_archive)
    with pytest.raises(xmlrpc.client.Fault, match="cannot build"):
        await client.build("2-2", "binarypackage", chroot_sha1, filemap, {})
    await client.abort()
    await wait_for_state(client, WAITING)


@pytest_twisted.ensureDeferred
async def test_filecache_serves_only_known_names(client, slave_proc,
                                                 tmp_path):
    for name in ("../slave.ini", "slave.ini", "0" * 40, "buildlog"):
        with pytest.raises(SlaveProtocolError, match="404"):
            await client.getFile(name, str(tmp_path / "x"))
        assert not (tmp_path / "x").exists()


@pytest_twisted.ensureDeferred
async def test_info_and_echo(client):
    assert await client.info() == ["1.0", "amd64", ["binarypackage"]]
    assert await client.echo(1, "two") == [1, "two"]
    assert await client.status() == {
        "builder_status": IDLE, "build_id": "", "build_status": None,
        "logtail": None, "filemap": None, "dependencies": None}


@pytest_twisted.ensureDeferred
async def test_stopped_slave_is_a_timeout_not_a_hang(slave_proc):
    client = SlaveClient(slave_proc.url, timeout=1)
    assert await client.echo("up") == ["up"]
    slave_proc.send_signal(signal.SIGSTOP)
    with pytest.raises(SlaveTimeout, match=r"status\(\) timed out"):
        await client.status()
    with pytest.raises(SlaveTimeout, match="filecache|getFile"):
        await client.getFile("buildlog", str(slave_proc.directory + "/x"))


@pytest_twisted.ensureDeferred
async def test_killed_slave_is_a_connection_error(slave_proc):
    client = SlaveClient(slave_proc.url, timeout=5)
    slave_proc.send_signal(signal.SIGKILL)
    with pytest.raises(SlaveConnectionError, match=slave_proc.url):
        await client.status()


@pytest_twisted.ensureDeferred
async def test_console_script_runs_the_same_slave(tmp_path):
    process = SlaveProcess(tmp_path / "cli", runner="cli").start()
    try:
        client = SlaveClient(process.url, timeout=20)
        assert (await client.info())[0] == "1.0"
    finally:
        process.stop()
