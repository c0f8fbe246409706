"""The dispatcher: choose the next job for an idle builder and start it.

Finding a candidate reads the pending queue of one (processor,
virtualized) group in score order, CANDIDATE_BATCH entries at a time
(index ``buildqueue__pending__score``), and vets each batch with one
query for the publications of its sources:

* a build whose source has no live (PENDING or PUBLISHED) publication
  left in its archive and series is SUPERSEDED and leaves the queue;
* a SECURITY-pocket build is FAILEDTOBUILD and leaves the queue (the
  farm cannot build embargoed uploads yet);
* a build in a private archive whose newest live publication is still
  PENDING waits until it is PUBLISHED: its files are only reachable
  through the archive's pool;
* a build whose pocket its series no longer accepts waits (a series
  may be frozen again);
* builds of disabled archives are never read.

Nothing is taken off the queue by finding it, so the same candidate
comes back until it is dispatched.

Dispatching claims the entry with one conditional UPDATE (it must be
unclaimed or already this builder's, and the builder must have no other
job; on PostgreSQL the builder row is locked first so two masters
cannot give one builder two jobs), commits the claim, then asks the
slave to fetch the chroot and the source files and to start the build.
Only when the slave says BUILDING is the build marked BUILDING.  If the
slave refuses or fails, the claim is undone and one failure is counted
against both the builder and the build (Builder.failure_count,
Build.failure_count, judged like the scanner's failures by
failures.judge): the builder keeps a note of why in ``failnotes`` and is
only failed (builderok False) once its count reaches
``builder_failure_threshold``, so one refused download does not take a
builder out of the farm, while a job that keeps breaking builders is
failed at ``job_failure_threshold`` instead of eating the farm.
"""

import logging
import xmlrpc.client

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, joinedload, selectinload
from twisted.internet import defer

from buildmaster import builderslave
from buildmaster.archivedependencies import BUILDD_USER, source_file_url, sources_list
from buildmaster.failures import judge
from buildmaster.librarian.urls import http_url
from buildmaster.model import (
    Archive, Build, Builder, BuildQueue, BuildStatus, DistroArchSeries,
    PackagePublishingPocket, PackagePublishingStatus, SourcePackagePublishingHistory,
    SourcePackageRelease, utcnow)
from buildmaster.model.publishing import ACTIVE_STATUSES
from buildmaster.pockets import build_allowed_in_pocket
from buildmaster.slaveclient import SlaveError
from slave.states import BuilderStatus

# Pending entries read per query while looking for candidates (more when
# a pass needs more candidates than this).
CANDIDATE_BATCH = 5
LOG = logging.getLogger("buildmaster.dispatch")


class JobTaken(Exception):
    """The queue entry was claimed by another builder, or the builder is busy."""


class DispatchFailed(Exception):
    """The slave refused or failed the job; the job is back in the queue."""


class SlaveRefused(Exception):
    """The slave answered, but no."""


def label(build):
    """'build 9 (foobar 1.0 i386)', as the operators' log names a build."""
    spr = build.sourcepackagerelease
    return (f"build {build.id} ({spr.name} {spr.version} "
            f"{build.distroarchseries.architecturetag})")


def job_id(entry):
    """The job's name on the wire: '<Build.id>-<BuildQueue.id>'."""
    return f"{entry.build_id}-{entry.id}"


def default_config():
    from buildmaster import config as configmodule
    return configmodule.load(configmodule.config_path_from_environment(),
                             check_dirs=False)


# -- Finding candidates ---------------------------------------------------

def pending_query(processor_id, virtualized, after=None, limit=None):
    """The next ``limit`` (CANDIDATE_BATCH) pending entries of a group
    after ``after`` (a (lastscore, id) pair, or None), best first."""
    query = (
        sa.select(BuildQueue)
        .join(Build, Build.id == BuildQueue.build_id)
        .join(Archive, Archive.id == Build.archive_id)
        .where(BuildQueue.processor_id == processor_id,
               BuildQueue.virtualized == virtualized,
               BuildQueue.builder_id.is_(None),
               Archive.enabled)
        .order_by(BuildQueue.lastscore.desc(), BuildQueue.id)
        .limit(limit or CANDIDATE_BATCH))
    if after is not None:
        score, last_id = after
        query = query.where(sa.or_(
            BuildQueue.lastscore < score,
            sa.and_(BuildQueue.lastscore == score, BuildQueue.id > last_id)))
    return query


