"""What every page and endpoint shows, read from the database as plain
dicts with the CLI's ``--json`` names (buildmaster.operators.output).

Each function takes a session and a Viewer (the time, whether private
archives may be seen, the configuration) and runs in a thread of the
reactor's pool (buildmaster.web.resources), never on the reactor.
Builds of private archives are left out in SQL for a viewer without the
``private`` right, so totals and pages never count them; asked for by
id, such a build is NotFound, exactly as one that does not exist.

Lists come a page at a time: ``Page(limit, offset)``, answered with
``(total, objects)``.
"""

import dataclasses
import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from buildmaster.operators import output
from buildmaster.bugs import upstream
from buildmaster.librarian.urls import restricted_url
from buildmaster.operators.lookup import NotFound
from buildmaster.model import (
    Archive, Build, BuildEvent, Builder, BuildOutcome, BuildQueue, BuildStatus, DistroArchSeries,
    DistroSeries, Person, Processor, SourcePackageName, SourcePackageRelease)
from buildmaster.queue.fairshare import scheduling_of
from buildmaster.web import reasons
from buildmaster.web.reasons import archive_reference

RECENT_BUILDS = 10
BUILDER_HISTORY = 20
FINISHED_WINDOW = datetime.timedelta(hours=1)
RETRYABLE = (BuildStatus.FAILEDTOBUILD, BuildStatus.MANUALDEPWAIT,
             BuildStatus.CHROOTWAIT, BuildStatus.FAILEDTOUPLOAD, BuildStatus.CANCELLED)
UNFINISHED = frozenset({BuildStatus.NEEDSBUILD, BuildStatus.BUILDING})


@dataclasses.dataclass(frozen=True)
class Viewer:
    """Who looks, and when: ``see_private`` with a token that has the
    ``private`` right."""

    config: object
    now: datetime.datetime
    see_private: bool = False


@dataclasses.dataclass(frozen=True)
class Page:
    limit: int
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class BuildFilter:
    """``builds?state=&source=&archive=&arch=``; None means any."""

    state: object = None  # a BuildStatus
    source: str = None
    archive: str = None  # primary, partner or ~owner/name
    arch: str = None


# What build_object reads, loaded for a page in a fixed number of queries.
BUILD_LOADS = (
    selectinload(Build.sourcepackagerelease).selectinload(
        SourcePackageRelease.sourcepackagename),
    selectinload(Build.distroarchseries).selectinload(DistroArchSeries.distroseries)
    .selectinload(DistroSeries.distribution),
    selectinload(Build.archive).selectinload(Archive.owner),
    selectinload(Build.builder), selectinload(Build.buildlog),
    selectinload(Build.upload_log),
    selectinload(Build.buildqueue_record).selectinload(BuildQueue.builder),
)


def _visible(query, viewer):
    if viewer.see_private:
        return query
    return query.where(Build.archive_id.in_(
        sa.select(Archive.id).where(sa.not_(Archive.private))))


def log_url(viewer, build, alias):
    """Where a viewer reads a build's log: the public librarian, or for
    a private archive's build a token URL on the restricted one."""
    if alias is None:
        return None
    if build.archive.private or alias.restricted:
        return restricted_url(viewer.config, alias, viewer.now.timestamp())
    return output.file_url(viewer.config, alias)


def build_object(build, viewer):
    """The CLI's build object, plus what the pages show beside it: when
    its attempt started, its ``duration`` once finished and, while it
    builds, the seconds ``elapsed`` since it started."""
    found = output.build_object(build, viewer.config)
    entry = build.buildqueue_record
    builder = build.builder or (entry.builder if entry is not None else None)
    found.update({
        # Its builds keep a removed builder's name, but it has no page.
        "builder_removed": builder is not None and not builder.active,
        "buildlog_url": log_url(viewer, build, build.buildlog),
        "upload_log_url": log_url(viewer, build, build.upload_log),
        "private": build.archive.private,
        "job": entry.id if entry is not None else None,
        "score": entry.lastscore if entry is not None else None,
        "date_started": output.timestamp(date_started(build)),
        "duration": (int(build.buildduration.total_seconds())
                     if build.buildduration is not None else None),
        "elapsed": None,
    })
    if build.buildstate == BuildStatus.BUILDING and entry is not None \
            and entry.date_started is not None:
        found["elapsed"] = max(0, int((viewer.now - entry.date_started).total_seconds()))
    return found


def date_started(build):
    """When its attempt under way, or its last one, started: its job's
    start while it has one, else its end less its duration (the scanner
    sets both from that start when it ends); None for a build that has
    not started, or ended without building (a cancel of a pending job)."""
    entry = build.buildqueue_record
    if entry is not None and entry.date_started is not None:
        return entry.date_started
    if entry is None and build.datebuilt is not None and build.buildduration is not None:
        return build.datebuilt - build.buildduration
    return None


