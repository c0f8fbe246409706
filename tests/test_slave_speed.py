"""Real builds as fast as the compiler allows (issue 25, parts 2 and 3):
real slaves building in the real chroot say how long each step took,
give dpkg-buildpackage parallel=N (capped by the slave's configuration
and by the master), never fsync in the chroot, and fetch no index again
from archives that did not change."""

import os
import subprocess
import xmlrpc.client

import pytest
import pytest_twisted
from twisted.web import server, static

from buildmaster.slaves.client import SlaveClient
from buildmaster.testing.aptrepo import AptRepository
from buildmaster.testing.debpackages import make_source_package, source_files
from buildmaster.testing.slaveprocess import SlaveProcess, send_files, wait_for_state
from common import steptimes
from slave.speed import cpu_count

SUITE = "breezy"
WAITING = "BuilderStatus.WAITING"


class CountingSite(server.Site):
    """A static directory on loopback that remembers each request's path
    and answer code."""

    def __init__(self, directory):
        super().__init__(static.File(str(directory)))
        self.requests = []

    def log(self, request):
        self.requests.append((request.path.decode(), request.code))


@pytest.fixture
def counted_dir(tmp_path):
    """(directory, base URL, CountingSite) served on loopback."""
    from twisted.internet import reactor
    directory = tmp_path / "counted"
    directory.mkdir()
    site = CountingSite(directory)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield directory, f"http://127.0.0.1:{port.getHost().port}/", site
    port.stopListening()


def slave_with(tmp_path, **settings):
    """A started slave whose configuration adds ``settings``."""
    process = SlaveProcess(tmp_path / "slave")
    with open(process.config_path, "a", encoding="utf-8") as f:
        f.writelines(f"{key} = {value}\n" for key, value in settings.items())
    return process.start()


async def build(client, counted, chroot, archive, build_id, kind="options", **extra):
    """Run one build of a ``kind`` package to its end; (status, log text)."""
    directory, url, _ = counted
    source = directory / f"src-{build_id}"
    source.mkdir()
    dsc = make_source_package(str(source), kind=kind)
    for path in source_files(dsc):
        target = directory / os.path.basename(path)
        if not target.exists():
            target.symlink_to(path)
    filemap = await send_files(client, url, [directory / os.path.basename(path)
                                             for path in source_files(dsc)])
    link = directory / "chroot.tar.gz"
    if not link.exists():
        link.symlink_to(chroot)
    (chroot_sha1,) = (await send_files(client, url, [link])).values()
    args = {"arch_tag": "amd64", "archives": [archive], "suite": SUITE,
            "ogrecomponent": "main", **extra}
    answer = await client.build(build_id, "binarypackage", chroot_sha1, filemap, args)
    assert answer == ("BuilderStatus.BUILDING", build_id)
    status = await wait_for_state(client, WAITING)
    log_path = directory.parent / f"log-{build_id}.txt"
    await client.getFile("buildlog", str(log_path))
    return status, log_path.read_text()


def archive_line(counted, debs=()):
    directory, url, _ = counted
    AptRepository(directory / "archive").publish(SUITE, list(debs))
    return AptRepository.line(url + "archive", SUITE)


def index_downloads(site):
    """The archive files the server sent whole (200) since the last call."""
    sent = [path for path, code in site.requests
            if path.startswith("/archive/") and code == 200]
    site.requests.clear()
    return sent


