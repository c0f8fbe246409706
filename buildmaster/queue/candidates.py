"""Finding the next job for a builder: the pending queue, best first, vetted.

A builder's candidates are the pending entries of its (processor,
virtualized) group, highest score first, equal scores oldest (lowest
id) first: the order of the index ``buildqueue__pending__score``, so
the database reads the first entries off the index and sorts nothing,
however long the queue and however many entries share a score.

They are read CANDIDATE_BATCH at a time with one Core query that also
brings what vetting needs (the build's pocket, its archive's privacy and
purpose, its series' status and the status of the newest live
publication of its source), so looking at an entry makes no ORM object
and no further query:

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

With fair share (buildmaster.queue.fairshare) the order within the best
score band is by the owners' usage: when the head of the queue belongs
to an owner who used builders lately, one more query reads the band's
entries of lighter owners' archives (``lighter_rows``, through the
build's archive and state, so the heavy owner's queue is not walked),
and ``fairshare.pick`` orders them with the head.  Owners at their cap
are left out of both.

Only the chosen entries are loaded as objects.  Nothing is taken off
the queue by finding it, so the same candidate comes back until it is
dispatched.

The statements are built once, with bound parameters, so SQLAlchemy
compiles each one once per process.  (PostgreSQL still plans each
execution: that planning is most of the database's share, and it grows
quickly with every table joined, which is why the series and the
publication come in as subqueries.)
"""

import logging

import sqlalchemy as sa

from buildmaster.model import (
    Archive, Build, BuildQueue, BuildStatus, DistroArchSeries, DistroSeries,
    PackagePublishingPocket, PackagePublishingStatus, SourcePackagePublishingHistory,
    utcnow)
from buildmaster.model.publishing import ACTIVE_STATUSES
from buildmaster.archive.pockets import can_build_for_pocket
from buildmaster.queue.fairshare import NO_OWNER, Scheduling, pick
from buildmaster.queue.fairshare import load as load_share

# Pending entries read per query while looking for candidates (more when
# a pass needs more candidates than this).
CANDIDATE_BATCH = 5
LOG = logging.getLogger("buildmaster.dispatch")

_queue = BuildQueue.__table__
_build = Build.__table__
_archive = Archive.__table__
_arch_series = DistroArchSeries.__table__
_series = DistroSeries.__table__
_publication = SourcePackagePublishingHistory.__table__


# The archive's owner as fair share counts owners (fairshare.NO_OWNER for none).
_OWNER = sa.func.coalesce(_archive.c.owner_id, NO_OWNER)


def _vetting_query():
    """Pending entries of enabled archives, best first, with the columns
    ``verdict`` reads."""
    live = (sa.select(_publication.c.status)
            .where(_publication.c.sourcepackagerelease_id == _build.c.sourcepackagerelease_id,
                   _publication.c.archive_id == _build.c.archive_id,
                   _publication.c.distroseries_id == _arch_series.c.distroseries_id,
                   _publication.c.status.in_(ACTIVE_STATUSES))
            .order_by(_publication.c.id.desc()).limit(1).scalar_subquery())
    series_status = (sa.select(_series.c.status)
                     .where(_series.c.id == _arch_series.c.distroseries_id)
                     .scalar_subquery())
    return (sa.select(_queue.c.id, _queue.c.lastscore, _build.c.pocket,
                      _build.c.archive_id, _OWNER.label("owner"),
                      _archive.c.private, _archive.c.purpose,
                      series_status.label("series_status"), live.label("live"))
            .select_from(_queue.join(_build, _build.c.id == _queue.c.build_id)
                         .join(_archive, _archive.c.id == _build.c.archive_id)
                         .join(_arch_series, _arch_series.c.id == _build.c.distroarchseries_id))
            .where(_queue.c.builder_id.is_(None), _archive.c.enabled)
            .order_by(_queue.c.lastscore.desc(), _queue.c.id))


_VETTING = _vetting_query()
# The first ``limit`` entries of a group ...
_GROUP = (_VETTING.where(_queue.c.processor_id == sa.bindparam("processor_id"),
                         _queue.c.virtualized == sa.bindparam("virtualized"))
          .limit(sa.bindparam("limit")))
