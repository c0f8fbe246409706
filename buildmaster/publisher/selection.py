"""What the publisher reads: which suites changed, and what is in a suite.

A suite is (archive, series, pocket).  It needs publishing when one of
its publications is PENDING, or is no longer live (SUPERSEDED, DELETED,
OBSOLETE) while still in the indexes on disk: published and not removed
(``dateremoved`` NULL).  Everything else was written by an earlier run,
so a run that finds no such suite writes nothing.

The rows come back as plain tuples from one joined query per kind, not
as ORM objects: a suite of ten thousand binaries loads in one round trip.
"""

import dataclasses

import sqlalchemy as sa

from buildmaster.model import (
    Archive, BinaryPackageFile, BinaryPackageName, BinaryPackageRelease, Build, Component,
    DistroArchSeries, LibraryFileAlias, LibraryFileContent, PackagePublishingStatus,
    SourcePackageName, SourcePackageRelease, SourcePackageReleaseFile)
from buildmaster.model import BinaryPackagePublishingHistory as BPPH
from buildmaster.model import SourcePackagePublishingHistory as SPPH

Status = PackagePublishingStatus
REMOVED_STATUSES = (Status.SUPERSEDED, Status.DELETED, Status.OBSOLETE)


@dataclasses.dataclass
class PoolFile:
    filename: str
    sha1: str
    size: int


@dataclasses.dataclass
class SourceRow:
    """One source publication of a suite, with its files."""

    id: int
    status: Status
    name: str
    version: str
    component: str
    section: str
    files: list

    @property
    def label(self):
        return f"{self.name} {self.version} source"

    @property
    def dsc(self):
        return next((f for f in self.files if f.filename.endswith(".dsc")), None)


@dataclasses.dataclass
class BinaryRow:
    """One binary publication of a suite, with its files."""

    id: int
    status: Status
    name: str
    version: str
    component: str
    section: str
    priority: str
    arch: str
    arch_specific: bool
    source: str
    files: list

    @property
    def label(self):
        return f"{self.name} {self.version} {self.arch if self.arch_specific else 'all'}"

    @property
    def debs(self):
        return [f for f in self.files if f.filename.endswith(".deb")]


def _needs_publishing(table):
    return sa.or_(
        table.status == Status.PENDING,
        sa.and_(table.status.in_(REMOVED_STATUSES), table.datepublished.is_not(None),
                table.dateremoved.is_(None)))


def dirty_suites(session):
    """{archive id: {(series id, pocket)}} of every suite of an enabled
    archive that needs publishing."""
    dirty = {}
    sources = (sa.select(SPPH.archive_id, SPPH.distroseries_id, SPPH.pocket)
               .join(Archive, Archive.id == SPPH.archive_id)
               .where(Archive.enabled, _needs_publishing(SPPH)).distinct())
    binaries = (sa.select(BPPH.archive_id, DistroArchSeries.distroseries_id, BPPH.pocket)
                .join(Archive, Archive.id == BPPH.archive_id)
                .join(DistroArchSeries, DistroArchSeries.id == BPPH.distroarchseries_id)
                .where(Archive.enabled, _needs_publishing(BPPH)).distinct())
    for query in (sources, binaries):
        for archive_id, series_id, pocket in session.execute(query):
            dirty.setdefault(archive_id, set()).add((series_id, pocket))
    return dirty


def _on_disk(table):
    return sa.and_(table.datepublished.is_not(None), table.dateremoved.is_(None))