def _pending_batch(session, processor_id, virtualized, after, limit):
    """The batch with the rows vetting reads.

    Few joins: PostgreSQL's planning time grows fast with them (nine
    tables took 6 ms to plan, for a 0.3 ms query).
    """
    query = pending_query(processor_id, virtualized, after, limit).options(
        contains_eager(BuildQueue.build).options(
            contains_eager(Build.archive),
            joinedload(Build.sourcepackagerelease, innerjoin=True)
            .joinedload(SourcePackageRelease.sourcepackagename, innerjoin=True),
            selectinload(Build.distroarchseries)
            .selectinload(DistroArchSeries.distroseries)))
    return session.scalars(query).all()


def _newest_live_publications(session, builds):
    """{(spr id, archive id, series id): status of the newest live
    publication} for ``builds``, in one query."""
    spph = SourcePackagePublishingHistory
    rows = session.execute(
        sa.select(spph.sourcepackagerelease_id, spph.archive_id, spph.distroseries_id,
                  spph.status)
        .where(spph.sourcepackagerelease_id.in_({b.sourcepackagerelease_id for b in builds}),
               spph.archive_id.in_({b.archive_id for b in builds}),
               spph.status.in_(ACTIVE_STATUSES))
        .order_by(spph.id))
    return {(spr, archive, series): status for spr, archive, series, status in rows}


def _drop(session, entry, state, why, logger):
    """Take ``entry`` off the queue and end its build in ``state``.

    Tolerates another master having dropped it first.
    """
    build = entry.build
    old = build.buildstate
    session.execute(sa.delete(BuildQueue).where(
        BuildQueue.id == entry.id, BuildQueue.builder_id.is_(None)))
    build.buildstate = state
    session.commit()
    session.expire(build, ["buildqueue_record"])
    logger.info(f"{label(build)}: {old.name} -> {state.name} ({why})")


def vet(session, entries, logger=LOG):
    """The dispatchable ones of ``entries``, in order; drops the dead."""
    if not entries:
        return []
    keep = []
    live = _newest_live_publications(session, [entry.build for entry in entries])
    for entry in entries:
        build = entry.build
        status = live.get((build.sourcepackagerelease_id, build.archive_id,
                           build.distroarchseries.distroseries_id))
        if status is None:
            _drop(session, entry, BuildStatus.SUPERSEDED,
                  "source no longer published", logger)
        elif build.pocket == PackagePublishingPocket.SECURITY:
            _drop(session, entry, BuildStatus.FAILEDTOBUILD,
                  "SECURITY builds are not dispatched", logger)
        elif build.archive.private and status != PackagePublishingStatus.PUBLISHED:
            logger.debug(f"{label(build)}: waits for its private source to be published")
        elif not build_allowed_in_pocket(build):
            logger.debug(f"{label(build)}: {build.pocket.name} is closed in "
                         f"{build.distroseries.name}")
        else:
            keep.append(entry)
    return keep


def find_candidates(session, processor_id, virtualized, count, logger=LOG):
    """Up to ``count`` dispatchable pending entries of one group, best first."""
    found, after = [], None
    while len(found) < count:
        batch = _pending_batch(session, processor_id, virtualized, after,
                               max(CANDIDATE_BATCH, count))
        if not batch:
            break
        after = (batch[-1].lastscore, batch[-1].id)
        found.extend(vet(session, batch, logger))
    return found[:count]


def find_build_candidate(builder, logger=LOG):
    """The best job ``builder`` can take now, or None."""
    session = sa.orm.object_session(builder)
    session.flush()
    found = find_candidates(session, builder.processor_id, builder.virtualized, 1, logger)
    return found[0] if found else None


def is_available(builder):
    """Ok, active and without a job in the database (the slave itself is
    asked when the job is sent)."""
    session = sa.orm.object_session(builder)
    busy = session.scalar(sa.select(sa.exists().where(BuildQueue.builder_id == builder.id)))
    return bool(builder.builderok and builder.active and not busy)


# -- Dispatching ------------------------------------------------------------