def builds(session, viewer, page, where=BuildFilter()):
    """(total, [build object]) newest first, filtered by ``where``."""
    query = _visible(sa.select(Build), viewer)
    if where.state is not None:
        query = query.where(Build.buildstate == where.state)
    if where.source:
        query = query.where(Build.sourcepackagerelease_id.in_(
            sa.select(SourcePackageRelease.id).join(SourcePackageName).where(
                SourcePackageName.name == where.source)))
    if where.arch:
        query = query.where(Build.distroarchseries_id.in_(
            sa.select(DistroArchSeries.id).where(
                DistroArchSeries.architecturetag == where.arch)))
    if where.archive:
        query = query.where(Build.archive_id.in_(_archive_ids(where.archive)))
    total = session.scalar(sa.select(sa.func.count()).select_from(
        query.with_only_columns(Build.id).subquery()))
    rows = session.scalars(query.order_by(Build.id.desc()).limit(page.limit)
                           .offset(page.offset).options(*BUILD_LOADS)).all()
    objects = [build_object(build, viewer) for build in rows]
    upstream.add_upstream_bugs(session, objects)
    return total, objects


def recent_builds(session, viewer, condition, limit):
    """[build object] of the ``limit`` newest builds meeting ``condition``
    (an SQL expression on Build) that the viewer may see."""
    query = _visible(sa.select(Build).where(condition), viewer)
    rows = session.scalars(query.order_by(Build.id.desc()).limit(limit)
                           .options(*BUILD_LOADS)).all()
    return [build_object(each, viewer) for each in rows]


def _archive_ids(reference):
    query = sa.select(Archive.id).outerjoin(Person, Person.id == Archive.owner_id)
    if reference.startswith("~"):
        owner, _, name = reference[1:].partition("/")
        return query.where(Person.name == owner, Archive.name == name)
    return query.where(Archive.name == reference, Archive.owner_id.is_(None))


def build(session, viewer, build_id):
    """One build in full: the build object, its history of states, its
    log tail while it builds, and whether it can be retried or cancelled."""
    found = session.scalars(_visible(sa.select(Build).where(Build.id == build_id), viewer)
                            .options(*BUILD_LOADS)).first()
    if found is None:
        raise NotFound(f"no build with id {build_id}")
    shown = build_object(found, viewer)
    upstream.add_upstream_bugs(session, [shown])
    entry = found.buildqueue_record
    shown.update({
        "history": history(session, found),
        "logtail": entry.logtail if entry is not None and entry.builder_id else None,
        "retryable": found.buildstate in RETRYABLE,
        "cancellable": found.buildstate == BuildStatus.MANUALDEPWAIT or (
            entry is not None and (entry.builder_id is None
                                   or found.buildstate == BuildStatus.BUILDING)),
        "finished": found.buildstate not in UNFINISHED,
    })
    if entry is not None and entry.builder_id is None:
        farm = _farm(session, viewer)
        _, jobs = reasons.jobs(session, viewer.now, farm, viewer.see_private,
                               waits=False, build_id=found.id)
        shown["reason"] = jobs[0]["reason"] if jobs else None
    elif found.buildstate == BuildStatus.MANUALDEPWAIT:
        shown["reason"] = reasons.dependency_reason(found.dependencies).text
    else:
        shown["reason"] = None
    return shown


def history(session, found):
    """[{state, at, builder}] oldest first: created; each finished
    attempt (BuildOutcome: queued, started, ended); each change no
    outcome records (BuildEvent: an attempt requeued or cancelled with
    its start, a cancel); the attempt under way; and the end of a build
    that finished before any of those were recorded.  Retries wipe the
    build's own dates, not these."""
    def name(builder):
        return builder.name if builder is not None else None
    events = []
    for outcome in session.scalars(
            sa.select(BuildOutcome).where(BuildOutcome.build_id == found.id)
            .order_by(BuildOutcome.id).options(selectinload(BuildOutcome.builder))):
        if outcome.queued_at:
            events.append(("NEEDSBUILD", outcome.queued_at, None))
        if outcome.started_at:
            events.append(("BUILDING", outcome.started_at, name(outcome.builder)))
        events.append((outcome.state, outcome.finished_at, name(outcome.builder)))
    events += [(event.state, event.at, name(event.builder)) for event in session.scalars(
        sa.select(BuildEvent).where(BuildEvent.build_id == found.id)
        .order_by(BuildEvent.id).options(selectinload(BuildEvent.builder)))]
    shown = [("NEEDSBUILD", found.datecreated, None)]
    for event in sorted(events, key=lambda event: event[1]):
        if not (event[0] == "NEEDSBUILD" and shown[-1][0] == "NEEDSBUILD"):
            shown.append(event)
    entry = found.buildqueue_record
    if entry is not None and found.buildstate in UNFINISHED:
        # The attempt under way (a cancelled one's job, left for the
        # scanner, is already told by its events).  Its job was queued
        # after the last end, or is the one a requeue put back.
        if shown[-1][0] != "NEEDSBUILD":
            shown.append(("NEEDSBUILD", entry.created, None))
        if entry.date_started is not None:
            shown.append(("BUILDING", entry.date_started, name(entry.builder)))
    elif found.buildstate not in UNFINISHED and found.datebuilt is not None \
            and shown[-1][0] != found.buildstate.name:
        shown.append((found.buildstate.name, found.datebuilt, name(found.builder)))
    return [{"state": state, "at": output.timestamp(at), "builder": builder}
            for state, at, builder in shown]


