"""Judging finished builds: flaky or not, what changed, who is told.

Every outcome is judged once, in outcome order, by whichever master
claims it first: the claim is a compare-and-set UPDATE of its
``judged_at`` (``WHERE judged_at IS NULL``), in the same transaction
that holds its message in the mail spool (buildmaster.health.outbox).
The outcomes pending are judged together, in one transaction and a
fixed number of queries however many there are.
So two masters, or a master and its restarted self, never both tell one
transition, and an outcome recorded by a master killed before it judged
it is judged by the next sweep (the build_health job): none is lost.

Judging an outcome:

* its predecessor is the newest earlier outcome of its history line with
  a colour, not blamed on the builder (buildmaster.health.transitions);
* it is flaky when it is green or orange and the newest earlier outcome
  of the same source version, archive and architecture is red: that
  failure passed when built again (by ``retry`` or a give-back), so it
  was no regression (buildmaster.health.flaky);
* the list is told when ``[status] mode`` wants it, the list is
  configured, and the builder was not to blame.
"""

import logging

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from buildmaster.health import messages
from buildmaster.health.colours import COLOURS
from buildmaster.health.flaky import is_flaky
from buildmaster.health.transitions import change, wants_mail
from buildmaster.model import (
    Build, BuildOutcome, DistroArchSeries, DistroSeries, SourcePackageRelease)

LOG = logging.getLogger("buildmaster.health")

_outcomes = BuildOutcome.__table__
_earlier = _outcomes.alias("earlier")

# What judging reads of an outcome, loaded with it: its build's label,
# its builder's name, and what a message about it says (where its log
# is, its archive and series).
_LOADS = (selectinload(BuildOutcome.builder), selectinload(BuildOutcome.buildlog),
          selectinload(BuildOutcome.build).options(
              selectinload(Build.sourcepackagerelease)
              .selectinload(SourcePackageRelease.sourcepackagename),
              selectinload(Build.distroarchseries).selectinload(DistroArchSeries.distroseries)
              .selectinload(DistroSeries.distribution),
              selectinload(Build.archive)))


def _newest_earlier(same, *conditions):
    """The id of the newest earlier coloured outcome agreeing with the
    outer outcome on the columns ``same`` (and ``conditions``), as a
    correlated subquery."""
    return (sa.select(_earlier.c.id)
            .where(*[_earlier.c[name] == _outcomes.c[name] for name in same],
                   _earlier.c.id < _outcomes.c.id, _earlier.c.colour.in_(COLOURS),
                   *conditions)
            .order_by(_earlier.c.id.desc()).limit(1)
            .correlate(_outcomes).scalar_subquery())


# An outcome's predecessor: the newest earlier outcome of its history line
# not blamed on the builder; and the newest earlier outcome of the same
# source version (is_flaky decides what it makes of it).
_PREDECESSOR = _newest_earlier(("sourcepackagename_id", "archive_id", "distroarchseries_id"),
                               sa.not_(_earlier.c.builder_fault))
_SAME_VERSION = _newest_earlier(("sourcepackagerelease_id", "archive_id",
                                 "distroarchseries_id"))


def earlier_outcomes(session, outcomes):
    """{outcome id: (predecessor, the failed attempt it shows flaky)} of
    ``outcomes``, each None when there is none: two queries for all."""
    rows = session.execute(
        sa.select(_outcomes.c.id, _PREDECESSOR.label("previous"),
                  _SAME_VERSION.label("same_version"))
        .where(_outcomes.c.id.in_([outcome.id for outcome in outcomes]))).all()
    wanted = {row.previous for row in rows} | {row.same_version for row in rows}
    wanted.discard(None)
    loaded = {earlier.id: earlier for earlier in session.scalars(
        sa.select(BuildOutcome).where(BuildOutcome.id.in_(wanted)).options(*_LOADS))}
    colours = {outcome.id: outcome.colour for outcome in outcomes}
    found = {}
    for row in rows:
        same = loaded.get(row.same_version)
        flaky = same if same is not None and is_flaky(same.colour, colours[row.id]) else None
        found[row.id] = (loaded.get(row.previous), flaky)
    return found


