"""Distributions, their series and architectures, processors, components."""

from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.base import Base, enum_column
from buildmaster.model.enums import ArchivePurpose, DistroSeriesStatus


class Processor(Base):
    __tablename__ = "processor"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    title: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")


class Component(Base):
    __tablename__ = "component"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Distribution(Base):
    __tablename__ = "distribution"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    displayname: Mapped[str] = mapped_column(sa.String(255))
    title: Mapped[str] = mapped_column(sa.String(255))
    # The farm file's lists (buildmaster.farm): component names in order
    # (Ubuntu's four for a distribution made before the farm file, as the
    # farm always assumed), and the pockets (names) that take uploads.
    components: Mapped[list] = mapped_column(
        sa.JSON, default=lambda: ["main", "restricted", "universe", "multiverse"])
    upload_pockets: Mapped[list] = mapped_column(sa.JSON, default=lambda: ["RELEASE"])

    series: Mapped[list["DistroSeries"]] = relationship(
        back_populates="distribution", order_by="DistroSeries.id")

    def __getitem__(self, name):
        for series in self.series:
            if series.name == name:
                return series
        raise KeyError(name)

    @property
    def main_archive(self):
        return self._archive_of(ArchivePurpose.PRIMARY)

    @property
    def partner_archive(self):
        return self._archive_of(ArchivePurpose.PARTNER)

    def _archive_of(self, purpose):
        from buildmaster.model.archive import Archive
        session = sa.orm.object_session(self)
        return session.scalars(
            sa.select(Archive).where(
                Archive.distribution_id == self.id, Archive.purpose == purpose)
        ).first()


class DistroSeries(Base):
    __tablename__ = "distroseries"
    __table_args__ = (sa.UniqueConstraint("distribution_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    distribution_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution.id"))
    name: Mapped[str] = mapped_column(sa.String(64))
    displayname: Mapped[str] = mapped_column(sa.String(255))
    version: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[DistroSeriesStatus] = mapped_column(enum_column(DistroSeriesStatus))
    nominatedarchindep_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("distroarchseries.id", use_alter=True,
                      name="distroseries_nominatedarchindep_fkey"))
    parent_series_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("distroseries.id"))
    # sources.list lines every build of the series also gets (a Debian
    # mirror, say), and the Debian suite and mirror its chroots are made from.
    external_dependencies: Mapped[list] = mapped_column(sa.JSON, default=list)
    chroot_suite: Mapped[Optional[str]] = mapped_column(sa.String(64))
    chroot_mirror: Mapped[Optional[str]] = mapped_column(sa.String(255))

    distribution: Mapped[Distribution] = relationship(back_populates="series")
    architectures: Mapped[list["DistroArchSeries"]] = relationship(
        back_populates="distroseries", order_by="DistroArchSeries.id",
        foreign_keys="DistroArchSeries.distroseries_id")
    nominatedarchindep: Mapped[Optional["DistroArchSeries"]] = relationship(
        foreign_keys=[nominatedarchindep_id], post_update=True)
    parent_series: Mapped[Optional["DistroSeries"]] = relationship(
        remote_side=[id], foreign_keys=[parent_series_id])

    def __getitem__(self, architecturetag):
        for arch in self.architectures:
            if arch.architecturetag == architecturetag:
                return arch
        raise KeyError(architecturetag)


class DistroArchSeries(Base):
    __tablename__ = "distroarchseries"
    __table_args__ = (sa.UniqueConstraint("distroseries_id", "architecturetag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    distroseries_id: Mapped[int] = mapped_column(sa.ForeignKey("distroseries.id"))
    processor_id: Mapped[int] = mapped_column(sa.ForeignKey("processor.id"))
    architecturetag: Mapped[str] = mapped_column(sa.String(32))
    official: Mapped[bool] = mapped_column(default=True)
    supports_virtualized: Mapped[bool] = mapped_column(default=False)
    chroot_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("libraryfilealias.id"))

    distroseries: Mapped[DistroSeries] = relationship(
        back_populates="architectures", foreign_keys=[distroseries_id])
    processor: Mapped[Processor] = relationship()
    chroot: Mapped[Optional["LibraryFileAlias"]] = relationship()  # noqa: F821

    @property
    def default_processor(self):
        return self.processor

    @property
    def main_archive(self):
        return self.distroseries.distribution.main_archive

    @property
    def displayname(self):
        series = self.distroseries
        return f"{series.distribution.name} {series.name} {self.architecturetag}"

    def addOrUpdateChroot(self, alias):
        """Make ``alias`` (a LibraryFileAlias) this architecture's chroot."""
        self.chroot = alias
        return alias