def _threshold(viewer):
    return viewer.config.builddmaster.builder_failure_threshold


def _farm(session, viewer):
    """The farm as reasons.load_farm reads it, with the configured fair share."""
    return reasons.load_farm(session, viewer.now, _threshold(viewer),
                             scheduling_of(viewer.config))


def queue(session, viewer, page):
    """(total, [queue object]): the pending jobs and dependency waits,
    with why each waits (buildmaster.web.reasons)."""
    farm = _farm(session, viewer)
    return reasons.jobs(session, viewer.now, farm, viewer.see_private,
                        limit=page.limit, offset=page.offset)


# -- Builders -----------------------------------------------------------------

def builders(session, viewer, page=None):
    """(total, [builder object]) by name, ``page`` of them (all without
    one): the CLI's builder fields, its state (idle, building, failed,
    quarantined, disabled) and what it builds, for how long; as
    ``builder list``, never a removed builder."""
    farm = {view.name: view for view in
            _farm(session, viewer).builders}
    query = _builder_query()
    if page is not None:
        query = query.limit(page.limit).offset(page.offset)
    return len(farm), [_builder_object(row, farm[row.name], viewer)
                       for row in session.scalars(query)]


def _builder_query():
    return sa.select(Builder).where(Builder.active).order_by(Builder.name).options(
        selectinload(Builder.processor),
        selectinload(Builder.currentjob).selectinload(BuildQueue.build)
        .options(*BUILD_LOADS[:3]))


def _builder_object(row, view, viewer):
    """``building`` says whether it runs a job now, even one the viewer
    may not see (a private build: ``current_build`` null, its title 'a
    private build')."""
    found = output.builder_object(row)
    job = row.currentjob
    hidden = job is not None and job.build.archive.private and not viewer.see_private
    found.update({"state": view.state, "building": job is not None,
                  "building_since": None, "building_for": None, "building_title": None})
    if job is not None:
        started = job.date_started
        elapsed = int((viewer.now - started).total_seconds()) if started else 0
        found.update({
            "current_build": None if hidden else job.build_id,
            "building_title": "a private build" if hidden else job.build.title,
            "building_since": output.timestamp(started),
            "building_for": output.age_text(max(elapsed, 0)),
            "frees_in": view.frees_in,
        })
    return found


def builder(session, viewer, name):
    """One builder: its object, its recent builds and how its finished
    builds ended (counts by state over its recent history)."""
    row = session.scalars(_builder_query().where(Builder.name == name)).first()
    if row is None:
        raise NotFound(f"no builder named {name!r}")
    farm = {view.name: view for view in
            _farm(session, viewer).builders}
    shown = _builder_object(row, farm[name], viewer)
    shown["recent_builds"] = recent_builds(session, viewer, Build.builder_id == row.id,
                                           BUILDER_HISTORY)
    counts = session.execute(
        sa.select(BuildOutcome.state, sa.func.count())
        .where(BuildOutcome.builder_id == row.id).group_by(BuildOutcome.state)).all()
    shown["outcomes"] = dict(sorted(counts))
    return shown


# -- The farm at a glance -----------------------------------------------------

def farm(session, viewer):
    """Every builder, the queue depth per processor and archive, the
    builds finished in the last hour by state, and the newest builds."""
    depth = session.execute(
        sa.select(Processor.name, Archive.purpose, Archive.name, Person.name,
                  sa.func.count())
        .select_from(BuildQueue)
        .join(Processor, Processor.id == BuildQueue.processor_id)
        .join(Build, Build.id == BuildQueue.build_id)
        .join(Archive, Archive.id == Build.archive_id)
        .outerjoin(Person, Person.id == Archive.owner_id)
        .where(BuildQueue.builder_id.is_(None),
               sa.true() if viewer.see_private else sa.not_(Archive.private))
        .group_by(Processor.name, Archive.purpose, Archive.name, Person.name)
        .order_by(Processor.name, Archive.name)).all()
    since = viewer.now - FINISHED_WINDOW
    finished = session.execute(_visible(
        sa.select(Build.buildstate, sa.func.count()).where(Build.datebuilt >= since)
        .group_by(Build.buildstate), viewer)).all()
    _, recent = builds(session, viewer, Page(RECENT_BUILDS))
    pending, waits = reasons.count(session, viewer.see_private)
    return {
        "builders": builders(session, viewer)[1],
        "queue_depth": [{"processor": processor,
                         "archive": archive_reference(purpose, name, owner),
                         "jobs": jobs}
                        for processor, purpose, name, owner, jobs in depth],
        "pending": pending,
        "dependency_waits": waits,
        "finished_last_hour": {state.name: number for state, number in sorted(
            finished, key=lambda row: row[0].number)},
        "recent_builds": recent,
    }