def check_dispatchable(build):
    """Raise AssertionError for builds the farm must not start."""
    assert build.pocket != PackagePublishingPocket.SECURITY, (
        "Soyuz is not yet capable of building SECURITY uploads.")
    assert build_allowed_in_pocket(build), (
        f"{build.title} ({build.id}) can not be built for pocket {build.pocket.name}: "
        f"invalid pocket due to the series status of {build.distroseries.name}.")


def build_request(config, entry):
    """What to send: [(sha1, url, user, password)] to fetch, and the
    build() arguments."""
    build = entry.build
    das, archive = build.distroarchseries, build.archive
    chroot = das.chroot
    if chroot is None:
        raise ValueError(f"{label(build)}: no chroot for {das.displayname}")
    fetches = [(chroot.content.sha1, http_url(config, chroot), None, None)]
    filemap = {}
    for source_file in build.sourcepackagerelease.files:
        alias = source_file.libraryfile
        filemap[alias.filename] = alias.content.sha1
        if archive.private:
            fetches.append((alias.content.sha1,
                            source_file_url(config, build, alias.filename),
                            BUILDD_USER, archive.buildd_secret))
        else:
            fetches.append((alias.content.sha1, http_url(config, alias), None, None))
    archives = sources_list(config, build)
    args = {
        "archives": archives.lines,
        "suite": build.suite,
        "ogrecomponent": archives.ogre_component,
        "archive_purpose": archives.purpose,
        "archive_private": archive.private,
        "arch_tag": das.architecturetag,
        "distribution": build.distribution.name,
        "series": build.distroseries.name,
    }
    return fetches, ("binarypackage", chroot.content.sha1, filemap, args)


def claim(session, builder, entry):
    """Atomically make ``entry`` this builder's job; False if it is
    another's or the builder has another job.  Commits.

    A compare-and-set on the builder the entry had when it was read:
    an entry read as pending is claimed only while still pending, so two
    masters that chose the same entry for the same builder do not both
    win; an entry already given to this builder (by an operator, or by
    the seeds' stories) may be dispatched again.
    """
    session.flush()
    seen = entry.builder_id
    if seen not in (None, builder.id):
        return False
    session.execute(sa.select(Builder.id).where(Builder.id == builder.id)
                    .with_for_update())
    other_job = sa.exists().where(BuildQueue.builder_id == builder.id,
                                  BuildQueue.id != entry.id)
    still_seen = (BuildQueue.builder_id.is_(None) if seen is None
                  else BuildQueue.builder_id == seen)
    result = session.execute(
        sa.update(BuildQueue)
        .where(BuildQueue.id == entry.id, still_seen, ~other_job)
        .values(builder_id=builder.id, date_started=utcnow())
        .execution_options(synchronize_session=False))
    session.commit()
    _forget_job_links(session, builder, entry)
    return result.rowcount == 1


def _forget_job_links(session, builder, entry):
    """Reload what links builder and job: the rows changed behind the
    ORM's back, and a job deleted earlier may still be remembered as the
    builder's current one."""
    session.refresh(entry)
    session.expire(builder, ["currentjob"])


def unclaim(session, builder, entry):
    session.execute(
        sa.update(BuildQueue)
        .where(BuildQueue.id == entry.id, BuildQueue.builder_id == builder.id)
        .values(builder_id=None, date_started=None)
        .execution_options(synchronize_session=False))
    session.flush()
    _forget_job_links(session, builder, entry)


def dispatch_candidate(builder, entry, config=None, logger=LOG):
    """Start ``entry`` on ``builder``; a Deferred firing with None once
    the slave builds it.

    Fails with AssertionError (nothing claimed) for a build that must not
    start, JobTaken when the claim loses, DispatchFailed when the slave
    refuses or fails (claim undone, failure counted).
    """
    session = sa.orm.object_session(builder)
    config = config or default_config()
    try:
        check_dispatchable(entry.build)
        fetches, build_args = build_request(config, entry)
    except Exception:
        return defer.fail()
    if not claim(session, builder, entry):
        return defer.fail(JobTaken(
            f"{label(entry.build)}: taken by another builder, or {builder.name} is busy"))
    d = _send(builder, entry, fetches, build_args)
    d.addCallback(lambda _: _started(session, builder, entry, logger))
    d.addErrback(_refused, session, builder, entry, config, logger)
    return d


