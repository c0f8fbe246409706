"""Source and binary package releases and their files."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from buildmaster.model.base import Base, enum_column, utcnow
from buildmaster.model.distribution import Component, DistroSeries
from buildmaster.model.enums import (
    BinaryPackageFileType, BuildStatus, SourcePackageFileType, SourcePackageUrgency)
from buildmaster.model.librarian import LibraryFileAlias
from buildmaster.model.person import Person


class SourcePackageName(Base):
    __tablename__ = "sourcepackagename"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)


class SourcePackageRelease(Base):
    __tablename__ = "sourcepackagerelease"
    __table_args__ = (sa.UniqueConstraint("sourcepackagename_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sourcepackagename_id: Mapped[int] = mapped_column(sa.ForeignKey("sourcepackagename.id"))
    version: Mapped[str] = mapped_column(sa.String(255))
    creator_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id"))
    maintainer_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id"))
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("component.id"))
    section: Mapped[str] = mapped_column(sa.String(64), default="misc")
    urgency: Mapped[SourcePackageUrgency] = mapped_column(
        enum_column(SourcePackageUrgency), default=SourcePackageUrgency.LOW)
    architecturehintlist: Mapped[str] = mapped_column(sa.String(255), default="any")
    builddepends: Mapped[str] = mapped_column(sa.Text, default="")
    dsc_format: Mapped[str] = mapped_column(sa.String(16), default="1.0")
    upload_distroseries_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("distroseries.id"))
    dateuploaded: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    # Who signed the .dsc, when the farm checks signatures ([upload] keyring).
    signing_key_fingerprint: Mapped[Optional[str]] = mapped_column(sa.String(64))
    signing_key_uid: Mapped[Optional[str]] = mapped_column(sa.String(255))

    sourcepackagename: Mapped[SourcePackageName] = relationship()
    creator: Mapped[Person] = relationship(foreign_keys=[creator_id])
    maintainer: Mapped[Person] = relationship(foreign_keys=[maintainer_id])
    component: Mapped[Component] = relationship()
    upload_distroseries: Mapped[Optional[DistroSeries]] = relationship()
    files: Mapped[list["SourcePackageReleaseFile"]] = relationship(
        back_populates="sourcepackagerelease", order_by="SourcePackageReleaseFile.id")

    @property
    def name(self):
        return self.sourcepackagename.name

    @property
    def title(self):
        return f"{self.name} - {self.version}"

    def createBuild(self, distroarchseries, archive, pocket, processor=None,
                    status=BuildStatus.NEEDSBUILD):
        """A new Build of this source for one architecture, archive and pocket."""
        from buildmaster.model.build import Build
        build = Build(
            sourcepackagerelease=self, distroarchseries=distroarchseries,
            archive=archive, pocket=pocket,
            processor=processor or distroarchseries.processor,
            buildstate=status)
        object_session(self).add(build)
        object_session(self).flush()
        return build


class SourcePackageReleaseFile(Base):
    __tablename__ = "sourcepackagereleasefile"

    id: Mapped[int] = mapped_column(primary_key=True)
    sourcepackagerelease_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sourcepackagerelease.id"), index=True)
    libraryfile_id: Mapped[int] = mapped_column(sa.ForeignKey("libraryfilealias.id"))
    filetype: Mapped[SourcePackageFileType] = mapped_column(
        enum_column(SourcePackageFileType))

    sourcepackagerelease: Mapped[SourcePackageRelease] = relationship(
        back_populates="files")
    libraryfile: Mapped[LibraryFileAlias] = relationship()


class BinaryPackageName(Base):
    __tablename__ = "binarypackagename"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)


class BinaryPackageRelease(Base):
    __tablename__ = "binarypackagerelease"
    __table_args__ = (sa.UniqueConstraint("binarypackagename_id", "version", "build_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    binarypackagename_id: Mapped[int] = mapped_column(sa.ForeignKey("binarypackagename.id"))
    version: Mapped[str] = mapped_column(sa.String(255))
    build_id: Mapped[int] = mapped_column(sa.ForeignKey("build.id"), index=True)
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("component.id"))
    section: Mapped[str] = mapped_column(sa.String(64), default="misc")
    priority: Mapped[str] = mapped_column(sa.String(32), default="optional")
    architecturespecific: Mapped[bool] = mapped_column(default=True)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    installedsize: Mapped[Optional[int]]
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)

    binarypackagename: Mapped[BinaryPackageName] = relationship()
    build: Mapped["Build"] = relationship(back_populates="binarypackages")  # noqa: F821
    component: Mapped[Component] = relationship()
    files: Mapped[list["BinaryPackageFile"]] = relationship(
        back_populates="binarypackagerelease", order_by="BinaryPackageFile.id")

    @property
    def name(self):
        return self.binarypackagename.name


class BinaryPackageFile(Base):
    __tablename__ = "binarypackagefile"

    id: Mapped[int] = mapped_column(primary_key=True)
    binarypackagerelease_id: Mapped[int] = mapped_column(
        sa.ForeignKey("binarypackagerelease.id"), index=True)
    libraryfile_id: Mapped[int] = mapped_column(sa.ForeignKey("libraryfilealias.id"))
    filetype: Mapped[BinaryPackageFileType] = mapped_column(
        enum_column(BinaryPackageFileType))

    binarypackagerelease: Mapped[BinaryPackageRelease] = relationship(
        back_populates="files")
    libraryfile: Mapped[LibraryFileAlias] = relationship()