# ... the next ones after the entry (score, after_id) ...
_GROUP_AFTER = _GROUP.where(sa.or_(
    _queue.c.lastscore < sa.bindparam("score"),
    sa.and_(_queue.c.lastscore == sa.bindparam("score"),
            _queue.c.id > sa.bindparam("after_id"))))
# ... the same, leaving out owners at their cap (fairshare) ...
_NOT_CAPPED = _OWNER.not_in(sa.bindparam("capped", expanding=True))
_GROUP_CAPPED = _GROUP.where(_NOT_CAPPED)
_GROUP_AFTER_CAPPED = _GROUP_AFTER.where(_NOT_CAPPED)
# ... the band's entries of given archives, those of owners lighter than
# the head's (fairshare), read through the build's archive and state
# (indexed) rather than the group's index, which would walk the heavy
# owner's entries too ...
_LIGHTER = (_VETTING.where(_queue.c.processor_id == sa.bindparam("processor_id"),
                           _queue.c.virtualized == sa.bindparam("virtualized"),
                           _queue.c.lastscore >= sa.bindparam("floor"),
                           _build.c.archive_id.in_(
                               sa.bindparam("archives", expanding=True)),
                           _build.c.buildstate == BuildStatus.NEEDSBUILD))
# ... and given entries.
_NAMED = _VETTING.where(_queue.c.id.in_(sa.bindparam("ids", expanding=True)))
# The objects of given entries, while still pending.
_PENDING_ENTRIES = sa.select(BuildQueue).where(
    BuildQueue.id.in_(sa.bindparam("ids", expanding=True)), BuildQueue.builder_id.is_(None))


def pending_rows(session, processor_id, virtualized, limit, after=None, capped=()):
    """The next ``limit`` pending entries of a group after ``after`` (a
    (lastscore, id) pair, or None), best first, as vetting rows; none of
    the owners ``capped``."""
    params = {"processor_id": processor_id, "virtualized": virtualized, "limit": limit}
    if capped:
        params["capped"] = list(capped)
    if after is None:
        return session.connection().execute(_GROUP_CAPPED if capped else _GROUP,
                                            params).all()
    params["score"], params["after_id"] = after
    return session.connection().execute(_GROUP_AFTER_CAPPED if capped else _GROUP_AFTER,
                                        params).all()


def lighter_rows(session, processor_id, virtualized, floor, archives, share, limit):
    """Up to ``limit`` pending (NEEDSBUILD) entries of a group scoring
    ``floor`` or more in ``archives``, the lighter owners' (by ``share``'s
    usage; an owner with none is lightest), the lightest owner's first,
    each owner's best first.  One query, found through the build's
    archive, so it costs what those archives have pending, never the
    heavy owner's queue; it runs only when the head of the queue belongs
    to an owner with usage (candidate_ids)."""
    owners = {share.archive_owners[archive] for archive in archives}
    lighter = sorted((used, owner) for owner, used in share.owners.items()
                     if owner in owners)
    query = _LIGHTER
    if lighter:
        rank = sa.case({owner: n for n, (_, owner) in enumerate(lighter, 1)},
                       value=_OWNER, else_=0)
        query = query.order_by(None).order_by(
            rank, _queue.c.lastscore.desc(), _queue.c.id)
    return session.connection().execute(query.limit(limit), {
        "processor_id": processor_id, "virtualized": virtualized, "floor": floor,
        "archives": list(archives)}).all()


def verdict(row):
    """None when the entry may be dispatched now; else (state, why): the
    state its build ends in, or None when it only waits."""
    if row.live is None:
        return BuildStatus.SUPERSEDED, "source no longer published"
    if row.pocket == PackagePublishingPocket.SECURITY:
        return BuildStatus.FAILEDTOBUILD, "SECURITY builds are not dispatched"
    if row.private and row.live != PackagePublishingStatus.PUBLISHED:
        return None, "waits for its private source to be published"
    if not can_build_for_pocket(row.series_status, row.pocket, row.purpose):
        return None, (f"waits: {row.pocket.name} is closed in a "
                      f"{row.series_status.name} series")
    return None


def vet_rows(session, rows, logger=LOG):
    """The ids of the dispatchable ``rows``, in order; the dead leave the
    queue (committed)."""
    return [row.id for row in dispatchable(session, rows, logger)]


