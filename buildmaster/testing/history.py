"""A build farm's history, made one finished build at a time, for the
build health tests and doctest.

``Farm`` works on the sample world (ubuntu hoary i386, builders bob and
frog) with the sample's running job taken off bob.  ``farm.build(...)``
makes a new version of a source, publishes it and runs its build to the
end through the real scanner (BuilderGroup.updateBuild) on a mock slave
that waits with the given result and build log: the build log, the
upload (real .debs for a good build), the failure mail, and everything
the health hooks do after the commit happen as they do in the daemon.
"""

import datetime
import io
import logging

import sqlalchemy as sa

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.model import rows
from buildmaster.db.engine import Transaction
from buildmaster.model import (
    BuildQueue, BuildStatus, PackagePublishingPocket, SourcePackageName,
    SourcePackageRelease, utcnow)
from buildmaster.scan.scanner import BuilderGroup
from buildmaster.testing.deferreds import wait
from buildmaster.testing.mockslaves import WaitingSlave
from buildmaster.testing.uploads import binary_upload

GOOD_LOG = "dpkg-buildpackage: info: source package {source}\nmake: Nothing to be done\n"
WARNING_LOG = ("dpkg-buildpackage: info: source package {source}\n"
               "hello.c:12:5: warning: unused variable 'x' [-Wunused-variable]\n"
               "dpkg-shlibdeps: warning: debian/hello/usr/bin/hello: no symbols\n")
FAILED_LOG = ("dpkg-buildpackage: info: source package {source}\n"
              "gcc -c hello.c\n"
              "hello.c:7:1: error: expected ';' before '}}' token\n"
              "make: *** [Makefile:4: hello.o] Error 1\n"
              "dpkg-buildpackage: error: debian/rules build subprocess returned "
              "exit status 2\n")
RESULTS = {"OK": "BuildStatus.OK", "PACKAGEFAIL": "BuildStatus.PACKAGEFAIL",
           "CHROOTFAIL": "BuildStatus.CHROOTFAIL", "DEPFAIL": "BuildStatus.DEPFAIL"}


class LoggedSlave(WaitingSlave):
    """Waits with a result and serves ``log`` (bytes) as its build log."""

    def __init__(self, state, build_id, files=None, log=b""):
        super().__init__(state, build_id=build_id, files=files)
        self.log = log

    def getFile(self, name):
        if name == "buildlog":
            return io.BytesIO(self.log)
        return super().getFile(name)


class Farm:
    """Builds finished on demand in ``session``'s sample world."""

    def __init__(self, session, sample, config, librarian, mailer):
        self.session, self.sample = session, sample
        self.config, self.librarian, self.mailer = config, librarian, mailer
        self.group = BuilderGroup(logging.getLogger("test.health"), Transaction(session),
                                  config=config, librarian=librarian, mailer=mailer)
        running = session.get(BuildQueue, 1)
        if running is not None:  # the sample's build 8 on bob
            running.build.buildstate = BuildStatus.NEEDSBUILD
            session.delete(running)
        session.commit()

    def release(self, source, version, archive=None):
        """A new version of ``source`` published in hoary (primary by
        default) with a NEEDSBUILD build for i386; the build."""
        archive = archive or self.sample.primary
        release = self.session.scalars(
            sa.select(SourcePackageRelease).join(SourcePackageName).where(
                SourcePackageName.name == source,
                SourcePackageRelease.version == version)).first()
        if release is None:
            release = rows.source_release(self.session, source, version,
                                          self.sample.person["mark"], section="devel")
        rows.publish_source(self.session, release, archive, self.sample.hoary)
        build = release.createBuild(self.sample.hoary["i386"], archive,
                                    PackagePublishingPocket.RELEASE)
        self.session.commit()
        return build

    def run(self, build, builder, result="OK", log=None, seconds=600):
        """Run ``build`` on ``builder`` (a name), started ``seconds`` ago,
        to the slave's ``result`` with build log ``log`` (default: one
        fitting the result); the build, as the scanner left it."""
        builder = getattr(self.sample, builder)
        spr = build.sourcepackagerelease
        if log is None:
            log = (GOOD_LOG if result == "OK" else FAILED_LOG).format(source=spr.name)
        files = binary_upload(spr.name, spr.version, "i386") if result == "OK" else None
        entry = self.session.scalars(sa.select(BuildQueue).where(
            BuildQueue.build_id == build.id)).first() or build.createBuildQueueEntry()
        entry.markAsBuilding(builder, utcnow() - datetime.timedelta(seconds=seconds))
        build.buildstate = BuildStatus.BUILDING
        builder.setSlaveForTesting(LoggedSlave(
            RESULTS[result], f"{build.id}-{entry.id}", files=files,
            log=log.encode("utf-8")))
        self.session.commit()
        wait(self.group.updateBuild(entry))
        return build

    def build(self, source, version, builder="bob", result="OK", log=None, seconds=600,
              archive=None):
        """A new version of ``source`` built to ``result``; the build."""
        return self.run(self.release(source, version, archive), builder, result, log,
                        seconds)
