"""Publications with real files, for publisher tests, doctests and benchmarks.

``binary_publication`` makes what a good build leaves behind: a source
release, its FULLYBUILT build, a binary release whose .deb (a real one,
made in memory by debfiles.deb_bytes) is in the librarian, and its
PENDING publication.  ``source_publication`` uploads a real source
package (debpackages.make_source_package) as ``buildmaster upload`` does.
"""

import os

import sqlalchemy as sa

from buildmaster.model import rows
from buildmaster.model import (
    BuildStatus, PackagePublishingPocket, PackagePublishingStatus, Person,
    SourcePackageName, SourcePackageRelease)
from buildmaster.uploads.sources import register_source
from buildmaster.testing.debfiles import deb_bytes

DEB_MIMETYPE = "application/x-debian-package"


def _source_release(session, name, version):
    found = session.scalars(
        sa.select(SourcePackageRelease).join(SourcePackageName)
        .where(SourcePackageName.name == name, SourcePackageRelease.version == version)
    ).first()
    if found is not None:
        return found
    creator = session.scalars(sa.select(Person).order_by(Person.id)).first()
    return rows.source_release(session, name, version, creator)


def binary_publication(session, librarian, archive, das, name, version, source=None,
                       depends=None, arch_all=False, component="main", section="misc",
                       pocket=PackagePublishingPocket.RELEASE,
                       status=PackagePublishingStatus.PENDING):
    """A PENDING publication of binary ``name`` ``version`` built in
    ``das`` for ``archive``, its .deb in the librarian (flushed)."""
    release = _source_release(session, source or name, version)
    build = rows.build_for(release, das, archive, pocket=pocket,
                           status=BuildStatus.FULLYBUILT)
    arch = "all" if arch_all else das.architecturetag
    alias = librarian.add_bytes(
        session, f"{name}_{version}_{arch}.deb",
        deb_bytes(name, version, arch, depends=depends, section=section),
        mimetype=DEB_MIMETYPE, restricted=archive.private)
    binary = rows.binary_release(session, build, name, version, component_name=component,
                                 files=[alias], architecturespecific=not arch_all,
                                 section=section)
    return rows.publish_binary(session, binary, archive, das, pocket=pocket,
                               status=status)


def source_publication(session, librarian, archive, series, directory, name, version,
                       **package_options):
    """A real source package made in ``directory`` and uploaded to
    ``archive`` in ``series``: its PENDING publication (flushed)."""
    from buildmaster.testing.debpackages import make_source_package
    os.makedirs(directory, exist_ok=True)
    dsc = make_source_package(str(directory), name=name, version=version,
                              **package_options)
    return register_source(session, librarian, dsc, series.distribution.name,
                           series.name, archive_ref=archive.reference)
