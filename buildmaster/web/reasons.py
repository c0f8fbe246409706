"""Why each job waits: one answer for the queue page, the API and
``buildmaster queue``.

A pending job (a BuildQueue entry no builder has taken) gets the first
of these that holds, each a Reason with a stable ``code`` and a
sentence for people:

==================== ===========================================================
archive_disabled     its archive is disabled: the dispatcher never reads it
superseded           its source is no longer published: the next dispatch
                     pass ends it SUPERSEDED
security             a SECURITY build, which the farm does not dispatch
private_unpublished  its private source is not yet published (the slave can
                     only fetch it from the archive's pool)
pocket_closed        its series no longer takes builds for its pocket
no_builder           no builder for its processor at all
virtualized_only     its archive needs virtualized builders, and its
                     processor has none
not_virtualized      only virtualized builders exist for its processor, and
                     its archive does not use them
builders_unavailable every builder that could take it is disabled, failed,
                     quarantined or manual
builders_busy        every builder that could take it is building; the
                     estimate is when the first of them should free
ready                a builder is free: the next dispatch pass takes it (in
                     score order)
==================== ===========================================================

A build in MANUALDEPWAIT has no queue entry but waits all the same: it
is listed after the pending jobs with ``dependency``, naming the
relation its slave could not satisfy.

The first five are exactly the dispatcher's own vetting
(buildmaster.queue.candidates.verdict), read from the same columns; the
builder ones follow its grouping: a job goes to an active, ok,
non-manual builder of its processor whose ``virtualized`` equals the
job's.

The estimate for busy builders: for each running build, the median
duration of the earlier finished builds of the same source (any
architecture, the newest MEDIAN_SAMPLE of them) less the time it has
run so far, never below zero; the soonest of those.  None when no
running source has built before.

Fair share (buildmaster.queue.fairshare): when the job's owner has used
builders lately and owners who used fewer have jobs waiting for the same
builders, those go first; the busy reason says so ("fair share: ~alice
used 3.2 builder-hours in the last 4 h") and the estimate adds a round
of the typical running build (the median of the running sources'
medians) for every builder's worth of those jobs.

``why`` is a pure function of a job and a Farm; ``load_farm`` reads the
builders, the estimates and fair share's usage and waiting jobs in five
queries whatever the size of the queue, and ``jobs`` the queue a page at
a time.
"""

import dataclasses
import statistics
from typing import Optional

import sqlalchemy as sa

from buildmaster.queue.candidates import verdict as dispatch_verdict
from buildmaster.model import (
    Archive, Build, Builder, BuilderHealth, BuildQueue, BuildStatus, Distribution,
    DistroArchSeries, DistroSeries, Person, Processor, SourcePackageName,
    SourcePackagePublishingHistory, SourcePackageRelease)
from buildmaster.model.enums import (
    ArchivePurpose, DistroSeriesStatus, PackagePublishingStatus)
from buildmaster.model.publishing import ACTIVE_STATUSES
from buildmaster.operators.output import age_text
from buildmaster.queue.fairshare import NO_OWNER, Scheduling, hours_text
from buildmaster.queue.fairshare import load as load_share

MEDIAN_SAMPLE = 20

