"""Publishing history: which source and binary releases are in which archive."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.archive import Archive
from buildmaster.model.base import Base, enum_column, utcnow
from buildmaster.model.distribution import Component, DistroArchSeries, DistroSeries
from buildmaster.model.enums import PackagePublishingPocket, PackagePublishingStatus
from buildmaster.model.package import BinaryPackageRelease, SourcePackageRelease

ACTIVE_STATUSES = (PackagePublishingStatus.PENDING, PackagePublishingStatus.PUBLISHED)


class SourcePackagePublishingHistory(Base):
    __tablename__ = "sourcepackagepublishinghistory"
    __table_args__ = (
        sa.Index("sourcepackagepublishinghistory__archive__series__status",
                 "archive_id", "distroseries_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sourcepackagerelease_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sourcepackagerelease.id"), index=True)
    archive_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"))
    distroseries_id: Mapped[int] = mapped_column(sa.ForeignKey("distroseries.id"))
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("component.id"))
    section: Mapped[str] = mapped_column(sa.String(64), default="misc")
    pocket: Mapped[PackagePublishingPocket] = mapped_column(
        enum_column(PackagePublishingPocket))
    status: Mapped[PackagePublishingStatus] = mapped_column(
        enum_column(PackagePublishingStatus))
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    datepublished: Mapped[Optional[datetime.datetime]]
    datesuperseded: Mapped[Optional[datetime.datetime]]

    sourcepackagerelease: Mapped[SourcePackageRelease] = relationship()
    archive: Mapped[Archive] = relationship()
    distroseries: Mapped[DistroSeries] = relationship()
    component: Mapped[Component] = relationship()

    @property
    def displayname(self):
        spr = self.sourcepackagerelease
        return f"{spr.name} {spr.version} in {self.distroseries.name}"


class BinaryPackagePublishingHistory(Base):
    __tablename__ = "binarypackagepublishinghistory"
    __table_args__ = (
        sa.Index("binarypackagepublishinghistory__archive__das__status",
                 "archive_id", "distroarchseries_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    binarypackagerelease_id: Mapped[int] = mapped_column(
        sa.ForeignKey("binarypackagerelease.id"), index=True)
    archive_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"))
    distroarchseries_id: Mapped[int] = mapped_column(sa.ForeignKey("distroarchseries.id"))
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("component.id"))
    section: Mapped[str] = mapped_column(sa.String(64), default="misc")
    priority: Mapped[str] = mapped_column(sa.String(32), default="optional")
    pocket: Mapped[PackagePublishingPocket] = mapped_column(
        enum_column(PackagePublishingPocket))
    status: Mapped[PackagePublishingStatus] = mapped_column(
        enum_column(PackagePublishingStatus))
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    datepublished: Mapped[Optional[datetime.datetime]]

    binarypackagerelease: Mapped[BinaryPackageRelease] = relationship()
    archive: Mapped[Archive] = relationship()
    distroarchseries: Mapped[DistroArchSeries] = relationship()
    component: Mapped[Component] = relationship()
