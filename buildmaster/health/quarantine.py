"""Sick builders: failing everything they touch, quickly.

A builder whose last ``[status] quarantine_failures`` builds (default 3)
all went red, each within ``[status] quarantine_seconds`` (default 120)
of starting, while each of those sources built green or orange on
another builder, is sick: a bad disk, no network, a broken chroot, not
bad sources.  It is quarantined, in one transaction:

1. its told state goes OK -> QUARANTINED (the compare-and-set of
   buildmaster.health.builders, so one master does it once);
2. it is failed (builderok False) with failnotes saying why and which
   builds, so the dispatcher gives it nothing more;
3. those builds' outcomes are blamed on the builder (``builder_fault``:
   they leave the history lines and the streak), and the builds go back
   to the queue as new jobs, without a failure counted against them; a
   job it holds is put back too;
4. one message to the buildd admins is held in the spool.

``builder enable`` lifts it (the next build_health run tells the admins
it is back).  The decision, ``is_sick``, is a pure function of the
streak.
"""

import dataclasses
import logging
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import object_session

from buildmaster.health.builders import OK, QUARANTINED, move, tell, told_states
from buildmaster.health.colours import COLOURS, GREEN, ORANGE, RED
from buildmaster.model import Builder, BuildOutcome, BuildQueue, BuildStatus
from buildmaster.queue.scoring import score

LOG = logging.getLogger("buildmaster.health")


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One of a builder's recent builds, as the decision sees it."""

    colour: str
    seconds: Optional[float]
    built_elsewhere: bool


def is_sick(attempts, failures, seconds):
    """True when the newest ``failures`` of ``attempts`` (newest first)
    are all red, each within ``seconds``, each built elsewhere."""
    streak = attempts[:failures]
    return len(streak) == failures and all(
        attempt.colour == RED and attempt.seconds is not None
        and attempt.seconds <= seconds and attempt.built_elsewhere
        for attempt in streak)


def suspects(session, outcomes):
    """The ok builders that ``outcomes`` may have made sick: those that
    built the red ones, and those that failed the sources of the green
    ones (which may now count as built elsewhere)."""
    ids = {outcome.builder_id for outcome in outcomes
           if outcome.colour == RED and outcome.builder_id is not None}
    releases = {outcome.sourcepackagerelease_id for outcome in outcomes
                if outcome.colour in (GREEN, ORANGE)}
    if releases:
        ids |= set(session.scalars(sa.select(BuildOutcome.builder_id).where(
            BuildOutcome.sourcepackagerelease_id.in_(releases),
            BuildOutcome.colour == RED, sa.not_(BuildOutcome.builder_fault),
            BuildOutcome.builder_id.is_not(None))))
    if not ids:
        return []
    return session.scalars(sa.select(Builder).where(
        Builder.id.in_(ids), Builder.builderok, Builder.active).order_by(Builder.id)).all()


def streaks_of(session, builders, size):
    """{builder id: its newest ``size`` coloured outcomes not blamed on
    it, newest first, with the Attempt each makes} for ``builders``: two
    queries for all of them."""
    ids = [builder.id for builder in builders]
    ranked = (sa.select(BuildOutcome.id, sa.func.row_number().over(
        partition_by=BuildOutcome.builder_id, order_by=BuildOutcome.id.desc()).label("rank"))
        .where(BuildOutcome.builder_id.in_(ids), BuildOutcome.colour.in_(COLOURS),
               sa.not_(BuildOutcome.builder_fault))
        .subquery())
    outcomes = session.scalars(
        sa.select(BuildOutcome).join(ranked, ranked.c.id == BuildOutcome.id)
        .where(ranked.c.rank <= size).order_by(BuildOutcome.id.desc())).all()
    releases = {outcome.sourcepackagerelease_id for outcome in outcomes}
    built_by = {}  # release id -> the builders that built it green or orange
    if releases:
        for release, builder_id in session.execute(
                sa.select(BuildOutcome.sourcepackagerelease_id, BuildOutcome.builder_id)
                .where(BuildOutcome.sourcepackagerelease_id.in_(releases),
                       BuildOutcome.colour.in_((GREEN, ORANGE)))):
            built_by.setdefault(release, set()).add(builder_id)
    streaks = {builder_id: [] for builder_id in ids}
    for outcome in outcomes:
        elsewhere = built_by.get(outcome.sourcepackagerelease_id, set()) - {outcome.builder_id}
        streaks[outcome.builder_id].append((outcome, Attempt(
            outcome.colour,
            outcome.duration.total_seconds() if outcome.duration is not None else None,
            bool(elsewhere - {None}))))
    return streaks


def check(session, config, outbox, outcomes, now):
    """Quarantine the builders ``outcomes`` made sick; their names."""
    status = config.status
    quarantined = []
    builders = suspects(session, outcomes)
    streaks = streaks_of(session, builders, status.quarantine_failures) if builders else {}
    for builder in builders:
        streak = streaks[builder.id]
        if is_sick([attempt for _, attempt in streak], status.quarantine_failures,
                   status.quarantine_seconds):
            if quarantine(session, config, outbox, builder,
                          [outcome for outcome, _ in streak], now):
                quarantined.append(builder.name)
    return quarantined


def quarantine(session, config, outbox, builder, streak, now):
    """Take ``builder`` out of dispatch for the failed ``streak``
    (outcomes); commits.  False when another master did it first."""
    told = told_states(session, [builder])[builder.id]
    if told.state != OK:
        return False
    # The notes become the builder's failnotes, which every page shows.
    names = ", ".join(outcome.build.public_label for outcome in streak)
    notes = (f"Quarantined: failed {len(streak)} builds in a row, each within "
             f"{config.status.quarantine_seconds} seconds, that built on other "
             f"builders: {names}")
    if not move(session, told, QUARANTINED, now, notes):
        return False
    builder.failBuilder(notes)
    requeued = [_requeue(outcome) for outcome in streak]
    job = builder.currentjob
    if job is not None:
        job.build.buildstate = BuildStatus.NEEDSBUILD
        job.reset()
        requeued.append(f"{job.build.label}, which it was building")
    batch = tell(config, outbox, told, QUARANTINED, now, notes,
                 [line for line in requeued if line])
    outbox.commit(session, batch)
    return True


def _requeue(outcome):
    """Blame ``outcome`` on its builder and queue its build again if it is
    still failed; the line naming the build, or None."""
    outcome.builder_fault = True
    build = outcome.build
    session = object_session(build)
    queued = session.scalar(sa.select(sa.exists().where(BuildQueue.build_id == build.id)))
    if build.buildstate.name != outcome.state or queued:
        return None  # retried, or built again, since
    build.reset_for_retry()
    entry = build.createBuildQueueEntry()
    entry.lastscore = score(entry)
    return f"{build.label}: was {outcome.state}, now NEEDSBUILD as job {entry.id}"
