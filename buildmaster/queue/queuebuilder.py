"""The queue builder: a Build and a scored BuildQueue entry for every
live source publication that still lacks one.

For every series with architectures that have a chroot, each live
(PENDING or PUBLISHED) source publication in an enabled archive gets a
build on the architectures its ``architecturehintlist`` names:

* 'any' (alone or among other tags): every architecture of the series;
* 'all': the series' nominated arch-independent architecture only, so
  architecture-independent packages are built once;
* architecture tags ('i386 amd64') and Debian wildcards: 'linux-any',
  'any-i386', 'any-arm' (armel and armhf) ...; the farm's tags are
  Linux architectures, so 'kfreebsd-any' or 'hurd-i386' name none.

No build is made where the same source already has one in the same
archive for an architecture with the same tag in any series of the
distribution: a source copied into a newer series brings its binaries
along (Launchpad's rule), and a second run creates nothing.  No build
is made for a pocket its series does not accept (buildmaster.archive.pockets).

The work is a handful of queries per series whatever the number of
publications: one for the publications, one for the builds they have.
"""

import datetime
import logging

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from buildmaster.model import (
    Archive, Build, BuildQueue, BuildStatus, Component, DistroArchSeries, DistroSeries,
    SourcePackageName, SourcePackagePublishingHistory, SourcePackageRelease, utcnow)
from buildmaster.archive.dependencies import suite_name
from buildmaster.model.publishing import ACTIVE_STATUSES
from buildmaster.archive.pockets import can_build_for_pocket
from buildmaster.queue.scoring import rescore_all, score_of

LOG = logging.getLogger("buildmaster.queuebuilder")

# CPU families the 'any-<cpu>' wildcards name, where they differ from the tag.
CPU_FAMILY = {"armel": "arm", "armhf": "arm", "lpia": "i386"}


def _split(arch):
    """'kfreebsd-amd64' -> ('kfreebsd', 'amd64'); 'i386' -> ('linux', 'i386')."""
    os_name, dash, cpu = arch.rpartition("-")
    return (os_name if dash else "linux"), cpu


def arch_matches(pattern, tag):
    """True when the architecture-list entry ``pattern`` covers ``tag``."""
    if pattern == "any":
        return True
    pattern_os, pattern_cpu = _split(pattern)
    tag_os, tag_cpu = _split(tag)
    if pattern_os not in ("any", tag_os):
        return False
    if pattern_cpu == "any" or pattern_cpu == tag_cpu:
        return True
    return pattern_os == "any" and pattern_cpu == CPU_FAMILY.get(tag_cpu)


def architectures_for(hintlist, available, nominated):
    """The tags of ``available`` (the series' tags with a chroot) that a
    source with ``hintlist`` builds on; ``nominated`` is the series'
    arch-independent tag (or None)."""
    wanted = set()
    for token in hintlist.split():
        if token == "all":
            if nominated in available:
                wanted.add(nominated)
        else:
            wanted.update(tag for tag in available if arch_matches(token, tag))
    return sorted(wanted)


def _buildable_series(session, series_id=None):
    """{series: {tag: DistroArchSeries}} for architectures with a chroot
    (of the series ``series_id`` only, if given)."""
    query = (sa.select(DistroArchSeries).where(DistroArchSeries.chroot_id.is_not(None))
             .options(selectinload(DistroArchSeries.distroseries)
                      .selectinload(DistroSeries.distribution))
             .order_by(DistroArchSeries.id))
    if series_id is not None:
        query = query.where(DistroArchSeries.distroseries_id == series_id)
    archs = session.scalars(query)
    by_series = {}
    for arch in archs:
        by_series.setdefault(arch.distroseries, {})[arch.architecturetag] = arch
    return by_series


def _of_sources(query, spph, only):
    """``query`` restricted to the source releases of ``only``, if given."""
    if only is None:
        return query
    return query.where(spph.sourcepackagerelease_id.in_(sorted({spr for spr, _ in only})))


def _live_publications(session, series, only=None):
    """The newest live publication of each (source, archive) in ``series``."""
    spph, spr = SourcePackagePublishingHistory, SourcePackageRelease
    rows = session.execute(_of_sources(
        sa.select(spph.sourcepackagerelease_id, spph.archive_id, spph.pocket,
                  Component.name, spr.architecturehintlist, spr.urgency,
                  SourcePackageName.name, spr.version)
        .join(spr, spr.id == spph.sourcepackagerelease_id)
        .join(SourcePackageName, SourcePackageName.id == spr.sourcepackagename_id)
        .join(Component, Component.id == spph.component_id)
        .join(Archive, Archive.id == spph.archive_id)
        .where(spph.distroseries_id == series.id, spph.status.in_(ACTIVE_STATUSES),
               Archive.enabled)
        .order_by(spph.id), spph, only))
    return {(row[0], row[1]): row for row in rows}


