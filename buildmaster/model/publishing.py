"""Publishing history: which source and binary releases are in which archive."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from buildmaster.model.archive import Archive
from buildmaster.model.base import Base, enum_column, utcnow
from buildmaster.model.distribution import Component, DistroArchSeries, DistroSeries
from buildmaster.model.enums import PackagePublishingPocket, PackagePublishingStatus
from buildmaster.model.package import BinaryPackageRelease, SourcePackageRelease

ACTIVE_STATUSES = (PackagePublishingStatus.PENDING, PackagePublishingStatus.PUBLISHED)


class PublishingMixin:
    """What every publication has: where, in which pocket, in what state."""

    id: Mapped[int] = mapped_column(primary_key=True)
    archive_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"))
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("component.id"))
    section: Mapped[str] = mapped_column(sa.String(64), default="misc")
    pocket: Mapped[PackagePublishingPocket] = mapped_column(
        enum_column(PackagePublishingPocket))
    status: Mapped[PackagePublishingStatus] = mapped_column(
        enum_column(PackagePublishingStatus))
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    datepublished: Mapped[Optional[datetime.datetime]]
    # When the publisher took a no longer live publication out of the
    # indexes; NULL while it is still in them (or never was).
    dateremoved: Mapped[Optional[datetime.datetime]]

    @declared_attr
    def archive(cls) -> Mapped[Archive]:
        return relationship()

    @declared_attr
    def component(cls) -> Mapped[Component]:
        return relationship()


class SourcePackagePublishingHistory(PublishingMixin, Base):
    __tablename__ = "sourcepackagepublishinghistory"
    __table_args__ = (
        sa.Index("sourcepackagepublishinghistory__archive__series__status",
                 "archive_id", "distroseries_id", "status"),
    )

    sourcepackagerelease_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sourcepackagerelease.id"), index=True)
    distroseries_id: Mapped[int] = mapped_column(sa.ForeignKey("distroseries.id"))
    datesuperseded: Mapped[Optional[datetime.datetime]]

    sourcepackagerelease: Mapped[SourcePackageRelease] = relationship()
    distroseries: Mapped[DistroSeries] = relationship()

    @property
    def displayname(self):
        spr = self.sourcepackagerelease
        return f"{spr.name} {spr.version} in {self.distroseries.name}"


class BinaryPackagePublishingHistory(PublishingMixin, Base):
    __tablename__ = "binarypackagepublishinghistory"
    __table_args__ = (
        sa.Index("binarypackagepublishinghistory__archive__das__status",
                 "archive_id", "distroarchseries_id", "status"),
    )

    binarypackagerelease_id: Mapped[int] = mapped_column(
        sa.ForeignKey("binarypackagerelease.id"), index=True)
    distroarchseries_id: Mapped[int] = mapped_column(sa.ForeignKey("distroarchseries.id"))
    priority: Mapped[str] = mapped_column(sa.String(32), default="optional")

    binarypackagerelease: Mapped[BinaryPackageRelease] = relationship()
    distroarchseries: Mapped[DistroArchSeries] = relationship()
