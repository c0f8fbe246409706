"""A Build: one source package release built for one architecture."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from buildmaster.model.archive import Archive
from buildmaster.model.base import Base, enum_column, utcnow
from buildmaster.model.buildevent import BuildEvent
from buildmaster.model.distribution import DistroArchSeries, Processor
from buildmaster.model.enums import (
    BuildStatus, PackagePublishingPocket, PackagePublishingStatus)
from buildmaster.model.librarian import LibraryFileAlias
from buildmaster.model.package import SourcePackageRelease


class Build(Base):
    __tablename__ = "build"
    __table_args__ = (
        sa.Index("build__buildstate", "buildstate"),
        sa.Index("build__sourcepackagerelease__distroarchseries__archive",
                 "sourcepackagerelease_id", "distroarchseries_id", "archive_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sourcepackagerelease_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sourcepackagerelease.id"))
    distroarchseries_id: Mapped[int] = mapped_column(sa.ForeignKey("distroarchseries.id"))
    archive_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"), index=True)
    pocket: Mapped[PackagePublishingPocket] = mapped_column(
        enum_column(PackagePublishingPocket))
    processor_id: Mapped[int] = mapped_column(sa.ForeignKey("processor.id"))
    buildstate: Mapped[BuildStatus] = mapped_column(enum_column(BuildStatus))
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    datebuilt: Mapped[Optional[datetime.datetime]]
    buildduration: Mapped[Optional[datetime.timedelta]] = mapped_column(sa.Interval)
    builder_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("builder.id"))
    buildlog_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("libraryfilealias.id"))
    upload_log_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("libraryfilealias.id"))
    dependencies: Mapped[Optional[str]] = mapped_column(sa.Text)
    failure_count: Mapped[int] = mapped_column(default=0)
    # Warning lines in its log and upload log (buildmaster.health.colours);
    # None until it finishes.
    warnings: Mapped[Optional[int]]
    # Where its last attempt's time went, {step: seconds} as its slave's
    # log says (common/steptimes.py); None when the log said nothing.
    step_times: Mapped[Optional[dict]] = mapped_column(sa.JSON)

    sourcepackagerelease: Mapped[SourcePackageRelease] = relationship()
    distroarchseries: Mapped[DistroArchSeries] = relationship()
    archive: Mapped[Archive] = relationship()
    processor: Mapped[Processor] = relationship()
    builder: Mapped[Optional["Builder"]] = relationship()  # noqa: F821
    buildlog: Mapped[Optional[LibraryFileAlias]] = relationship(foreign_keys=[buildlog_id])
    upload_log: Mapped[Optional[LibraryFileAlias]] = relationship(
        foreign_keys=[upload_log_id])
    buildqueue_record: Mapped[Optional["BuildQueue"]] = relationship(  # noqa: F821
        back_populates="build", uselist=False)
    binarypackages: Mapped[list["BinaryPackageRelease"]] = relationship(  # noqa: F821
        back_populates="build", order_by="BinaryPackageRelease.id")

    @property
    def distroseries(self):
        return self.distroarchseries.distroseries

    @property
    def distribution(self):
        return self.distroseries.distribution

    @property
    def title(self):
        """As the seeds print it: 'i386 build of evolution 1.0 in ubuntu hoary RELEASE'."""
        spr = self.sourcepackagerelease
        return (f"{self.distroarchseries.architecturetag} build of {spr.name} "
                f"{spr.version} in {self.distribution.name} "
                f"{self.distroseries.name} {self.pocket.name}")

    @property
    def label(self):
        """'build 9 (foobar 1.0 i386)', as the operators' log names a build."""
        spr = self.sourcepackagerelease
        return (f"build {self.id} ({spr.name} {spr.version} "
                f"{self.distroarchseries.architecturetag})")

    @property
    def public_label(self):
        """``label`` where anyone may read it (a builder's notes): a
        private archive's build is only 'a private build'."""
        return "a private build" if self.archive.private else self.label

    def describe(self, builder_name):
        """'build 8 (mozilla-firefox 0.9 i386) on bob', for the operators' log."""
        return f"{self.label} on {builder_name}"

    @property
    def suite(self):
        """The series name with the pocket suffix apt uses: 'hoary', 'hoary-updates'."""
        if self.pocket == PackagePublishingPocket.RELEASE:
            return self.distroseries.name
        return f"{self.distroseries.name}-{self.pocket.name.lower()}"

    @property
    def arch_indep(self):
        """True when this build makes the source's arch-independent
        (``Architecture: all``) packages too: it is on its series'
        nominated arch-indep architecture, so they are built once."""
        return self.distroseries.nominatedarchindep_id == self.distroarchseries_id

    def note(self, state, at, builder=None):
        """Record that it went ``state`` (a BuildStatus) at ``at``, on
        ``builder``: a change no BuildOutcome records (BuildEvent).  The
        caller commits."""
        object_session(self).add(BuildEvent(build_id=self.id, state=state.name, at=at,
                                            builder=builder))

    def reset_for_retry(self):
        """Back to NEEDSBUILD with nothing of the last attempt but its files
        in the librarian: no builder, dates, logs, dependencies, warnings
        or failures."""
        self.buildstate = BuildStatus.NEEDSBUILD
        self.builder = None
        self.datebuilt = None
        self.buildduration = None
        self.buildlog = None
        self.upload_log = None
        self.dependencies = None
        self.warnings = None
        self.step_times = None
        self.failure_count = 0

    def createBuildQueueEntry(self, lastscore=0):
        """Queue this build: a new pending BuildQueue row for it."""
        from buildmaster.model.buildqueue import BuildQueue
        entry = BuildQueue(
            build=self, lastscore=lastscore, processor_id=self.processor_id,
            virtualized=self.archive.require_virtualized)
        session = object_session(self)
        session.add(entry)
        session.flush()
        return entry

    @property
    def current_source_publication(self):
        """The live publication of this build's source in its archive and series."""
        return self._source_publications(only_active=True).first()

    def _source_publications(self, only_active):
        from buildmaster.model.publishing import SourcePackagePublishingHistory as SPPH
        query = sa.select(SPPH).where(
            SPPH.sourcepackagerelease_id == self.sourcepackagerelease_id,
            SPPH.archive_id == self.archive_id,
            SPPH.distroseries_id == self.distroarchseries.distroseries_id,
        ).order_by(SPPH.id.desc())
        if only_active:
            query = query.where(SPPH.status.in_([
                PackagePublishingStatus.PENDING, PackagePublishingStatus.PUBLISHED]))
        return object_session(self).scalars(query)

    @property
    def current_component(self):
        """The component of the live source publication, else the upload's."""
        publication = self._source_publications(only_active=False).first()
        if publication is not None:
            return publication.component
        return self.sourcepackagerelease.component