@pytest_twisted.ensureDeferred
async def test_a_build_says_how_long_each_step_took_and_builds_in_parallel_without_fsync(
        tmp_path, counted_dir, buildd_chroot):
    process = slave_with(tmp_path)
    try:
        client = SlaveClient(process.url, timeout=20)
        archive = archive_line(counted_dir)
        status, log = await build(client, counted_dir, buildd_chroot, archive, "1-1")
        await client.clean()
        # The master's cap (the build's 'parallel') bites too.
        _, capped = await build(client, counted_dir, buildd_chroot, archive, "2-1",
                                parallel=1)
    finally:
        process.stop()
    assert status["build_status"] == "BuildStatus.OK"
    lines = log.splitlines()
    steps = steptimes.parse(lines)
    assert list(steps) == list(steptimes.SLAVE_STEPS)
    assert all(0 <= seconds < 300 for seconds in steps.values()), steps
    assert steps["apt-update"] > 0 and steps["build-depends"] > 0
    step_lines = [line for line in lines if line.startswith("[slave] step ")]
    assert step_lines[2] == f"[slave] step apt-update: {steps['apt-update']:.2f} s"
    # parallel=N from the slave's CPUs reaches dpkg-buildpackage, and dpkg
    # unpacks without fsync in the chroot.
    assert f"DEB_BUILD_OPTIONS=[parallel={cpu_count()}]" in lines
    assert "dpkg options: force-unsafe-io" in lines
    assert "fsync of no file: 0" in lines
    assert "DEB_BUILD_OPTIONS=[parallel=1]" in capped.splitlines()


@pytest_twisted.ensureDeferred
async def test_the_slave_config_caps_parallel_and_status_says_so(tmp_path, counted_dir,
                                                                   buildd_chroot):
    # (On a one-CPU host the cap changes nothing; this one has two.)
    process = slave_with(tmp_path, max_parallel=1)
    try:
        raw = xmlrpc.client.ServerProxy(process.url + "rpc")
        from twisted.internet import threads
        assert (await threads.deferToThread(raw.status))["parallel"] == 1
        client = SlaveClient(process.url, timeout=20)
        archive = archive_line(counted_dir)
        status, log = await build(client, counted_dir, buildd_chroot, archive, "1-1")
        assert status["build_status"] == "BuildStatus.OK"
        assert "DEB_BUILD_OPTIONS=[parallel=1]" in log.splitlines()
        await client.clean()
        with pytest.raises(xmlrpc.client.Fault, match="parallel: expected a whole number"):
            await build(client, counted_dir, buildd_chroot, archive, "2-1", parallel=0)
    finally:
        process.stop()


@pytest_twisted.ensureDeferred
async def test_a_second_build_from_unchanged_archives_downloads_no_index(
        tmp_path, counted_dir, buildd_chroot):
    _, _, site = counted_dir
    archive = archive_line(counted_dir)
    process = slave_with(tmp_path)
    try:
        client = SlaveClient(process.url, timeout=20)
        status, log = await build(client, counted_dir, buildd_chroot, archive, "1-1",
                                  kind="good")
        assert status["build_status"] == "BuildStatus.OK"
        first = index_downloads(site)
        assert "/archive/dists/breezy/Release" in first
        assert "[slave] apt lists: 0 file(s) kept from an earlier build of these archives" \
            in log.splitlines()
        await client.clean()

        status, log = await build(client, counted_dir, buildd_chroot, archive, "2-1",
                                  kind="good")
        assert status["build_status"] == "BuildStatus.OK"
        assert index_downloads(site) == []
        assert any(line.startswith("[slave] apt lists: ") and not line.startswith(
            "[slave] apt lists: 0 ") for line in log.splitlines())
        await client.clean()

        # A changed archive is read again: its Release, then its index.
        AptRepository(counted_dir[0] / "archive").publish(SUITE, [], ("amd64", "i386"))
        release = counted_dir[0] / "archive" / "dists" / SUITE / "Release"
        later = release.stat().st_mtime + 60
        os.utime(release, (later, later))
        await build(client, counted_dir, buildd_chroot, archive, "3-1", kind="good")
        assert "/archive/dists/breezy/Release" in index_downloads(site)
    finally:
        process.stop()


# -- the pieces, without a build ---------------------------------------------

