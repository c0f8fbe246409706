"""``buildmaster publications`` and ``archive show NAME``: what the farm
publishes, and where."""

import os

import sqlalchemy as sa

from buildmaster.operators import lookup, output
from buildmaster.archive.dependencies import archive_url, suite_name
from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import JSON, Group, arg, farm_session, operator_command
from buildmaster.model import (
    Archive, BinaryPackageName, BinaryPackageRelease, Component, Distribution,
    DistroArchSeries, DistroSeries, PackagePublishingStatus, SourcePackageName,
    SourcePackageRelease)
from buildmaster.model import BinaryPackagePublishingHistory as BPPH
from buildmaster.model import SourcePackagePublishingHistory as SPPH
from buildmaster.publisher import layout

COLUMNS = [("KIND", "kind"), ("ID", "id"), ("NAME", "name"), ("VERSION", "version"),
           ("ARCH", "arch"), ("ARCHIVE", "archive"), ("SUITE", "suite"),
           ("COMPONENT", "component"), ("STATE", "state"), ("PUBLISHED", "datepublished")]
DISTRIBUTION = arg("--distribution",
                   help="the archive's distribution (default: the farm's only one)")


def publication_state(name):
    try:
        return PackagePublishingStatus[name.upper()]
    except KeyError:
        known = ", ".join(state.name for state in PackagePublishingStatus)
        raise CommandError(f"no publication state named {name!r} (known: {known})") \
            from None


def positive(text):
    number = int(text)
    if number < 1:
        raise ValueError(text)
    return number


def distribution_named(session, name):
    """The distribution called ``name``, or the farm's only one."""
    if name:
        return lookup.distribution(session, name)
    found = session.scalars(sa.select(Distribution).order_by(Distribution.id)).all()
    if len(found) != 1:
        names = ", ".join(each.name for each in found) or "none"
        raise CommandError(f"give --distribution (the farm has: {names})")
    return found[0]


def _source_query():
    return (sa.select(SPPH.id, SourcePackageName.name, SourcePackageRelease.version,
                      sa.literal("source"), Archive.id, DistroSeries.name, SPPH.pocket,
                      Component.name, SPPH.status, SPPH.datepublished)
            .join(SourcePackageRelease,
                  SourcePackageRelease.id == SPPH.sourcepackagerelease_id)
            .join(SourcePackageName,
                  SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
            .join(Archive, Archive.id == SPPH.archive_id)
            .join(DistroSeries, DistroSeries.id == SPPH.distroseries_id)
            .join(Component, Component.id == SPPH.component_id))


def _binary_query():
    arch = sa.case((BinaryPackageRelease.architecturespecific.is_(False), "all"),
                   else_=DistroArchSeries.architecturetag)
    return (sa.select(BPPH.id, BinaryPackageName.name, BinaryPackageRelease.version,
                      arch, Archive.id, DistroSeries.name,
                      BPPH.pocket, Component.name, BPPH.status, BPPH.datepublished)
            .join(BinaryPackageRelease,
                  BinaryPackageRelease.id == BPPH.binarypackagerelease_id)
            .join(BinaryPackageName,
                  BinaryPackageName.id == BinaryPackageRelease.binarypackagename_id)
            .join(Archive, Archive.id == BPPH.archive_id)
            .join(DistroArchSeries, DistroArchSeries.id == BPPH.distroarchseries_id)
            .join(DistroSeries, DistroSeries.id == DistroArchSeries.distroseries_id)
            .join(Component, Component.id == BPPH.component_id))


@operator_command(
    "publications",
    arg("--archive", help="only this archive: primary, partner or '~owner/name' "
        "(quoted: the shell expands ~)"),
    DISTRIBUTION,
    arg("--state", help="only publications in this state, e.g. PENDING"),
    arg("--limit", type=positive, default=50, help="at most this many (default 50)"),
    JSON)
def publications(context, args):
    with farm_session(context) as session:
        state = publication_state(args.state) if args.state else None
        archive = None
        if args.archive:
            archive = lookup.archive(session, distribution_named(session, args.distribution),
                                     args.archive)
        found = []
        for kind, table, query in (("source", SPPH, _source_query()),
                                   ("binary", BPPH, _binary_query())):
            if archive is not None:
                query = query.where(table.archive_id == archive.id)
            if state is not None:
                query = query.where(table.status == state)
            query = query.order_by(table.id.desc()).limit(args.limit)
            found += [(kind, row) for row in session.execute(query)]
        references = {a.id: a.reference for a in session.scalars(sa.select(Archive))}
        found.sort(key=lambda item: (item[1][9] is None, item[1][9] or 0, item[1][0]),
                   reverse=True)
        objects = [{
            "kind": kind, "id": pub_id, "name": name, "version": version,
            "arch": arch if kind == "binary" else None,
            "archive": references[archive_id], "suite": suite_name(series, pocket),
            "component": component, "state": status.name,
            "datepublished": output.timestamp(published)}
            for kind, (pub_id, name, version, arch, archive_id, series, pocket, component,
                       status, published) in found[:args.limit]]
    output.emit(objects, COLUMNS, args.json, empty="No publications.")


archive_group = Group("archive")


@archive_group.subcommand(
    "show", "an archive's URL, its tree on disk and its publications per state",
    arg("name", metavar="NAME", help="primary, partner or '~owner/name' "
        "(quoted: the shell expands ~)"),
    DISTRIBUTION, JSON)
def show(context, args):
    config = context.config
    with farm_session(context) as session:
        archive = lookup.archive(session, distribution_named(session, args.distribution),
                                 args.name)
        counts = {}
        for kind, table in (("sources", SPPH), ("binaries", BPPH)):
            for status, count in session.execute(
                    sa.select(table.status, sa.func.count())
                    .where(table.archive_id == archive.id).group_by(table.status)):
                counts.setdefault(status.name, {"sources": 0, "binaries": 0})[kind] = count
        published = layout.is_published(archive)
        tree = layout.tree_path(config.archives.root, archive) if published else None
        dists = os.path.join(tree, "dists") if tree else None
        suites = sorted(name for name in os.listdir(dists)
                        if not name.startswith(".")) if dists and os.path.isdir(dists) \
            else []
        shown = {
            "reference": archive.reference,
            "distribution": archive.distribution.name,
            "displayname": archive.displayname,
            "purpose": archive.purpose.name,
            "enabled": archive.enabled,
            "private": archive.private,
            "url": archive_url(config, archive, with_credentials=False)
            if published else None,
            "credentials": "buildd:<buildd_secret>" if archive.private else None,
            "tree": tree,
            "signed": bool(config.archives.signing_key),
            "suites": suites,
            "publications": {state.name: counts.get(state.name,
                                                    {"sources": 0, "binaries": 0})
                             for state in PackagePublishingStatus},
        }
    if args.json:
        import json
        print(json.dumps(shown, indent=2))
        return
    for key in ("reference", "distribution", "displayname", "purpose", "enabled",
                "private", "url", "credentials", "tree", "signed"):
        print(f"{key + ':':<14}{output.cell_text(shown[key])}")
    print(f"{'suites:':<14}{' '.join(suites) or '-'}")
    rows = [{"state": state, **numbers} for state, numbers in shown["publications"].items()]
    print("\n".join(output.table_lines(rows, [("STATE", "state"), ("SOURCES", "sources"),
                                              ("BINARIES", "binaries")])))
