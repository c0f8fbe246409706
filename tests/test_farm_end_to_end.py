"""A farm defined by its farm file, from an empty database to apt, every part real.

The database is migrated and empty.  A farm file like the one in
doctests/farm-definition.txt (this machine's processor; acme with its
series rocket, whose external dependency line is this host's own Debian
mirror; alice with her OpenPGP key and her private PPA ``~alice/tools``;
bob and frog pointed at two real slaves) is applied with ``buildmaster
apply``, and ``buildmaster chroot set`` gives acme/rocket the cached
bookworm buildd chroot.  A real ``twistd`` master then builds Debian's
own mbw (fetched from the host's mirror with ``apt-get source``, cached),
its build-dependencies installed from Debian, in acme's primary archive,
and a small source in alice's PPA, both uploaded with ``buildmaster
upload``.  Both end FULLYBUILT and are published: apt on this host finds
mbw in the primary archive, and the private PPA's Packages file is
refused without credentials (401) and read by apt with the line
``buildmaster archive credentials`` prints.

Select it with ``pytest -m end_to_end``.
"""

import signal
from urllib.parse import urlsplit

import pytest
import pytest_twisted
from twisted.internet import threads

from buildmaster import config as configmodule
from buildmaster.archive.chroots import host_architecture
from buildmaster.model import BuildStatus
from buildmaster.publisher.signing import public_key
from buildmaster.testing.debiansources import debian_sources, mirror_line  # noqa: F401
from buildmaster.testing.debpackages import make_source_package
from buildmaster.testing.farm import (  # noqa: F401
    STARTED, all_finished, build_log, buildmaster, http_get, master, master_config_text,
    published, slaves, until)
from buildmaster.testing.fixtures import TEST_SIGNING_KEY
from buildmaster.testing.gpgkeys import throwaway_keys  # noqa: F401
from buildmaster.testing.hostapt import HostApt
from buildmaster.testing.slaveprocess import free_port

pytestmark = pytest.mark.end_to_end

ARCH = host_architecture()
SERIES = "rocket"
PUBLIC, PRIVATE = "mbw", "alice-tool"

FARM = """\
[[processor]]
name = "{arch}"

[[distribution]]
name = "acme"
title = "Acme Linux"
components = ["main", "contrib"]

[[distribution.series]]
name = "rocket"
version = "1.0"
status = "DEVELOPMENT"
architectures = {{ {arch} = "{arch}" }}
nominated_arch_indep = "{arch}"
external_dependencies = ["{debian}"]

[[person]]
name = "alice"
email = "alice@example.org"
openpgp_keys = ["alice.asc"]

[[archive]]
reference = "~alice/tools"
distribution = "acme"
private = true

[[builder]]
name = "bob"
url = "{bob}"
processor = "{arch}"

[[builder]]
name = "frog"
url = "{frog}"
processor = "{arch}"
"""


@pytest.fixture
def master_config(db, farm_config, tmp_path, smtp_server):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    path = tmp_path / "master.conf"
    path.write_text(master_config_text(
        db, farm_config, tmp_path, smtp_server, archive_port=port,
        archives=f"primary_url = {base}/primary\nppa_url = {base}/ppa\n"
                 f"private_ppa_url = {base}/private\nsigning_key = {TEST_SIGNING_KEY}\n",
        job_timeout=300))
    return configmodule.load(str(path))


async def apt_versions(directory, line, package):
    """The versions of ``package`` apt on this host finds with ``line`` alone."""
    apt = HostApt(directory, [line], keys=[public_key(TEST_SIGNING_KEY)])
    updated = await threads.deferToThread(apt.update)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    return await threads.deferToThread(apt.versions, package)


@pytest_twisted.ensureDeferred
async def test_a_farm_file_on_an_empty_database_builds_publishes_and_guards_its_ppa(
        master, master_config, session, slaves, buildd_chroot, debian_sources,
        throwaway_keys, tmp_path):  # noqa: F811
    def run(*args):
        done = buildmaster(master_config.path, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert run("distribution", "list") == "No distributions.\n"
    alice = throwaway_keys.make("Alice <alice@example.org>")
    throwaway_keys.export(tmp_path / "alice.asc", alice, armor=True)
    (tmp_path / "farm.toml").write_text(FARM.format(
        arch=ARCH, debian=mirror_line("deb", "bookworm"), bob=slaves[0].url,
        frog=slaves[1].url))
    assert run("apply", tmp_path / "farm.toml").splitlines()[-1] == "Applied."
    run("chroot", "set", f"acme/{SERIES}/{ARCH}", buildd_chroot)

    master.start()
    await master.logged(STARTED)
    where = ("--distribution", "acme", "--series", SERIES)
    run("upload", debian_sources.dsc(PUBLIC), *where)
    run("upload", make_source_package(str(tmp_path / PRIVATE), name=PRIVATE), *where,
        "--archive", "~alice/tools")
    found = await until(all_finished(session, [PUBLIC, PRIVATE]), "finished both builds",
                        master, timeout=1200, interval=1)
    assert {name: [b.buildstate for b in builds] for name, builds in found.items()} == {
        PUBLIC: [BuildStatus.FULLYBUILT], PRIVATE: [BuildStatus.FULLYBUILT]}
    builds = [builds[0] for builds in found.values()]
    assert "Setting up debhelper" in build_log(master_config, builds[0]), \
        "debhelper, from Debian by the series' line"
    await until(published(session, builds), "published both", master)

    primary = f"{master_config.archives.primary_url}/acme"
    version = found[PUBLIC][0].sourcepackagerelease.version
    assert await apt_versions(tmp_path / "apt-public", f"deb {primary} {SERIES} main",
                              PUBLIC) == [version]

    line = run("archive", "credentials", "~alice/tools").strip()
    secret = urlsplit(line.split()[1])
    ppa = f"{master_config.archives.private_ppa_url}/alice/tools/acme"
    packages = f"{ppa}/dists/{SERIES}/main/binary-{ARCH}/Packages"
    assert (await http_get(packages))[0] == 401
    assert (await http_get(packages, auth=("buildd", "wrong")))[0] == 401
    code, body = await http_get(packages, auth=(secret.username, secret.password))
    assert (code, f"Package: {PRIVATE}\n" in body.decode()) == (200, True)
    assert await apt_versions(tmp_path / "apt-private", line, PRIVATE) == ["1.0"]
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
