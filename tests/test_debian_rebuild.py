"""Real Debian packages, downloaded as users download them, rebuilt by the farm.

bookworm's own source packages, fetched with ``apt-get source
--download-only`` from this host's mirror and kept outside the checkout
(``buildmaster.testing.debiansources``), are uploaded with ``buildmaster
upload`` to a farm of real processes: a ``twistd`` master that
schedules, dispatches, collects and publishes, and two slaves building
each in a fresh overlay on the bookworm buildd chroot.  Debian's archive
(the host's mirror, bookworm main) is the series' external dependency
line, so build-dependencies come from Debian and every package the
farm builds comes from the farm.

The packages are small and of different shapes:

- hello: a C program built with the compiler and debhelper, format 3.0
  (quilt), its orig tarball signed upstream (the .asc is sent along);
- cowsay: ``Architecture: all``;
- sl: build-depends on a library's development package (ncurses);
- mbw: format 1.0, an orig tarball and a .diff.gz.

Every one must end FULLYBUILT with its binaries published in the farm's
archive, from which ``apt-get install hello`` in a fresh chroot installs
a hello that greets.  The test prints each build's time.

Select it with ``pytest -m end_to_end``.
"""

import signal

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import threads

from buildmaster import config as configmodule
from buildmaster.archive.dependencies import archive_url
from buildmaster.model import BuildStatus, PackagePublishingStatus
from buildmaster.model import BinaryPackagePublishingHistory as BPPH
from buildmaster.testing.chroots import ScratchChroot
from buildmaster.testing.debiansources import debian_sources, mirror_line  # noqa: F401
from buildmaster.testing.farm import (  # noqa: F401
    STARTED, all_finished, chroot, master, master_config_text, native_world, slaves,
    until, upload_dsc)
from slave.chroot import BaseCache

pytestmark = pytest.mark.end_to_end

SERIES = "rebuild"
PACKAGES = ("hello", "cowsay", "sl", "mbw")
# The binaries each source must leave published (besides debhelper's
# -dbgsym packages), and whether they are arch-specific.
BINARIES = {"hello": {"hello": True}, "cowsay": {"cowsay": False, "cowsay-off": False},
            "sl": {"sl": True}, "mbw": {"mbw": True}}
BUILD_TIMEOUT = 2400


@pytest.fixture
def world(sample, session, slaves, chroot):
    return native_world(sample, session, slaves, chroot, SERIES)


@pytest.fixture
def master_config(db, farm_config, tmp_path, smtp_server, world):
    path = tmp_path / "master.conf"
    path.write_text(master_config_text(
        db, farm_config, tmp_path, smtp_server, job_timeout=300,
        external={f"ubuntu/{SERIES}": mirror_line("deb", "bookworm")}))
    return configmodule.load(str(path))


def published(session, builds):
    """A check for ``until``: every binary of ``builds`` is PUBLISHED."""
    def check():
        session.rollback()
        ids = [binary.id for build in builds for binary in build.binarypackages]
        states = session.scalars(sa.select(BPPH.status).where(
            BPPH.binarypackagerelease_id.in_(ids))).all()
        session.rollback()
        return ids and len(states) == len(ids) and all(
            state == PackagePublishingStatus.PUBLISHED for state in states)
    return check


@pytest_twisted.ensureDeferred
async def test_debians_packages_rebuild_publish_and_install(
        master, master_config, session, sample, slaves, chroot, debian_sources, tmp_path,
        capsys):
    dscs = {name: debian_sources.dsc(name) for name in PACKAGES}
    master.start()
    await master.logged(STARTED)
    for name, dsc in dscs.items():
        done = upload_dsc(master_config.path, dsc, SERIES)
        assert done.returncode == 0, done.stderr

    found = await until(all_finished(session, PACKAGES), "rebuilt Debian's packages",
                        master, timeout=BUILD_TIMEOUT, interval=1)
    with capsys.disabled():
        print()
        for name, (build,) in found.items():
            release = build.sourcepackagerelease
            print(f"  {name} {release.version} ({release.dsc_format}): "
                  f"{build.buildstate.name} in {build.buildduration} "
                  f"on {build.builder.name}")
    assert {name: [b.buildstate for b in builds] for name, builds in found.items()} == {
        name: [BuildStatus.FULLYBUILT] for name in PACKAGES}
    assert {name: {b.name: b.architecturespecific for b in builds[0].binarypackages
                   if not b.name.endswith("-dbgsym")}
            for name, builds in found.items()} == BINARIES

    builds = [builds[0] for builds in found.values()]
    await until(published(session, builds), "published the rebuilt binaries", master)

    base = next(path for slave in slaves
                if BaseCache(slave.workdir).has(chroot.content.sha1)
                for path in [BaseCache(slave.workdir).path(chroot.content.sha1)])
    farm = archive_url(master_config, sample.primary)
    scratch = ScratchChroot(tmp_path / "fresh", base, [f"deb [trusted=yes] {farm} {SERIES} main"])
    try:
        for argv in (["apt-get", "update"], ["apt-get", "install", "--yes", "hello"]):
            done = await threads.deferToThread(scratch.run, *argv)
            assert done.returncode == 0, done.stdout + done.stderr
        version = found["hello"][0].sourcepackagerelease.version
        assert f"Setting up hello ({version})" in done.stdout
        greeting = await threads.deferToThread(scratch.run, "hello")
        assert greeting.stdout == "Hello, world!\n"
    finally:
        scratch.remove()
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
