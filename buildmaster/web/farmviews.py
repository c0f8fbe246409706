"""The farm's definition on the web: its distributions, their series and
their archives, as ``buildmaster apply`` made them and the command line
reads them back (``distribution list|show``, ``series list``, ``archive
list``; buildmaster.commands.distributions), with the same objects
(buildmaster.operators.output's ``series_object`` and ``archive_object``).

Like buildmaster.web.views, each function takes a session and a Viewer
and runs in a thread of the reactor's pool.  A private archive is left
out in SQL for a viewer without the ``private`` right, so it is neither
listed nor counted, and its builds are left out of a series' recent
builds, exactly as the other pages leave out private builds.  Nothing
here carries an archive's buildd secret: ``archive_object`` gives the URL
without credentials, and only ``buildmaster archive credentials`` prints
the secret.

An unknown distribution or series is NotFound (404).
"""

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from buildmaster.model import (
    Archive, ArchivePurpose, Build, Distribution, DistroArchSeries, DistroSeries)
from buildmaster.operators import lookup
from buildmaster.operators.output import archive_object, series_object
from buildmaster.web import views

SERIES_BUILDS = 20

SERIES_LOADS = (
    selectinload(DistroSeries.distribution),
    selectinload(DistroSeries.architectures).options(
        selectinload(DistroArchSeries.processor), selectinload(DistroArchSeries.chroot)),
    selectinload(DistroSeries.nominatedarchindep),
    selectinload(DistroSeries.parent_series).selectinload(DistroSeries.distribution),
)


def distribution_summary(distribution):
    """A distribution as ``/distributions`` lists it: its components,
    upload pockets and its series' names, oldest first."""
    return {
        "name": distribution.name, "title": distribution.title,
        "displayname": distribution.displayname,
        "components": list(distribution.components or []),
        "upload_pockets": list(distribution.upload_pockets or []),
        "series": [series.name for series in distribution.series],
    }


def distributions(session, viewer, page):
    """(total, [distribution summary]) by name."""
    total = session.scalar(sa.select(sa.func.count()).select_from(Distribution))
    rows = session.scalars(
        sa.select(Distribution).order_by(Distribution.name).limit(page.limit)
        .offset(page.offset).options(selectinload(Distribution.series))).all()
    return total, [distribution_summary(row) for row in rows]


def series_shown(series):
    """``series_object`` with what the pages link and say beside it: the
    distribution and the series' own name, the parent's path, and for
    each architecture its path and, lacking a chroot, the command that
    makes one (nothing builds there until it has one)."""
    shown = series_object(series)
    path = shown["series"]
    parent = series.parent_series
    shown.update({
        "distribution": series.distribution.name, "name": series.name,
        "displayname": series.displayname,
        "parent_distribution": parent.distribution.name if parent is not None else None,
        "parent_path": (f"{parent.distribution.name}/{parent.name}"
                        if parent is not None else None),
    })
    for arch in shown["architectures"]:
        arch["path"] = f"{path}/{arch['tag']}"
        arch["chroot_make"] = (None if arch["chroot"]
                               else f"buildmaster chroot make {arch['path']}")
        arch["nominated_arch_indep"] = arch["tag"] == shown["nominated_arch_indep"]
    return shown


def _archive_query(viewer):
    query = sa.select(Archive).where(Archive.purpose != ArchivePurpose.COPY).options(
        selectinload(Archive.owner), selectinload(Archive.distribution))
    if not viewer.see_private:
        query = query.where(sa.not_(Archive.private))
    return query


def _archives_of(session, viewer, distribution):
    return [archive_object(viewer.config, archive) for archive in session.scalars(
        _archive_query(viewer).where(Archive.distribution_id == distribution.id)
        .order_by(Archive.id))]


def archives(session, viewer, page, distribution=None):
    """(total, [archive object]) by distribution, then as made; only
    ``distribution``'s (a name) when given, NotFound when it is unknown."""
    query = _archive_query(viewer)
    if distribution:
        query = query.where(
            Archive.distribution_id == lookup.distribution(session, distribution).id)
    total = session.scalar(sa.select(sa.func.count()).select_from(
        query.with_only_columns(Archive.id).subquery()))
    rows = session.scalars(query.order_by(Archive.distribution_id, Archive.id)
                           .limit(page.limit).offset(page.offset)).all()
    return total, [archive_object(viewer.config, archive) for archive in rows]


def distribution(session, viewer, name):
    """One distribution: its summary, each series in full and the
    archives the viewer may see."""
    found = lookup.distribution(session, name)
    shown = distribution_summary(found)
    shown["series"] = [series_shown(series) for series in session.scalars(
        sa.select(DistroSeries).where(DistroSeries.distribution_id == found.id)
        .order_by(DistroSeries.id).options(*SERIES_LOADS))]
    shown["archives"] = _archives_of(session, viewer, found)
    return shown


def series(session, viewer, distribution_name, series_name):
    """One series: ``series_object`` (series_shown), its distribution's
    archives the viewer may see and its SERIES_BUILDS newest builds."""
    found = lookup.series(session, distribution_name, series_name)
    shown = series_shown(found)
    shown["components"] = list(found.distribution.components or [])
    shown["archives"] = _archives_of(session, viewer, found.distribution)
    shown["recent_builds"] = views.recent_builds(
        session, viewer, Build.distroarchseries_id.in_(
            sa.select(DistroArchSeries.id).where(
                DistroArchSeries.distroseries_id == found.id)), SERIES_BUILDS)
    return shown
