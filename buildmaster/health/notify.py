"""Judging finished builds: flaky or not, what changed, who is told.

Every outcome is judged once, in outcome order, by whichever master
claims it first: the claim is a compare-and-set UPDATE of its
``judged_at`` (``WHERE judged_at IS NULL``), in the same transaction
that holds its message in the mail spool (buildmaster.health.outbox).
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
from sqlalchemy.orm.attributes import set_committed_value

from buildmaster.candidates import label
from buildmaster.health import messages
from buildmaster.health.colours import COLOURS
from buildmaster.health.flaky import flaky_of
from buildmaster.health.transitions import change, wants_mail
from buildmaster.model import BuildOutcome

LOG = logging.getLogger("buildmaster.health")

_outcomes = BuildOutcome.__table__


def _claim(outcome, values, now):
    return (sa.update(_outcomes)
            .where(_outcomes.c.id == outcome.id, _outcomes.c.judged_at.is_(None))
            .values(judged_at=now, **values))


def predecessor(session, outcome):
    """The newest earlier coloured outcome of ``outcome``'s line, or None."""
    return session.scalars(
        sa.select(BuildOutcome).where(
            BuildOutcome.sourcepackagename_id == outcome.sourcepackagename_id,
            BuildOutcome.archive_id == outcome.archive_id,
            BuildOutcome.distroarchseries_id == outcome.distroarchseries_id,
            BuildOutcome.id < outcome.id, BuildOutcome.colour.in_(COLOURS),
            sa.not_(BuildOutcome.builder_fault))
        .order_by(BuildOutcome.id.desc()).limit(1)).first()


def unjudged(session):
    """Outcomes no master has judged, oldest first."""
    return session.scalars(sa.select(BuildOutcome).where(
        BuildOutcome.judged_at.is_(None)).order_by(BuildOutcome.id)).all()


def judge(session, config, outbox, outcome, now):
    """Judge ``outcome`` and hold its message, if any, in ``outbox``;
    commits.  False (nothing changed) when another master judged it."""
    previous = predecessor(session, outcome)
    failed_before = flaky_of(session, outcome)
    before = previous.colour if previous is not None else None
    what = change(before, outcome.colour, failed_before is not None)
    status = config.status
    mail = bool(status.mailing_list and not outcome.builder_fault
                and wants_mail(status.mode, before, outcome.colour))
    values = {"previous_id": previous.id if previous is not None else None,
              "flaky_of_id": failed_before.id if failed_before is not None else None,
              "change": what, "mailed": mail}
    if session.execute(_claim(outcome, values, now)).rowcount != 1:
        session.rollback()
        return False
    for key, value in values.items():
        set_committed_value(outcome, key, value)
    set_committed_value(outcome, "judged_at", now)
    batch = None
    if mail:
        batch = outbox.hold(
            f"status of {label(outcome.build)}: {what}",
            messages.transition(config, outcome, previous, failed_before, now))
    outbox.commit(session, batch)
    _log(outcome, before, what, mail, failed_before)
    return True


def _log(outcome, before, what, mail, failed_before):
    builder = outcome.builder.name if outcome.builder else "no builder"
    told = "; the status list is told" if mail else ""
    flaky = ""
    if failed_before is not None:
        flaky = (f"; flaky: failed on {failed_before.builder.name if failed_before.builder else '?'}"
                 f" as build outcome {failed_before.id}")
    LOG.info(f"{label(outcome.build)} on {builder}: {before or 'nothing'} -> "
             f"{outcome.colour} ({what}){flaky}{told}")


def judge_pending(session, config, outbox, now):
    """Judge every outcome not yet judged, oldest first; the ones this
    master judged."""
    return [outcome for outcome in unjudged(session)
            if judge(session, config, outbox, outcome, now)]