def _existing_builds(session, series, only=None):
    """{(source id, archive id, tag)} of builds the series' live sources
    have anywhere in the distribution."""
    spph = SourcePackagePublishingHistory
    live = _of_sources(
        sa.select(spph.sourcepackagerelease_id, spph.archive_id)
        .where(spph.distroseries_id == series.id, spph.status.in_(ACTIVE_STATUSES)),
        spph, only).distinct().subquery()
    rows = session.execute(
        sa.select(Build.sourcepackagerelease_id, Build.archive_id,
                  DistroArchSeries.architecturetag)
        .join(live, sa.and_(live.c.sourcepackagerelease_id == Build.sourcepackagerelease_id,
                            live.c.archive_id == Build.archive_id))
        .join(DistroArchSeries, DistroArchSeries.id == Build.distroarchseries_id)
        .join(DistroSeries, DistroSeries.id == DistroArchSeries.distroseries_id)
        .where(DistroSeries.distribution_id == series.distribution_id)
        .distinct())
    return set(rows)


def _plan(session, series, archs, only=None):
    """[(publication row, DistroArchSeries)] builds missing in ``series``
    (for the (source release id, archive id) pairs of ``only``, if given)."""
    archives = {archive.id: archive for archive in session.scalars(
        sa.select(Archive).where(Archive.distribution_id == series.distribution_id))}
    existing = _existing_builds(session, series, only)
    nominated = series.nominatedarchindep.architecturetag \
        if series.nominatedarchindep is not None else None
    missing = []
    for (spr_id, archive_id), row in _live_publications(session, series, only).items():
        if only is not None and (spr_id, archive_id) not in only:
            continue
        pocket, hintlist = row[2], row[4]
        archive = archives[archive_id]
        if not can_build_for_pocket(series.status, pocket, archive.purpose):
            continue
        for tag in architectures_for(hintlist, archs, nominated):
            if (spr_id, archive_id, tag) not in existing:
                missing.append((row, archive, archs[tag]))
    return missing


def _insert_builds(session, planned, now):
    """Insert the planned builds in one statement; their ids, in order.

    The ids are read back by what makes each new build unique (source,
    architecture, archive, creation time) rather than with RETURNING,
    which SQLite would turn into one INSERT per row.
    """
    session.execute(sa.insert(Build), [
        {"sourcepackagerelease_id": row[0], "distroarchseries_id": arch.id,
         "archive_id": archive.id, "pocket": row[2], "processor_id": arch.processor_id,
         "buildstate": BuildStatus.NEEDSBUILD, "datecreated": now}
        for row, archive, arch in planned])
    ids = {(spr, arch, archive): build_id for build_id, spr, arch, archive in session.execute(
        sa.select(Build.id, Build.sourcepackagerelease_id, Build.distroarchseries_id,
                  Build.archive_id)
        .where(Build.datecreated == now,
               Build.distroarchseries_id.in_({arch.id for _, _, arch in planned})))}
    return [ids[(row[0], arch.id, archive.id)] for row, archive, arch in planned]


# The transaction-scoped PostgreSQL advisory lock every queue builder
# takes: two masters, or the CLI beside the daemon, never plan the same
# missing builds at once.
QUEUE_BUILDER_LOCK = 0x62756c64


def _lock(session):
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(QUEUE_BUILDER_LOCK)))


def create_missing_builds(session, logger=LOG, now=None, only=None, series_id=None):
    """Create the missing builds and their scored queue entries (of the
    publications of ``only``, (source release id, archive id) pairs, in
    the series ``series_id``, if given); returns the new Build ids.  Two
    bulk INSERTs per series; does not commit, and holds the queue
    builder's lock until the caller does."""
    now = now or utcnow()
    created = []
    _lock(session)
    for series, archs in _buildable_series(session, series_id).items():
        planned = _plan(session, series, archs, only)
        if not planned:
            continue
        build_ids = _insert_builds(session, planned, now)
        entries = [
            {"build_id": build_id, "processor_id": arch.processor_id,
             "virtualized": archive.require_virtualized, "created": now,
             "lastscore": score_of(row[2], row[3], row[5], archive.private,
                                   archive.relative_build_score, datetime.timedelta(0))}
            for build_id, (row, archive, arch) in zip(build_ids, planned)]
        session.execute(sa.insert(BuildQueue), entries)
        for build_id, entry, (row, archive, arch) in zip(build_ids, entries, planned):
            _, _, pocket, _, _, _, name, version = row
            logger.info(
                f"build {build_id} ({name} {version} {arch.architecturetag}): created "
                f"NEEDSBUILD in {archive.reference} {suite_name(series.name, pocket)}, "
                f"score {entry['lastscore']}")
        created.extend(build_ids)
    return created


def queue_publication(session, publication, logger=LOG):
    """Create the builds of a source just published (an upload), at once
    rather than at the queue builder's next run; their ids.  Does not
    commit."""
    session.flush()
    return create_missing_builds(
        session, logger,
        only={(publication.sourcepackagerelease_id, publication.archive_id)},
        series_id=publication.distroseries_id)


def build_queue_in(session, logger=LOG):
    """One queue-builder run on ``session``: create the missing builds,
    rescore the pending queue, commit.  Returns how many builds were
    created."""
    created = create_missing_builds(session, logger)
    rescore_all(session)
    session.commit()
    return len(created)


def build_queue_now(context, logger=LOG):
    """One queue-builder run in the calling thread."""
    with context.sessions() as session:
        return build_queue_in(session, logger)


def build_queue(context, logger=LOG):
    """The sequencer's job: a Deferred firing with the number of builds
    created.  The database work runs in one of the context's database
    threads, on its own session, so the reactor never waits on it."""
    return context.db.run_in_thread(build_queue_in, logger)