# Builder states, as the farm page shows them.
BUILDING, IDLE, FAILED, QUARANTINED, DISABLED = (
    "building", "idle", "failed", "quarantined", "disabled")


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a job waits: ``code`` for scripts, ``text`` for people, and
    for busy builders ``estimate``, seconds until one should free."""

    code: str
    text: str
    estimate: Optional[int] = None


def builder_state(builderok, failure_count, told, busy, failure_threshold):
    """One word for an active builder: building or idle when in use;
    quarantined (its health says so), failed (the farm took it out after
    ``failure_threshold`` failures) or disabled (an operator did) when
    not.  A removed builder (not active) has no state: it is in no list."""
    if not builderok:
        if told == QUARANTINED.upper():
            return QUARANTINED
        return FAILED if failure_count >= failure_threshold else DISABLED
    return BUILDING if busy else IDLE


@dataclasses.dataclass
class BuilderView:
    """What ``why`` needs of one builder."""

    name: str
    processor_id: int
    virtualized: bool
    manual: bool
    state: str
    failnotes: Optional[str] = None
    frees_in: Optional[int] = None  # seconds, for a building one with an estimate

    @property
    def usable(self):
        return self.state in (IDLE, BUILDING) and not self.manual


@dataclasses.dataclass
class Farm:
    builders: list
    processors: dict  # id -> name
    shares: dict = dataclasses.field(default_factory=dict)  # owner id -> seconds used
    waiting: dict = dataclasses.field(default_factory=dict)  # (processor, virt) -> {owner: n}
    half_life: float = 4 * 3600.0
    typical: Optional[float] = None  # seconds a running build takes, typically

    def processor(self, processor_id):
        return self.processors.get(processor_id, str(processor_id))


def _names(builders):
    return ", ".join(b.name for b in builders)


def _out_of_use(builder):
    """'bob (disabled: disk full)', 'frog (manual)'."""
    if builder.state in (IDLE, BUILDING):
        return f"{builder.name} (manual)"
    notes = f": {builder.failnotes}" if builder.failnotes else ""
    return f"{builder.name} ({builder.state}{notes})"


def why(job, farm):
    """The Reason ``job`` waits.  ``job`` has the vetting columns
    (live, pocket, private, purpose, series_status), ``archive``,
    ``archive_enabled``, ``processor_id`` and ``virtualized``."""
    if not job.archive_enabled:
        return Reason("archive_disabled", f"its archive {job.archive} is disabled")
    verdict = dispatch_verdict(job)
    if verdict is not None:
        return _vetting_reason(job, verdict)
    processor = farm.processor(job.processor_id)
    mine = [b for b in farm.builders if b.processor_id == job.processor_id]
    if not mine:
        return Reason("no_builder", f"no builder for processor {processor}")
    group = [b for b in mine if b.virtualized == job.virtualized]
    if not group:
        if job.virtualized:
            return Reason("virtualized_only",
                          f"only virtualized builders may build for {job.archive}, and "
                          f"processor {processor} has none ({_names(mine)} are not)")
        return Reason("not_virtualized",
                      f"every builder for processor {processor} is virtualized "
                      f"({_names(mine)}), and {job.archive} does not use them")
    usable = [b for b in group if b.usable]
    if not usable:
        return Reason("builders_unavailable",
                      "every builder that could take it is out of use: "
                      + ", ".join(_out_of_use(b) for b in group))
    idle = [b for b in usable if b.state == IDLE]
    if idle:
        return Reason("ready", f"next dispatch: {_names(idle)} "
                               f"{'is' if len(idle) == 1 else 'are'} free")
    estimates = [b.frees_in for b in usable if b.frees_in is not None]
    busy = (f"all {len(usable)} builders for processor {processor} are busy"
            if len(usable) > 1 else f"{usable[0].name}, the one builder for processor "
                                    f"{processor}, is busy")
    if not estimates:
        return Reason("builders_busy", busy + "; no estimate (their sources never "
                                              "built here before)")
    soonest = min(estimates)
    note, ahead = _fair_share(job, farm)
    if ahead and farm.typical:
        soonest += int(ahead // len(usable) * farm.typical)
    when = "any moment now" if soonest == 0 else f"in about {age_text(soonest)}"
    return Reason("builders_busy", f"{busy}; one should free {when}{note}", soonest)


def _fair_share(job, farm):
    """('; fair share: ...', jobs of lighter owners ahead) when the job's
    owner used builders lately and lighter owners wait for the same
    builders; else ('', 0)."""
    owner = job.owner_id if job.owner_id is not None else NO_OWNER
    used = farm.shares.get(owner, 0.0)
    waiting = farm.waiting.get((job.processor_id, job.virtualized), {})
    ahead = sum(n for other, n in waiting.items()
                if other != owner and farm.shares.get(other, 0.0) < used)
    if not ahead:
        return "", 0
    who = f"~{job.owner}" if job.owner else job.archive
    return (f"; fair share: {who} used {hours_text(used)} in the last "
            f"{farm.half_life / 3600:g} h", ahead)


def _vetting_reason(job, verdict):
    state, text = verdict
    if state == BuildStatus.SUPERSEDED:
        return Reason("superseded", "its source is no longer published; the next "
                                    "dispatch pass ends it SUPERSEDED")
    if state is not None:
        return Reason("security", "SECURITY builds are not dispatched")
    if job.private and job.live != PackagePublishingStatus.PUBLISHED:
        return Reason("private_unpublished",
                      "its private source is not yet published")
    return Reason("pocket_closed", f"its series ({job.series_status.name}) takes no "
                                   f"{job.pocket.name} builds")


def dependency_reason(relation):
    """The Reason of a MANUALDEPWAIT build waiting on ``relation``."""
    return Reason("dependency", f"waiting on a dependency: {relation or '(not recorded)'}")


# -- Reading the farm ---------------------------------------------------------

def load_farm(session, now, failure_threshold, scheduling=None):
    """The Farm as it is now: every builder with its state and, when
    building, its estimate, and fair share's usage (``scheduling``, the
    defaults if None); a removed builder (``builder remove``: not
    active) is not in it, so no reason names it."""
    processors = dict(session.execute(sa.select(Processor.id, Processor.name)).all())
    rows = session.execute(
        sa.select(Builder.name, Builder.processor_id, Builder.virtualized, Builder.manual,
                  Builder.builderok, Builder.failure_count,
                  Builder.failnotes, BuilderHealth.state, BuildQueue.date_started,
                  SourcePackageName.name.label("source"))
        .outerjoin(BuilderHealth, BuilderHealth.builder_id == Builder.id)
        .outerjoin(BuildQueue, BuildQueue.builder_id == Builder.id)
        .outerjoin(Build, Build.id == BuildQueue.build_id)
        .outerjoin(SourcePackageRelease,
                   SourcePackageRelease.id == Build.sourcepackagerelease_id)
        .outerjoin(SourcePackageName,
                   SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
        .where(Builder.active).order_by(Builder.name)).all()
    medians = median_durations(session, {row.source for row in rows if row.source})
    builders = []
    for row in rows:
        busy = row.source is not None
        view = BuilderView(
            row.name, row.processor_id, row.virtualized, row.manual,
            builder_state(row.builderok, row.failure_count, row.state, busy,
                          failure_threshold), row.failnotes)
        if busy and row.source in medians:
            elapsed = (now - row.date_started).total_seconds() if row.date_started else 0
            view.frees_in = int(max(0, medians[row.source] - elapsed))
        builders.append(view)
    scheduling = scheduling or Scheduling()
    owner = sa.func.coalesce(Archive.owner_id, NO_OWNER)
    waiting = {}
    for processor_id, virtualized, who, n in session.execute(
            sa.select(BuildQueue.processor_id, BuildQueue.virtualized, owner, sa.func.count())
            .join(Build, Build.id == BuildQueue.build_id)
            .join(Archive, Archive.id == Build.archive_id)
            .where(BuildQueue.builder_id.is_(None))
            .group_by(BuildQueue.processor_id, BuildQueue.virtualized, owner)).all():
        waiting.setdefault((processor_id, virtualized), {})[who] = n
    share = load_share(session, scheduling, now)
    return Farm(builders, processors, share.owners if scheduling.fair_share else {}, waiting,
                scheduling.half_life,
                statistics.median(medians.values()) if medians else None)


def median_durations(session, sources):
    """{source name: median seconds of its newest finished builds}."""
    if not sources:
        return {}
    rows = session.execute(
        sa.select(SourcePackageName.name, Build.buildduration)
        .join(SourcePackageRelease, SourcePackageRelease.id == Build.sourcepackagerelease_id)
        .join(SourcePackageName,
              SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
        .where(SourcePackageName.name.in_(sorted(sources)),
               Build.buildduration.is_not(None))
        .order_by(Build.id.desc())).all()
    samples = {}
    for name, duration in rows:
        kept = samples.setdefault(name, [])
        if len(kept) < MEDIAN_SAMPLE:
            kept.append(duration.total_seconds())
    return {name: statistics.median(values) for name, values in samples.items()}


# -- Reading the queue --------------------------------------------------------

_live = (sa.select(SourcePackagePublishingHistory.status)
         .where(SourcePackagePublishingHistory.sourcepackagerelease_id
                == Build.sourcepackagerelease_id,
                SourcePackagePublishingHistory.archive_id == Build.archive_id,
                SourcePackagePublishingHistory.distroseries_id
                == DistroArchSeries.distroseries_id,
                SourcePackagePublishingHistory.status.in_(ACTIVE_STATUSES))
         .order_by(SourcePackagePublishingHistory.id.desc()).limit(1)
         .scalar_subquery().label("live"))


def _job_query(*columns):
    return (sa.select(*columns)
            .select_from(Build)
            .join(SourcePackageRelease, SourcePackageRelease.id == Build.sourcepackagerelease_id)
            .join(SourcePackageName,
                  SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
            .join(DistroArchSeries, DistroArchSeries.id == Build.distroarchseries_id)
            .join(DistroSeries, DistroSeries.id == DistroArchSeries.distroseries_id)
            .join(Archive, Archive.id == Build.archive_id)
            .outerjoin(Person, Person.id == Archive.owner_id))


_COMMON = (Build.id.label("build_id"), SourcePackageName.name.label("source"),
           SourcePackageRelease.version, DistroArchSeries.architecturetag.label("arch"),
           Archive.name.label("archive_name"), Archive.purpose,
           Person.name.label("owner"), Archive.owner_id, Archive.private, Archive.enabled.label(
               "archive_enabled"), Build.pocket, DistroSeries.status.label("series_status"))


def archive_reference(purpose, name, owner):
    """As Archive.reference: primary, partner, ~owner/name."""
    return f"~{owner}/{name}" if purpose == ArchivePurpose.PPA else name


@dataclasses.dataclass
class Job:
    """One row of the queue listing, with the columns ``why`` reads."""

    row: object
    archive: str

    def __getattr__(self, name):
        return getattr(self.row, name)


def _pending(see_private, build_id=None):
    query = _job_query(
        BuildQueue.id, BuildQueue.lastscore, BuildQueue.created, BuildQueue.processor_id,
        BuildQueue.virtualized, _live, *_COMMON).join(
            BuildQueue, BuildQueue.build_id == Build.id).where(
                BuildQueue.builder_id.is_(None))
    return _narrowed(query, see_private, build_id)


def _depwaits(see_private, build_id=None):
    query = _job_query(Build.dependencies, Build.datebuilt, *_COMMON).where(
        Build.buildstate == BuildStatus.MANUALDEPWAIT)
    return _narrowed(query, see_private, build_id)


def _narrowed(query, see_private, build_id):
    if not see_private:
        query = query.where(sa.not_(Archive.private))
    if build_id is not None:
        query = query.where(Build.id == build_id)
    return query


def count(session, see_private=False, waits=True, build_id=None):
    """(pending jobs, dependency waits) visible."""
    def total(query):
        return session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    return (total(_pending(see_private, build_id).with_only_columns(BuildQueue.id)),
            total(_depwaits(see_private, build_id).with_only_columns(Build.id))
            if waits else 0)


def jobs(session, now, farm, see_private=False, limit=None, offset=0, waits=True,
         build_id=None):
    """(total, [queue object]): the pending jobs, highest score first
    (the dispatcher's order), then the dependency waits, oldest first;
    ``limit`` of them from ``offset``.  Each object has the CLI's queue
    names plus ``processor``, ``reason``, ``reason_code`` and
    ``estimate`` (``build_id``: only that build's); a dependency wait has no job ``id``, ``score`` or
    ``age``, and says ``dependencies``."""
    pending_total, waits_total = count(session, see_private, waits, build_id)
    total = pending_total + waits_total
    limit = total if limit is None else limit
    found = []
    if offset < pending_total:
        rows = session.execute(_pending(see_private, build_id)
                               .order_by(BuildQueue.lastscore.desc(), BuildQueue.id)
                               .limit(limit).offset(offset)).all()
        found = [_pending_object(row, farm, now) for row in rows]
    if waits and len(found) < limit and offset + len(found) >= pending_total:
        wait_offset = max(0, offset - pending_total)
        rows = session.execute(_depwaits(see_private, build_id).order_by(Build.id)
                               .limit(limit - len(found)).offset(wait_offset)).all()
        found += [_wait_object(row, farm) for row in rows]
    return total, found


def _base(row):
    return {"build_id": row.build_id, "source": row.source, "version": row.version,
            "arch": row.arch,
            "archive": archive_reference(row.purpose, row.archive_name, row.owner),
            "private": row.private}


def _pending_object(row, farm, now):
    job = Job(row, archive_reference(row.purpose, row.archive_name, row.owner))
    reason = why(job, farm)
    age = max((now - row.created).total_seconds(), 0)
    return {"id": row.id, **_base(row), "score": row.lastscore, "age": int(age),
            "age_text": age_text(age), "processor": farm.processor(row.processor_id),
            "virtualized": row.virtualized, "dependencies": None,
            "reason_code": reason.code, "reason": reason.text,
            "estimate": reason.estimate}


def _wait_object(row, farm):
    reason = dependency_reason(row.dependencies)
    return {"id": None, **_base(row), "score": None, "age": None, "age_text": None,
            "processor": None, "virtualized": None, "dependencies": row.dependencies,
            "reason_code": reason.code, "reason": reason.text, "estimate": None}


def missing_chroots(session):
    """Why some uploads wait without a job: lines naming each architecture of
    an open series that has live sources but no chroot, so no build."""
    live = (sa.select(SourcePackagePublishingHistory.distroseries_id)
            .where(SourcePackagePublishingHistory.status.in_(ACTIVE_STATUSES)).distinct())
    rows = session.execute(
        sa.select(Distribution.name, DistroSeries.name, DistroArchSeries.architecturetag)
        .join(DistroSeries, DistroArchSeries.distroseries_id == DistroSeries.id)
        .join(Distribution, DistroSeries.distribution_id == Distribution.id)
        .where(DistroArchSeries.chroot_id.is_(None), DistroArchSeries.official,
               DistroSeries.status != DistroSeriesStatus.OBSOLETE,
               DistroSeries.id.in_(live))
        .order_by(Distribution.name, DistroSeries.name, DistroArchSeries.architecturetag))
    return [f"{path} has no chroot: its sources get no build there until "
            f"'buildmaster chroot make {path}'"
            for path in ("/".join(row) for row in rows)]