@defer.inlineCallbacks
def _send(builder, entry, fetches, build_args):
    slave = builder.slave
    for sha1, url, user, password in fetches:
        present, info = yield slave.ensurepresent(sha1, url, user, password)
        if not present:
            raise SlaveRefused(f"ensurepresent({url}) refused: {info}")
    state, info = yield slave.build(job_id(entry), *build_args)
    if state != BuilderStatus.BUILDING:
        raise SlaveRefused(f"build({job_id(entry)}) answered {state}: {info}")


def _started(session, builder, entry, logger):
    build = entry.build
    old = build.buildstate
    entry.markAsBuilding(builder)
    build.buildstate = BuildStatus.BUILDING
    build.builder = builder
    session.commit()
    logger.info(f"{label(build)}: {old.name} -> BUILDING on {builder.name} "
                f"(job {job_id(entry)})")


def _refused(failure, session, builder, entry, config, logger):
    failure.trap(SlaveError, SlaveRefused, xmlrpc.client.Fault)
    build = entry.build
    reason = f"Dispatch of {label(build)} failed: {failure.getErrorMessage()}"
    builder.failure_count += 1
    build.failure_count += 1
    limits = config.builddmaster
    verdict = judge(builder.failure_count, build.failure_count,
                    limits.builder_failure_threshold, limits.job_failure_threshold)
    if verdict.fail_builder:
        builder.failBuilder(reason)
    else:
        builder.failnotes = reason
    if verdict.fail_job:
        old = build.buildstate
        session.delete(entry)
        build.buildstate = BuildStatus.FAILEDTOBUILD
    else:
        unclaim(session, builder, entry)
    session.commit()
    logger.warning(f"{reason} (on {builder.name}: {builder.failure_count} failures; "
                   f"{label(build)}: {build.failure_count})")
    if verdict.fail_builder:
        logger.warning(f"Builder {builder.name} marked as failed: {reason}")
    if verdict.fail_job:
        logger.warning(f"{label(build)}: {old.name} -> FAILEDTOBUILD "
                       f"(failed to dispatch {build.failure_count} times)")
    raise DispatchFailed(reason)


# -- A whole pass -------------------------------------------------------------

def idle_builders(session):
    """Every active, ok, non-manual builder without a job, in one query."""
    busy = sa.select(BuildQueue.builder_id).where(BuildQueue.builder_id.is_not(None))
    return session.scalars(
        sa.select(Builder).where(Builder.active, Builder.builderok,
                                 sa.not_(Builder.manual), Builder.id.not_in(busy))
        .order_by(Builder.id)).all()


def pair_builders(session, builders, logger=LOG):
    """[(builder, candidate)]: candidates chosen once per (processor,
    virtualized) group, best to the first builders."""
    groups = {}
    for builder in builders:
        groups.setdefault((builder.processor_id, builder.virtualized), []).append(builder)
    pairs = []
    for (processor_id, virtualized), members in groups.items():
        candidates = find_candidates(session, processor_id, virtualized, len(members),
                                     logger)
        pairs.extend(zip(members, candidates))
    return pairs


@defer.inlineCallbacks
def dispatch_pairs(pairs, config, logger=LOG):
    """Dispatch every (builder, candidate) pair, at most
    ``max_concurrent_calls`` talking at once; fires with how many started."""
    semaphore = defer.DeferredSemaphore(max(1, config.builddmaster.max_concurrent_calls))
    results = yield defer.DeferredList(
        [semaphore.run(dispatch_candidate, builder, entry, config, logger)
         for builder, entry in pairs], consumeErrors=True)
    started = 0
    for (builder, entry), (ok, result) in zip(pairs, results):
        if ok:
            started += 1
        elif result.check(JobTaken):
            logger.info(result.getErrorMessage())
        elif not result.check(DispatchFailed):
            logger.error(f"Dispatching to {builder.name} failed: {result.getErrorMessage()}",
                         exc_info=(result.type, result.value, result.getTracebackObject()))
    return started


@defer.inlineCallbacks
def dispatch(context, logger=LOG):
    """Fill every idle builder once; fires with the number of jobs started."""
    builderslave.configure(context.config)
    session = context.sessions()
    try:
        pairs = pair_builders(session, idle_builders(session), logger)
        started = yield dispatch_pairs(pairs, context.config, logger)
    finally:
        session.close()
    return started