def unjudged(session):
    """Outcomes no master has judged, oldest first."""
    return session.scalars(sa.select(BuildOutcome).where(
        BuildOutcome.judged_at.is_(None)).order_by(BuildOutcome.id).options(*_LOADS)).all()


def judge(session, config, outbox, outcomes, now):
    """Judge ``outcomes`` (oldest first) in one transaction, their
    messages held in ``outbox``; commits.  The outcomes this master
    judged: one another master claimed first is left to it."""
    if not outcomes:
        return []
    earlier = earlier_outcomes(session, outcomes)
    decisions = {outcome.id: _decide(config, outcome, *earlier[outcome.id])
                 for outcome in outcomes}
    claimed = set(session.scalars(
        sa.update(_outcomes)
        .where(_outcomes.c.id.in_(list(decisions)), _outcomes.c.judged_at.is_(None))
        .values(judged_at=now).returning(_outcomes.c.id)))
    won = [outcome for outcome in outcomes if outcome.id in claimed]
    if not won:
        session.rollback()
        return []
    session.execute(_RECORD, [dict(outcome_id=outcome.id, **decisions[outcome.id].values)
                              for outcome in won])
    batches = []
    for outcome in won:
        decision = decisions[outcome.id]
        for key, value in decision.columns().items():
            set_committed_value(outcome, key, value)
        set_committed_value(outcome, "judged_at", now)
        if decision.mail:
            batches.append(outbox.hold(
                f"status of {outcome.build.label}: {decision.what}",
                messages.transition(config, outcome, decision.previous,
                                    decision.failed_before, now)))
    outbox.commit(session, *batches)
    for outcome in won:
        _log(outcome, decisions[outcome.id])
    return won


# What a won claim records of its judgement, for every outcome at once.
_RECORD = (sa.update(_outcomes).where(_outcomes.c.id == sa.bindparam("outcome_id"))
           .values(previous_id=sa.bindparam("v_previous_id"),
                   flaky_of_id=sa.bindparam("v_flaky_of_id"),
                   change=sa.bindparam("v_change"), mailed=sa.bindparam("v_mailed")))


class _Decision:
    """What judging one outcome decided, before its claim is won."""

    def __init__(self, previous, failed_before, before, what, mail):
        self.previous, self.failed_before = previous, failed_before
        self.before, self.what, self.mail = before, what, mail

    def columns(self):
        return {"previous_id": self.previous.id if self.previous is not None else None,
                "flaky_of_id": (self.failed_before.id if self.failed_before is not None
                                else None),
                "change": self.what, "mailed": self.mail}

    @property
    def values(self):
        return {f"v_{key}": value for key, value in self.columns().items()}


def _decide(config, outcome, previous, failed_before):
    before = previous.colour if previous is not None else None
    what = change(before, outcome.colour, failed_before is not None)
    status = config.status
    mail = bool(status.mailing_list and not outcome.builder_fault
                and wants_mail(status.mode, before, outcome.colour))
    return _Decision(previous, failed_before, before, what, mail)


def _log(outcome, decision):
    builder = outcome.builder.name if outcome.builder else "no builder"
    told = "; the status list is told" if decision.mail else ""
    flaky = ""
    failed_before = decision.failed_before
    if failed_before is not None:
        flaky = (f"; flaky: failed on {failed_before.builder.name if failed_before.builder else '?'}"
                 f" as build outcome {failed_before.id}")
    LOG.info(f"{outcome.build.label} on {builder}: {decision.before or 'nothing'} -> "
             f"{outcome.colour} ({decision.what}){flaky}{told}")


def judge_pending(session, config, outbox, now):
    """Judge every outcome not yet judged, oldest first; the ones this
    master judged."""
    return judge(session, config, outbox, unjudged(session), now)