def config_of(tmp_path, **settings):
    from slave.config import SlaveConfig
    return SlaveConfig("127.0.0.1", 0, "amd64", str(tmp_path / "cache"),
                       str(tmp_path / "work"), 60, **settings)


def test_parallel_is_the_cpus_capped_by_the_slave_and_the_master(tmp_path):
    from slave.speed import BadParallel, build_options, parallel_jobs
    assert parallel_jobs(config_of(tmp_path), {}, cpus=8) == 8
    assert parallel_jobs(config_of(tmp_path, max_parallel=4), {}, cpus=8) == 4
    assert parallel_jobs(config_of(tmp_path, max_parallel=4), {"parallel": 2}, cpus=8) == 2
    assert parallel_jobs(config_of(tmp_path), {"parallel": 16}, cpus=8) == 8
    for bad in (0, -1, "2", True, 2.5):
        with pytest.raises(BadParallel):
            parallel_jobs(config_of(tmp_path), {"parallel": bad})
    assert build_options(3, "nocheck parallel=9 noopt") == "nocheck noopt parallel=3"


def test_ccache_is_off_unless_configured_and_kept_per_series(tmp_path):
    from slave.speed import CCACHE_INSIDE, CcacheDir, build_step
    args = {"suite": "bookworm-proposed", "series": "bookworm"}
    assert CcacheDir.of(config_of(tmp_path), args) is None
    env, binds = build_step(config_of(tmp_path), {}, None, {"PATH": "/usr/bin"})
    assert binds == () and "CCACHE_DIR" not in env
    config = config_of(tmp_path, ccache_dir=str(tmp_path / "ccache"))
    ccache = CcacheDir.of(config, args)
    assert ccache.host == str(tmp_path / "ccache" / "bookworm")
    assert CcacheDir.of(config, {"suite": "sid"}).host.endswith("/sid")
    assert CcacheDir.of(config, {"series": "../etc"}) is None
    env, binds = build_step(config, {}, ccache, {"PATH": "/usr/bin"})
    assert binds == [(ccache.host, CCACHE_INSIDE)]
    assert env["PATH"] == "/usr/lib/ccache:/usr/bin" and env["CCACHE_DIR"] == CCACHE_INSIDE


def test_optional_speed_settings_load_from_the_slave_config(tmp_path):
    from slave.config import ConfigError, load_config
    base = SlaveProcess(tmp_path / "s").config_text()
    path = tmp_path / "slave.ini"
    path.write_text(base)
    assert (load_config(str(path)).max_parallel, load_config(str(path)).ccache_dir) == (0, "")
    path.write_text(base + "max_parallel = 2\nccache_dir = /srv/ccache\n")
    assert (load_config(str(path)).max_parallel, load_config(str(path)).ccache_dir) == (
        2, "/srv/ccache")
    path.write_text(base + "max_parallel = many\n")
    with pytest.raises(ConfigError, match="max_parallel: expected a number >= 0"):
        load_config(str(path))


def test_kept_lists_never_cross_archive_sets(tmp_path):
    from slave.aptlists import KEEP, ListsCache, lists_key
    public = ["deb http://archive.example/debian bookworm main"]
    private = ["deb http://buildd:one@ppa.example/owner/ppa/debian bookworm main"]
    other_secret = ["deb http://buildd:two@ppa.example/owner/ppa/debian bookworm main"]
    keys = {lists_key(public, (), "c" * 40), lists_key(private, (), "c" * 40),
            lists_key(other_secret, (), "c" * 40), lists_key(public, ["a2V5"], "c" * 40),
            lists_key(public, (), "d" * 40)}
    assert len(keys) == 5
    cache = ListsCache(str(tmp_path / "work"))
    chroot_lists = tmp_path / "lists"
    chroot_lists.mkdir()
    (chroot_lists / "ppa_Release").write_text("private")
    (chroot_lists / "lock").write_text("")
    os.utime(chroot_lists / "ppa_Release", (1_000_000, 1_000_000))
    key = lists_key(private, (), "c" * 40)
    assert cache.save(key, str(chroot_lists)) == 1
    assert oct(os.stat(cache.directory).st_mode & 0o777) == "0o700"
    fresh = tmp_path / "fresh"
    assert cache.restore(lists_key(other_secret, (), "c" * 40), str(fresh)) == 0
    assert not fresh.exists()
    assert cache.restore(key, str(fresh)) == 1
    # The copy keeps the time apt asks If-Modified-Since with.
    assert os.listdir(fresh) == ["ppa_Release"]
    assert os.stat(fresh / "ppa_Release").st_mtime == 1_000_000
    for number in range(KEEP + 2):
        cache.save(f"{number:064x}", str(chroot_lists))
    assert not os.path.exists(os.path.join(cache.directory, key))