def source_rows(session, archive_id, series_id, pocket, statuses, on_disk=False,
                names=None):
    """The suite's source publications in ``statuses``, oldest first;
    with ``on_disk``, only those in the indexes on disk; with ``names``,
    only those of these sources."""
    query = (
        sa.select(SPPH.id, SPPH.status, SourcePackageName.name,
                  SourcePackageRelease.version, Component.name, SPPH.section,
                  LibraryFileAlias.filename, LibraryFileContent.sha1,
                  LibraryFileContent.filesize)
        .join(SourcePackageRelease, SourcePackageRelease.id == SPPH.sourcepackagerelease_id)
        .join(SourcePackageName,
              SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
        .join(Component, Component.id == SPPH.component_id)
        .outerjoin(SourcePackageReleaseFile,
                   SourcePackageReleaseFile.sourcepackagerelease_id
                   == SourcePackageRelease.id)
        .outerjoin(LibraryFileAlias,
                   LibraryFileAlias.id == SourcePackageReleaseFile.libraryfile_id)
        .outerjoin(LibraryFileContent, LibraryFileContent.id == LibraryFileAlias.content_id)
        .where(SPPH.archive_id == archive_id, SPPH.distroseries_id == series_id,
               SPPH.pocket == pocket, SPPH.status.in_(statuses))
        .order_by(SPPH.id, SourcePackageReleaseFile.id))
    if on_disk:
        query = query.where(_on_disk(SPPH))
    if names is not None:
        query = query.where(SourcePackageName.name.in_(names))
    rows = {}
    for (pub_id, status, name, version, component, section,
         filename, sha1, size) in session.execute(query):
        row = rows.get(pub_id)
        if row is None:
            row = rows[pub_id] = SourceRow(pub_id, status, name, version, component,
                                           section, [])
        if filename is not None:
            row.files.append(PoolFile(filename, sha1, size))
    return list(rows.values())


def binary_rows(session, archive_id, series_id, pocket, statuses, on_disk=False,
                names=None):
    """The suite's binary publications in ``statuses`` (every
    architecture of the series), oldest first; with ``on_disk``, only
    those in the indexes on disk; with ``names``, only those of these
    binary packages."""
    source_name = SourcePackageName.name.label("source_name")
    query = (
        sa.select(BPPH.id, BPPH.status, BinaryPackageName.name,
                  BinaryPackageRelease.version, Component.name, BPPH.section,
                  BPPH.priority, DistroArchSeries.architecturetag,
                  BinaryPackageRelease.architecturespecific, source_name,
                  LibraryFileAlias.filename, LibraryFileContent.sha1,
                  LibraryFileContent.filesize)
        .join(BinaryPackageRelease, BinaryPackageRelease.id == BPPH.binarypackagerelease_id)
        .join(BinaryPackageName,
              BinaryPackageName.id == BinaryPackageRelease.binarypackagename_id)
        .join(DistroArchSeries, DistroArchSeries.id == BPPH.distroarchseries_id)
        .join(Component, Component.id == BPPH.component_id)
        .join(Build, Build.id == BinaryPackageRelease.build_id)
        .join(SourcePackageRelease, SourcePackageRelease.id == Build.sourcepackagerelease_id)
        .join(SourcePackageName,
              SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
        .outerjoin(BinaryPackageFile,
                   BinaryPackageFile.binarypackagerelease_id == BinaryPackageRelease.id)
        .outerjoin(LibraryFileAlias, LibraryFileAlias.id == BinaryPackageFile.libraryfile_id)
        .outerjoin(LibraryFileContent, LibraryFileContent.id == LibraryFileAlias.content_id)
        .where(BPPH.archive_id == archive_id, DistroArchSeries.distroseries_id == series_id,
               BPPH.pocket == pocket, BPPH.status.in_(statuses))
        .order_by(BPPH.id, BinaryPackageFile.id))
    if on_disk:
        query = query.where(_on_disk(BPPH))
    if names is not None:
        query = query.where(BinaryPackageName.name.in_(names))
    rows = {}
    for (pub_id, status, name, version, component, section, priority, arch,
         arch_specific, source, filename, sha1, size) in session.execute(query):
        row = rows.get(pub_id)
        if row is None:
            row = rows[pub_id] = BinaryRow(pub_id, status, name, version, component,
                                           section, priority, arch, arch_specific,
                                           source, [])
        if filename is not None:
            row.files.append(PoolFile(filename, sha1, size))
    return list(rows.values())
