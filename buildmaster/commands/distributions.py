"""Reading the farm back: ``distribution list|show``, ``series list``,
``archive list`` and ``archive credentials``.

What ``buildmaster apply`` made, as operators look at it: each series with
its architectures, their processors and whether each has a chroot; each
archive with the URL apt reaches it at.  A private archive's secret is
printed only by ``archive credentials``, which an operator asks for by
name.
"""

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from buildmaster.archive.dependencies import archive_url, suite_name
from buildmaster.commands.archives import DISTRIBUTION, archive_group, distribution_named
from buildmaster.commands.common import JSON, Group, arg, farm_session
from buildmaster.commands.registry import CommandError
from buildmaster.model import (
    Archive, ArchivePurpose, Distribution, DistroSeries, PackagePublishingPocket)
from buildmaster.operators import lookup, output
from buildmaster.operators.output import archive_object, series_object

SERIES_COLUMNS = [("SERIES", "series"), ("VERSION", "version"), ("STATUS", "status"),
                  ("PARENT", "parent"), ("ARCHITECTURES", "architectures_text")]
ARCHIVE_COLUMNS = [("ARCHIVE", "reference"), ("DISTRIBUTION", "distribution"),
                   ("ENABLED", "enabled"), ("PRIVATE", "private"), ("URL", "url")]

distribution_group = Group("distribution")
series_group = Group("series")


def _series_query():
    return sa.select(DistroSeries).order_by(DistroSeries.id).options(
        selectinload(DistroSeries.architectures), selectinload(DistroSeries.distribution))


@distribution_group.subcommand("list", "list the distributions and their series", JSON)
def list_distributions(context, args):
    with farm_session(context) as session:
        objects = [{"name": each.name, "title": each.title,
                    "components": " ".join(each.components),
                    "series": " ".join(series.name for series in each.series)}
                   for each in session.scalars(sa.select(Distribution).order_by(
                       Distribution.name).options(selectinload(Distribution.series)))]
    output.emit(objects, [("NAME", "name"), ("TITLE", "title"), ("COMPONENTS", "components"),
                          ("SERIES", "series")], args.json, empty="No distributions.")


@distribution_group.subcommand(
    "show", "a distribution: its components, series and archives",
    arg("name", help="the distribution's name"), JSON)
def show_distribution(context, args):
    config = context.config
    with farm_session(context) as session:
        distribution = lookup.distribution(session, args.name)
        shown = {
            "name": distribution.name, "title": distribution.title,
            "components": list(distribution.components),
            "upload_pockets": list(distribution.upload_pockets),
            "series": [series_object(series) for series in session.scalars(
                _series_query().where(DistroSeries.distribution_id == distribution.id))],
            "archives": [archive_object(config, archive) for archive in session.scalars(
                sa.select(Archive).where(Archive.distribution_id == distribution.id,
                                         Archive.purpose != ArchivePurpose.COPY)
                .order_by(Archive.id))],
        }
    if args.json:
        output.emit_object(shown)
        return
    for key in ("name", "title", "components", "upload_pockets"):
        value = shown[key]
        print(f"{key + ':':<16}{' '.join(value) if isinstance(value, list) else value}")
    print()
    print("\n".join(output.table_lines(shown["series"], SERIES_COLUMNS)))
    print()
    print("\n".join(output.table_lines(shown["archives"], ARCHIVE_COLUMNS)))


@series_group.subcommand(
    "list", "list the series with their architectures and chroots",
    arg("--distribution", help="only this distribution's series"), JSON)
def list_series(context, args):
    with farm_session(context) as session:
        query = _series_query()
        if args.distribution:
            query = query.where(DistroSeries.distribution_id == lookup.distribution(
                session, args.distribution).id)
        objects = [series_object(series) for series in session.scalars(query)]
    output.emit(objects, SERIES_COLUMNS, args.json, empty="No series.")


@archive_group.subcommand(
    "list", "list the archives and the URLs apt reaches them at",
    arg("--distribution", help="only this distribution's archives"), JSON)
def list_archives(context, args):
    config = context.config
    with farm_session(context) as session:
        query = sa.select(Archive).where(Archive.purpose != ArchivePurpose.COPY).order_by(
            Archive.distribution_id, Archive.id)
        if args.distribution:
            query = query.where(Archive.distribution_id == lookup.distribution(
                session, args.distribution).id)
        objects = [archive_object(config, archive) for archive in session.scalars(query)]
    output.emit(objects, ARCHIVE_COLUMNS, args.json, empty="No archives.")


@archive_group.subcommand(
    "credentials", "a private archive's sources.list line, with its secret (for operators)",
    arg("name", metavar="NAME", help="'~owner/name' (quoted: the shell expands ~)"),
    arg("--series", help="the series for the line (default: the newest open one)"),
    DISTRIBUTION)
def credentials(context, args):
    with farm_session(context) as session:
        archive = lookup.archive(session, distribution_named(session, args.distribution),
                                 args.name)
        if not archive.private:
            raise CommandError(f"{archive.reference} is not private: anyone can read it at "
                               f"{archive_url(context.config, archive)}")
        series = (lookup.series(session, archive.distribution.name, args.series)
                  if args.series else _newest_series(archive.distribution))
        line = (f"deb {archive_url(context.config, archive)} "
                f"{suite_name(series.name, PackagePublishingPocket.RELEASE)} "
                f"{' '.join(archive.distribution.components)}")
    print(line)


def _newest_series(distribution):
    if not distribution.series:
        raise CommandError(f"{distribution.name} has no series: give --series")
    return distribution.series[-1]
