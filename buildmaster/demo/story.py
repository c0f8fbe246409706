"""What ``make run`` shows once the master runs: the whole loop.

An application is uploaded before the library it build-depends on: its
build finds no library in the farm's archive and waits (MANUALDEPWAIT).
The library is uploaded, built and published; the publisher then sees
the application's relation satisfied and queues it again, and it builds
against the library from the farm's own archive, nobody running
``retry``.  Finally apt on this host, pointed at the primary archive of
the demo's distribution, lists both packages.

The story runs in the demo's process beside the master's, reading the
database to know when to go on and saying each step on one line; the
master's log shows the same steps as state changes.
"""

import os
import shutil
import time

import sqlalchemy as sa

from buildmaster.model import (
    BinaryPackagePublishingHistory, Build, BuildStatus, PackagePublishingStatus,
    SourcePackageName, SourcePackageRelease)

LIBRARY = "libfarm-greet"
APPLICATION = "hello-farm"
RELATION = f"{LIBRARY} (>= 1.0)"
ENDED = {BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD, BuildStatus.MANUALDEPWAIT,
         BuildStatus.CHROOTWAIT, BuildStatus.SUPERSEDED, BuildStatus.FAILEDTOUPLOAD}


class StoryStopped(Exception):
    """The story cannot go on; the text says what happened instead."""


class Story:
    """The uploads and the waits; ``say`` prints a line, ``cli`` runs a
    ``buildmaster`` command, ``distribution`` and ``series`` name the
    series uploads go to (in the distribution's primary archive), and
    ``running()`` is false once the master has gone."""

    def __init__(self, config_path, directory, distribution, series, say, cli,
                 running=lambda: True, poll=1.0, timeout=1800.0):
        from buildmaster import config as configmodule
        from buildmaster.context import FarmContext
        self.config_path = config_path
        self.directory = directory
        self.distribution, self.series = distribution, series
        self.say, self.cli, self.running = say, cli, running
        self.poll, self.timeout = poll, timeout
        self.context = FarmContext(configmodule.load(config_path))

    def tell(self, known):
        """Tell the story, unless an earlier run already uploaded it (the
        names in ``known``)."""
        try:
            if APPLICATION in known:
                self.say(f"{APPLICATION} and {LIBRARY} were uploaded by an earlier run")
                return
            self.upload(APPLICATION, build_depends=RELATION)
            self.say(f"uploaded {APPLICATION}, which build-depends on {RELATION}, "
                     f"before {LIBRARY}")
            self.expect(APPLICATION, BuildStatus.MANUALDEPWAIT)
            self.say(f"{APPLICATION} waits for {LIBRARY} (MANUALDEPWAIT); "
                     f"uploading {LIBRARY}")
            self.upload(LIBRARY)
            self.expect(LIBRARY, BuildStatus.FULLYBUILT)
            self.say(f"{LIBRARY} is built; the publisher puts it in the archive and "
                     f"queues {APPLICATION} again")
            application = self.expect(APPLICATION, BuildStatus.FULLYBUILT)
            self.say(f"{APPLICATION} is built, against {LIBRARY} from the farm's archive "
                     f"('buildmaster log {application.id}' shows apt installing it)")
            self.wait_published(APPLICATION)
            self.show_host_apt()
        except StoryStopped as stopped:
            self.say(f"the story stops here: {stopped}")
        finally:
            self.context.close()

    def upload(self, name, build_depends=None):
        from buildmaster.testing.debpackages import make_source_package
        sources = os.path.join(self.directory, "sources", name)
        shutil.rmtree(sources, ignore_errors=True)
        os.makedirs(sources)
        dsc = make_source_package(sources, name=name, version="1.0", kind="good",
                                  build_depends=build_depends)
        self.cli("upload", dsc, "--distribution", self.distribution, "--series", self.series)

    def latest_build(self, name):
        with self.context.sessions() as session:
            build = session.scalars(
                sa.select(Build).join(SourcePackageRelease).join(SourcePackageName)
                .where(SourcePackageName.name == name).order_by(Build.id.desc())).first()
            if build is not None:
                session.expunge(build)
            return build

    def until(self, check, what):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise StoryStopped(f"the master stopped while waiting for {what}")
            found = check()
            if found:
                return found
            time.sleep(self.poll)
        raise StoryStopped(f"waited {self.timeout:.0f} s for {what}")

    def expect(self, name, state):
        """Wait for ``name``'s build to reach ``state``; StoryStopped if it
        ends in another."""
        def check():
            build = self.latest_build(name)
            if build is None or build.buildstate not in ENDED:
                return None
            if build.buildstate != state and not (
                    state == BuildStatus.FULLYBUILT
                    and build.buildstate == BuildStatus.MANUALDEPWAIT):
                raise StoryStopped(f"{name} ended {build.buildstate.name}, not "
                                   f"{state.name} (buildmaster log {build.id})")
            return build if build.buildstate == state else None
        return self.until(check, f"{name} to be {state.name}")

    def wait_published(self, name):
        def check():
            with self.context.sessions() as session:
                return session.scalar(
                    sa.select(sa.func.count()).select_from(BinaryPackagePublishingHistory)
                    .join(BinaryPackagePublishingHistory.binarypackagerelease)
                    .join(Build).join(SourcePackageRelease).join(SourcePackageName)
                    .where(SourcePackageName.name == name,
                           BinaryPackagePublishingHistory.status
                           == PackagePublishingStatus.PUBLISHED))
        self.until(check, f"{name} to be published")

    def show_host_apt(self):
        from buildmaster.archive.dependencies import archive_url
        from buildmaster.publisher.signing import public_key
        from buildmaster.testing.hostapt import HostApt
        config = self.context.config
        from buildmaster.operators import lookup
        with self.context.sessions() as session:
            url = archive_url(config, lookup.archive(
                session, lookup.distribution(session, self.distribution), "primary"))
        signing_key = config.archives.signing_key
        options = "" if signing_key else "[trusted=yes] "
        apt = HostApt(os.path.join(self.directory, "host-apt"),
                      [f"deb {options}{url} {self.series} main"],
                      keys=[public_key(signing_key)] if signing_key else [])
        updated = apt.update()
        if updated.returncode != 0:
            raise StoryStopped(f"apt-get update on this host failed: "
                               f"{updated.stderr.strip().splitlines()[-1:]}")
        found = ", ".join(f"{name} {' '.join(apt.versions(name)) or '(missing)'}"
                          for name in (LIBRARY, APPLICATION))
        self.say(f"apt on this host, pointed at {url} {self.series}, finds: {found}")
