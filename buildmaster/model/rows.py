"""Row builders: the few steps that make a publishable world.

Used by the sample data, by ``buildmaster upload`` and by tests, so that
each of them says *what* it creates rather than how the rows hang
together.
"""

import sqlalchemy as sa

from buildmaster.model import (
    BinaryPackageFile, BinaryPackageFileType, BinaryPackageName,
    BinaryPackagePublishingHistory, BinaryPackageRelease, BuildStatus, Component,
    PackagePublishingPocket, PackagePublishingStatus, SourcePackageName,
    SourcePackagePublishingHistory, SourcePackageRelease, SourcePackageReleaseFile,
    utcnow)


def get_or_create(session, model, **keys):
    row = session.scalars(sa.select(model).filter_by(**keys)).first()
    if row is None:
        row = model(**keys)
        session.add(row)
        session.flush()
    return row


def component(session, name):
    return get_or_create(session, Component, name=name)


def source_release(session, name, version, creator, component_name="main",
                   maintainer=None, files=(), **extra):
    """A SourcePackageRelease with its name row and its files.

    ``files`` is a sequence of (LibraryFileAlias, SourcePackageFileType).
    """
    release = SourcePackageRelease(
        sourcepackagename=get_or_create(session, SourcePackageName, name=name),
        version=version, creator=creator, maintainer=maintainer or creator,
        component=component(session, component_name), **extra)
    session.add(release)
    for alias, filetype in files:
        release.files.append(SourcePackageReleaseFile(libraryfile=alias, filetype=filetype))
    session.flush()
    return release


def publish_source(session, release, archive, distroseries,
                   pocket=PackagePublishingPocket.RELEASE,
                   status=PackagePublishingStatus.PUBLISHED, component_name=None):
    publication = SourcePackagePublishingHistory(
        sourcepackagerelease=release, archive=archive, distroseries=distroseries,
        component=component(session, component_name or release.component.name),
        section=release.section, pocket=pocket, status=status,
        datepublished=utcnow() if status == PackagePublishingStatus.PUBLISHED else None)
    session.add(publication)
    session.flush()
    return publication


def binary_release(session, build, name, version, component_name="main",
                   files=(), architecturespecific=True, **extra):
    """A BinaryPackageRelease produced by ``build``; ``files`` are LibraryFileAliases."""
    release = BinaryPackageRelease(
        binarypackagename=get_or_create(session, BinaryPackageName, name=name),
        version=version, build=build, component=component(session, component_name),
        architecturespecific=architecturespecific, **extra)
    session.add(release)
    for alias in files:
        filetype = (BinaryPackageFileType.UDEB if alias.filename.endswith(".udeb")
                    else BinaryPackageFileType.DEB)
        release.files.append(BinaryPackageFile(libraryfile=alias, filetype=filetype))
    session.flush()
    return release


def publish_binary(session, release, archive, distroarchseries,
                   pocket=PackagePublishingPocket.RELEASE,
                   status=PackagePublishingStatus.PENDING):
    publication = BinaryPackagePublishingHistory(
        binarypackagerelease=release, archive=archive,
        distroarchseries=distroarchseries, component=release.component,
        section=release.section, priority=release.priority, pocket=pocket,
        status=status,
        datepublished=utcnow() if status == PackagePublishingStatus.PUBLISHED else None)
    session.add(publication)
    session.flush()
    return publication


def build_for(release, distroarchseries, archive,
              pocket=PackagePublishingPocket.RELEASE, status=BuildStatus.NEEDSBUILD):
    return release.createBuild(distroarchseries, archive, pocket, status=status)
