"""The sample world the seed doctests live in.

One distribution, ``ubuntu``, with ``warty`` (CURRENT) and ``hoary``
(DEVELOPMENT), each with an ``i386`` architecture whose chroot is a real
(tiny) tarball; the primary and partner archives and two PPAs; people,
builders and three source packages with publications and builds.

Rows are created in order so their ids match the seeds' stories:

* LibraryFileAlias 1 is the chroot, 3 is ``firefox_0.9.2.orig.tar.gz``;
  2, 5 and 6 are foobar's tarball, .dsc and i386 .deb, real packages
  (buildmaster.seeds.samplepackages) the publisher can index.  The next
  file stored is 7, as the librarian and mail doctests expect.
* Build 8 (mozilla-firefox 0.9, hoary i386) is BUILDING on ``bob`` as
  BuildQueue 1, so a slave answering job "8-1" is sane, "7-1" pairs a
  queue entry with the wrong build and "1000-10000" names nothing.
* Build 2 (mozilla-firefox 0.9, warty RELEASE) can not be collected:
  warty is CURRENT, its RELEASE pocket is closed.
* Build 6 (foobar 1.0, warty i386) has binary packages: foobar's .deb,
  published in warty.
* Build 9 (foobar 1.0, hoary i386) waits in the queue as BuildQueue 2.

Bugs, external bug trackers and their watches come last
(buildmaster.seeds.samplebugs), so they leave every id above as it was.
"""

import datetime
import io
import tarfile

import sqlalchemy as sa

from buildmaster.model import rows
from buildmaster.seeds import samplebugs, samplepackages
from buildmaster.model import (
    UTC, Archive, ArchivePurpose, Builder, BuildQueue, BuildStatus, Distribution,
    DistroArchSeries, DistroSeries, DistroSeriesStatus, PackagePublishingStatus,
    Person, Processor, SourcePackageFileType, SourcePackageUrgency)

RELEASE_TIME = datetime.datetime(2005, 1, 1, 8, 0, 0, tzinfo=UTC)

PEOPLE = [
    # name, displayname, preferred email
    ("mark", "Mark Shuttleworth", "mark@example.com"),
    ("cprov", "Celso Providelo", "celso.providelo@canonical.com"),
    ("foo.bar", "Foo Bar", "foo.bar@canonical.com"),
    ("celso", "Celso (build team)", "celso@example.com"),
]

# The addresses the sample configuration names as buildd admins.
BUILDD_ADMINS = ["foo.bar@canonical.com", "celso.providelo@canonical.com"]


class AlreadyLoaded(Exception):
    """The sample data (or some other distribution data) is already there."""