def test_lists_that_cannot_be_kept_only_cost_time(tmp_path):
    from slave.aptlists import KeptLists
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "apt-lists").write_text("a file where the sets should be")
    kept = KeptLists.of(str(tmp_path / "work"), {"archives": ["deb http://a.example/ x main"]},
                        "c" * 40)
    assert kept.restore(str(tmp_path / "lists")).startswith("apt lists: none kept could be read (")
    assert kept.save(str(tmp_path)).startswith("apt lists: not kept for the next build (")
    assert KeptLists.of(str(tmp_path / "work"), {}, "c" * 40) is None


def test_the_nosync_filter_makes_fsync_a_no_op(tmp_path):
    from slave.nosync import write_program
    probe = ["perl", "-e", "printf '%d', syscall(74, 9999)"]   # x86-64 fsync
    bwrap = ["bwrap", "--dev-bind", "/", "/"]
    plain = subprocess.run(bwrap + ["--"] + probe, capture_output=True, text=True)
    assert plain.stdout == "-1"
    with open(write_program(str(tmp_path / "nosync.bpf")), "rb") as program:
        filtered = subprocess.run(bwrap + ["--seccomp", str(program.fileno()), "--"] + probe,
                                  capture_output=True, text=True, pass_fds=[program.fileno()])
    assert (filtered.stdout, filtered.returncode) == ("0", 0), filtered.stderr


def test_the_farm_caps_parallel_only_when_its_config_says_so(session, sample, farm_config):
    from buildmaster.dispatch import dispatcher
    from buildmaster.model import Build
    entry = session.get(Build, 8).buildqueue_record
    assert farm_config.builddmaster.max_parallel == 0
    assert "parallel" not in dispatcher.build_request(farm_config, entry)[1][3]
    farm_config.builddmaster.max_parallel = 2
    assert dispatcher.build_request(farm_config, entry)[1][3]["parallel"] == 2


@pytest_twisted.ensureDeferred
async def test_ccache_lives_outside_the_chroot_one_per_series(tmp_path, counted_dir,
                                                              buildd_chroot):
    from buildmaster.testing.aptrepo import make_binary_package
    from slave.chroot import BUILDD_UID
    # A stand-in ccache: what the slave installs when ccache is on.
    archive = archive_line(counted_dir, [make_binary_package(str(tmp_path), "ccache", "4.8")])
    process = slave_with(tmp_path, ccache_dir=tmp_path / "ccache")
    try:
        client = SlaveClient(process.url, timeout=20)
        status, log = await build(client, counted_dir, buildd_chroot, archive, "1-1")
    finally:
        process.stop()
    assert status["build_status"] == "BuildStatus.OK"
    lines = log.splitlines()
    assert f"[slave] ccache in {tmp_path / 'ccache' / SUITE}" in lines
    assert "[slave] installing build-dependencies: fakeroot, ccache" in lines
    assert "CCACHE_DIR=[/var/cache/buildd-ccache]" in lines
    touched = tmp_path / "ccache" / SUITE / "touched-by-the-build"
    assert touched.exists() and touched.stat().st_uid == BUILDD_UID