def dispatchable(session, rows, logger=LOG):
    """The dispatchable ``rows``, in order; the dead leave the queue
    (committed)."""
    keep = []
    for row in rows:
        judged = verdict(row)
        if judged is None:
            keep.append(row)
            continue
        state, why = judged
        if state is not None:
            _drop(session, row.id, state, why, logger)
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug(f"{session.get(BuildQueue, row.id).build.label}: {why}")
    return keep


def _drop(session, entry_id, state, why, logger):
    """Take the entry off the queue and end its build in ``state``,
    unless another master has taken or dropped it first."""
    entry = session.get(BuildQueue, entry_id)
    build = entry.build
    deleted = session.execute(sa.delete(_queue).where(
        _queue.c.id == entry_id, _queue.c.builder_id.is_(None))).rowcount
    if not deleted:
        session.commit()
        return
    old, build.buildstate = build.buildstate, state
    build.note(state, utcnow())
    session.commit()
    session.expunge(entry)
    session.expire(build, ["buildqueue_record"])
    logger.info(f"{build.label}: {old.name} -> {state.name} ({why})")


def vet(session, entries, logger=LOG):
    """The dispatchable ones of ``entries`` (BuildQueue objects), in
    order; drops the dead."""
    if not entries:
        return []
    session.flush()
    rows = session.connection().execute(_NAMED, {"ids": [entry.id for entry in entries]})
    by_id = {row.id: row for row in rows}
    keep = set(vet_rows(session, [by_id[entry.id] for entry in entries
                                  if entry.id in by_id], logger))
    return [entry for entry in entries if entry.id in keep]


def candidate_ids(session, processor_id, virtualized, count, logger=LOG, share=None):
    """The ids of up to ``count`` dispatchable pending entries of one
    group, in the order a pass hands them out: best first, or with
    ``share`` (a fairshare.Share) by fair share within the best band.

    The head of the queue is read as without fair share (owners at their
    cap left out).  Only when its owner has usage can another owner be
    lighter: then one more query (lighter_rows) brings the band's entries
    of the lighter owners, and fairshare.pick orders the lot.  So a pass
    makes a fixed number of queries per group whatever the queue holds.
    """
    capped = share.capped() if share is not None else ()
    found, after = [], None
    limit = max(CANDIDATE_BATCH, count)
    while len(found) < count:
        rows = pending_rows(session, processor_id, virtualized, limit, after, capped)
        if not rows:
            break
        after = (rows[-1].lastscore, rows[-1].id)
        found.extend(dispatchable(session, rows, logger))
    if share is None or not found:
        return [row.id for row in found[:count]]
    head = found[0]
    archives = share.lighter_archives(head.owner) if share.owner_usage(head.owner) else []
    if archives:
        floor = head.lastscore - share.scheduling.band
        lighter = dispatchable(session, lighter_rows(
            session, processor_id, virtualized, floor, archives, share, limit), logger)
        seen = {row.id for row in found}
        found = sorted(found + [row for row in lighter if row.id not in seen],
                       key=lambda row: (-row.lastscore, row.id))
    return pick(found, share, count)


def load_entries(session, ids, *options):
    """The BuildQueue objects of ``ids`` still pending, in that order,
    loaded with ``options``.

    An entry another master claimed since it was vetted is left out:
    loaded as its new builder's, it could look like a job given to this
    same builder by hand, which may be sent again (dispatch.claim).
    """
    if not ids:
        return []
    query = _PENDING_ENTRIES.options(*options) if options else _PENDING_ENTRIES
    loaded = {entry.id: entry for entry in session.scalars(query, {"ids": ids})}
    return [loaded[entry_id] for entry_id in ids if entry_id in loaded]


def find_candidates(session, processor_id, virtualized, count, logger=LOG, options=(),
                    share=None):
    """Up to ``count`` dispatchable pending entries of one group, in the
    order a pass hands them out (candidate_ids), loaded with ``options``."""
    return load_entries(
        session, candidate_ids(session, processor_id, virtualized, count, logger, share),
        *options)


def find_build_candidate(builder, logger=LOG, scheduling=None):
    """The job ``builder`` should take now, by score and fair share
    (``scheduling``: a fairshare.Scheduling, the defaults if None), or None."""
    session = sa.orm.object_session(builder)
    session.flush()
    share = load_share(session, scheduling or Scheduling())
    found = find_candidates(session, builder.processor_id, builder.virtualized, 1, logger,
                            share=share)
    return found[0] if found else None