def tarball(members):
    """A small, reproducible .tar.gz holding ``members`` {path: text}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for path, text in sorted(members.items()):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 1104566400, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CHROOT = tarball({
    "chroot-autobuild/etc/debian_version": "12.0\n",
    "chroot-autobuild/etc/apt/sources.list":
        "deb http://ftpmaster.internal/ubuntu hoary main\n",
})


def load(session, librarian):
    """Create the sample world in ``session``; refuses to load twice."""
    if session.scalar(sa.select(sa.func.count()).select_from(Distribution)):
        raise AlreadyLoaded("sample data is already loaded")
    world = _World(session, librarian)
    world.build()
    session.flush()
    return world


class _World:
    def __init__(self, session, librarian):
        self.session = session
        self.librarian = librarian

    def add(self, row):
        self.session.add(row)
        self.session.flush()
        return row

    def build(self):
        self.files()
        self.people()
        self.distribution()
        self.archives()
        self.builders()
        self.sources()
        self.builds()
        samplebugs.load(self, RELEASE_TIME)

    def files(self):
        add = self.librarian.add_bytes
        self.chroot = add(self.session, "chroot-ubuntu-i386.tar.gz", CHROOT,
                          mimetype="application/x-gtar")
        foobar_source = samplepackages.source()
        self.foobar_tarball = add(
            self.session, samplepackages.TARBALL_NAME,
            foobar_source[samplepackages.TARBALL_NAME], mimetype="application/x-xz")
        self.firefox_orig = add(
            self.session, "firefox_0.9.2.orig.tar.gz",
            tarball({"mozilla-firefox-0.9.2/README": "firefox 0.9.2\n"}),
            mimetype="application/x-gtar")
        self.evolution_tar = add(
            self.session, "evolution-1.0.tar.gz",
            tarball({"evolution-1.0/README": "evolution 1.0\n"}),
            mimetype="application/x-gtar")
        self.foobar_dsc = add(self.session, samplepackages.DSC_NAME,
                              foobar_source[samplepackages.DSC_NAME], mimetype="text/plain")
        self.foobar_deb = add(self.session, samplepackages.DEB_NAME, samplepackages.binary(),
                              mimetype="application/x-debian-package")

    def people(self):
        self.person = {name: self.add(Person(name=name, displayname=display,
                                             preferred_email=email))
                       for name, display, email in PEOPLE}

    def distribution(self):
        self.i386 = self.add(Processor(name="386", title="Intel 386",
                                       description="Intel 386 and compatible"))
        self.amd64 = self.add(Processor(name="amd64", title="AMD 64bit",
                                        description="AMD and Intel 64-bit"))
        self.ubuntu = self.add(Distribution(name="ubuntu", displayname="Ubuntu",
                                            title="Ubuntu Linux"))
        for name in ("main", "restricted", "universe", "multiverse", "partner"):
            rows.component(self.session, name)
        self.warty = self.series("warty", "4.10", DistroSeriesStatus.CURRENT)
        self.hoary = self.series("hoary", "5.04", DistroSeriesStatus.DEVELOPMENT)

    def series(self, name, version, status):
        series = self.add(DistroSeries(distribution=self.ubuntu, name=name,
                                       displayname=name.capitalize(),
                                       version=version, status=status))
        arch = self.add(DistroArchSeries(
            distroseries=series, processor=self.i386, architecturetag="i386",
            official=True, supports_virtualized=True, chroot=self.chroot))
        series.nominatedarchindep = arch
        return series

    def archives(self):
        def archive(purpose, name, owner=None, **extra):
            return self.add(Archive(distribution=self.ubuntu, purpose=purpose,
                                    name=name, owner=owner, **extra))
        self.primary = archive(ArchivePurpose.PRIMARY, "primary")
        self.partner = archive(ArchivePurpose.PARTNER, "partner")
        self.cprov_ppa = archive(ArchivePurpose.PPA, "ppa", self.person["cprov"],
                                 require_virtualized=True)
        self.mark_ppa = archive(ArchivePurpose.PPA, "ppa", self.person["mark"],
                                require_virtualized=True)

    def builders(self):
        self.bob = self.add(Builder(
            name="bob", title="Bob The Builder", url="http://localhost:8221/",
            processor=self.i386, virtualized=False, owner=self.person["foo.bar"],
            description="The default non-virtualized i386 builder"))
        self.frog = self.add(Builder(
            name="frog", title="The Frog Builder", url="http://localhost:9221/",
            processor=self.i386, virtualized=False, owner=self.person["foo.bar"],
            description="A second non-virtualized i386 builder"))

    def sources(self):
        mark = self.person["mark"]
        self.firefox = rows.source_release(
            self.session, "mozilla-firefox", "0.9", mark, section="web",
            urgency=SourcePackageUrgency.LOW,
            files=[(self.firefox_orig, SourcePackageFileType.ORIG_TARBALL)])
        self.evolution = rows.source_release(
            self.session, "evolution", "1.0", mark, section="mail",
            urgency=SourcePackageUrgency.MEDIUM,
            files=[(self.evolution_tar, SourcePackageFileType.NATIVE_TARBALL)])
        self.foobar = rows.source_release(
            self.session, "foobar", "1.0", mark, section="devel",
            files=[(self.foobar_dsc, SourcePackageFileType.DSC),
                   (self.foobar_tarball, SourcePackageFileType.NATIVE_TARBALL)])
        publish = rows.publish_source
        for release in (self.firefox, self.evolution, self.foobar):
            publish(self.session, release, self.primary, self.warty)
            publish(self.session, release, self.primary, self.hoary)
        # mozilla-firefox is published twice in hoary, as the seed's
        # supersede-then-delete story needs.
        publish(self.session, self.firefox, self.primary, self.hoary)
        publish(self.session, self.foobar, self.mark_ppa, self.warty)
        publish(self.session, self.evolution, self.cprov_ppa, self.hoary)
        publish(self.session, self.firefox, self.mark_ppa, self.hoary)

    def builds(self):
        warty_i386, hoary_i386 = self.warty["i386"], self.hoary["i386"]
        bob = self.bob

        def build(release, arch, archive, state, builder=None, **extra):
            made = release.createBuild(arch, archive, rows.PackagePublishingPocket.RELEASE,
                                       status=state)
            made.builder = builder
            for key, value in extra.items():
                setattr(made, key, value)
            if state not in (BuildStatus.NEEDSBUILD, BuildStatus.BUILDING):
                made.datebuilt = RELEASE_TIME + datetime.timedelta(hours=made.id)
                made.buildduration = datetime.timedelta(minutes=10)
            return made

        build(self.evolution, warty_i386, self.primary, BuildStatus.FULLYBUILT, bob)  # 1
        build(self.firefox, warty_i386, self.primary, BuildStatus.FULLYBUILT, bob)  # 2
        build(self.foobar, warty_i386, self.mark_ppa, BuildStatus.FAILEDTOBUILD, bob)  # 3
        build(self.evolution, hoary_i386, self.cprov_ppa, BuildStatus.MANUALDEPWAIT,
              bob, dependencies="libgtk2.0-dev (>= 2.6)")  # 4
        build(self.firefox, hoary_i386, self.mark_ppa, BuildStatus.CHROOTWAIT, bob)  # 5
        foobar = build(self.foobar, warty_i386, self.primary, BuildStatus.FULLYBUILT, bob)  # 6
        build(self.evolution, hoary_i386, self.primary, BuildStatus.FULLYBUILT, bob)  # 7
        firefox = build(self.firefox, hoary_i386, self.primary, BuildStatus.BUILDING)  # 8
        waiting = build(self.foobar, hoary_i386, self.primary, BuildStatus.NEEDSBUILD)  # 9

        binary = rows.binary_release(self.session, foobar, "foobar", "1.0",
                                     files=[self.foobar_deb], summary="foobar utility")
        rows.publish_binary(self.session, binary, self.primary, warty_i386,
                            status=PackagePublishingStatus.PUBLISHED)

        running = firefox.createBuildQueueEntry(lastscore=1)  # BuildQueue 1
        running.markAsBuilding(bob, RELEASE_TIME)
        running.logtail = "Dummy sampledata entry, not processing"
        waiting.createBuildQueueEntry(lastscore=10)  # BuildQueue 2
        self.session.flush()
        assert (firefox.id, waiting.id, running.id) == (8, 9, 1), \
            "sample data must load into an empty database"
        assert self.session.get(BuildQueue, 2).build_id == 9
