"""Archives (primary, partner, PPAs) and the dependencies between them."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.base import Base, enum_column, utcnow
from buildmaster.model.distribution import Component, Distribution
from buildmaster.model.enums import ArchivePurpose, PackagePublishingPocket
from buildmaster.model.person import Person


class Archive(Base):
    __tablename__ = "archive"
    __table_args__ = (sa.UniqueConstraint("distribution_id", "owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    distribution_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution.id"))
    purpose: Mapped[ArchivePurpose] = mapped_column(enum_column(ArchivePurpose))
    name: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    private: Mapped[bool] = mapped_column(default=False)
    buildd_secret: Mapped[Optional[str]] = mapped_column(sa.String(255))
    require_virtualized: Mapped[bool] = mapped_column(default=False)
    relative_build_score: Mapped[int] = mapped_column(default=0)
    # sources.list lines every build in this archive also gets.
    external_dependencies: Mapped[list] = mapped_column(sa.JSON, default=list)

    owner: Mapped[Optional[Person]] = relationship()
    distribution: Mapped[Distribution] = relationship()
    dependencies: Mapped[list["ArchiveDependency"]] = relationship(
        foreign_keys="ArchiveDependency.archive_id", order_by="ArchiveDependency.id",
        back_populates="archive", cascade="all, delete-orphan")
    uploaders: Mapped[list["ArchiveUploader"]] = relationship(
        order_by="ArchiveUploader.id", back_populates="archive",
        cascade="all, delete-orphan")

    @property
    def is_ppa(self):
        return self.purpose == ArchivePurpose.PPA

    @property
    def displayname(self):
        if self.is_ppa:
            return f"PPA for {self.owner.displayname}"
        return f"{self.purpose.title} for {self.distribution.displayname}"

    @property
    def reference(self):
        """The operator's name for this archive: primary, partner, ~owner/name."""
        if self.is_ppa:
            return f"~{self.owner.name}/{self.name}"
        return self.name

    def addArchiveDependency(self, dependency, pocket, component=None):
        """Make this archive's builds see ``dependency`` (another archive)."""
        if dependency.id == self.id:
            raise ValueError(f"{self.reference} cannot depend on itself")
        row = ArchiveDependency(
            dependency=dependency, pocket=pocket, component=component)
        self.dependencies.append(row)
        return row


class ArchiveDependency(Base):
    __tablename__ = "archivedependency"
    __table_args__ = (sa.UniqueConstraint("archive_id", "dependency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    archive_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"))
    dependency_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"))
    pocket: Mapped[PackagePublishingPocket] = mapped_column(
        enum_column(PackagePublishingPocket))
    component_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("component.id"))
    date_created: Mapped[datetime.datetime] = mapped_column(default=utcnow)

    archive: Mapped[Archive] = relationship(
        foreign_keys=[archive_id], back_populates="dependencies")
    dependency: Mapped[Archive] = relationship(foreign_keys=[dependency_id])
    component: Mapped[Optional[Component]] = relationship()


class ArchiveUploader(Base):
    """A person who may upload to an archive: to all of it, or (a primary
    archive) to one component.  A PPA's owner always may, without a row."""

    __tablename__ = "archiveuploader"
    __table_args__ = (sa.UniqueConstraint("archive_id", "person_id", "component_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    archive_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"))
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id"))
    component_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("component.id"))

    archive: Mapped[Archive] = relationship(back_populates="uploaders")
    person: Mapped[Person] = relationship()
    component: Mapped[Optional[Component]] = relationship()
