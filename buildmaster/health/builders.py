"""What the farm last said of each builder, and telling its changes.

::

        OK --(failed by the scanner, the dispatcher or an operator)--> FAILED
        OK --(quarantine: buildmaster.health.quarantine)-------------> QUARANTINED
    FAILED / QUARANTINED --(builder enable)---------------------------> OK

A BuilderHealth row holds the told state; a builder without one is OK
since it was added.  ``observe`` compares every builder with what was
last told and tells each difference once: the change is a
compare-and-set on the told state (``WHERE state = <seen>``, or the
insert of the first row, unique on the builder), committed with the
buildd admins' message held in the spool, so two masters, or one run
after another, never tell it twice, however often the builder is
scanned meanwhile.
"""

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from buildmaster.health import messages
from buildmaster.model import Builder, BuilderHealth

LOG = logging.getLogger("buildmaster.health")

OK, FAILED, QUARANTINED = "OK", "FAILED", "QUARANTINED"

_health = BuilderHealth.__table__


def observed_state(builderok, told):
    """The state a builder is in: OK when it is ok, else the failed
    state last told (a quarantined builder stays QUARANTINED until it is
    enabled), else FAILED."""
    if builderok:
        return OK
    return told if told in (FAILED, QUARANTINED) else FAILED


class Told:
    """A builder's told state: its BuilderHealth row, or OK since the
    builder was added when it has none."""

    def __init__(self, builder, row):
        self.builder, self.row = builder, row
        self.state = row.state if row is not None else OK
        self.since = row.since if row is not None else builder.date_created


def told_states(session, builders=None):
    """{builder id: Told} of the active builders (or ``builders``), in
    one query."""
    query = (sa.select(Builder, BuilderHealth)
             .outerjoin(BuilderHealth, BuilderHealth.builder_id == Builder.id))
    if builders is None:
        query = query.where(Builder.active)
    else:
        query = query.where(Builder.id.in_([builder.id for builder in builders]))
    return {builder.id: Told(builder, row)
            for builder, row in session.execute(query.order_by(Builder.id))}


def move(session, told, state, now, notes=None):
    """Compare-and-set the told state of ``told.builder`` from what
    ``told`` saw to ``state``, first thing in a transaction the caller
    commits; False, the transaction rolled back, when another master
    changed it first."""
    values = {"state": state, "since": now, "notes": notes}
    try:
        if told.row is None:
            session.execute(sa.insert(_health).values(builder_id=told.builder.id, **values))
            return True
        if session.execute(
                sa.update(_health).where(_health.c.builder_id == told.builder.id,
                                         _health.c.state == told.state)
                .values(**values)).rowcount == 1:
            return True
    except IntegrityError:
        pass
    session.rollback()
    return False


def tell(config, outbox, told, state, now, notes=None, builds=()):
    """Hold the buildd admins' message about ``told.builder`` going to
    ``state`` (the batch, or None with no admins); log the change."""
    builder = told.builder
    batch = outbox.hold(f"builder {builder.name} {told.state} -> {state}",
                messages.builder_transition(config, builder, told.state, state,
                                            told.since, notes, list(builds), now))
    LOG.warning(f"Builder {builder.name}: {told.state} -> {state}"
                + (f" ({notes})" if notes and state != OK else ""))
    return batch


def observe(session, config, outbox, now):
    """Tell every builder's change since it was last told, once; returns
    [(builder name, old state, new state)] told by this master."""
    changes = []
    for told in told_states(session).values():
        builder = told.builder
        state = observed_state(builder.builderok, told.state)
        if state == told.state:
            continue
        notes = builder.failnotes if state != OK else None
        if not move(session, told, state, now, notes):
            continue
        outbox.commit(session, tell(config, outbox, told, state, now, notes))
        changes.append((builder.name, told.state, state))
    session.commit()
    return changes
