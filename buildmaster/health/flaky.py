"""Flaky builds: failed, then built when tried again, same version.

A build that went red and then green (or orange) for the same source
version in the same archive and architecture, by ``retry`` or a
give-back, failed for a reason that was not its source: a flaky test, a
sick builder, the network.  Such a pair is flagged (the good outcome's
``flaky_of`` names the failed one, so both builders are known), listed
in the farm report, and not counted as a regression.
"""

import sqlalchemy as sa

from buildmaster.health.colours import COLOURS, GREEN, ORANGE, RED
from buildmaster.model import BuildOutcome


def is_flaky(earlier_colour, colour):
    """True when an attempt coloured ``colour`` whose same version was
    last ``earlier_colour`` (None: never built before) is flaky."""
    return earlier_colour == RED and colour in (GREEN, ORANGE)


def flaky_of(session, outcome):
    """The failed outcome ``outcome`` shows to have been flaky, or None."""
    if outcome.colour not in (GREEN, ORANGE):
        return None
    earlier = session.scalars(
        sa.select(BuildOutcome).where(
            BuildOutcome.sourcepackagerelease_id == outcome.sourcepackagerelease_id,
            BuildOutcome.archive_id == outcome.archive_id,
            BuildOutcome.distroarchseries_id == outcome.distroarchseries_id,
            BuildOutcome.id < outcome.id, BuildOutcome.colour.in_(COLOURS))
        .order_by(BuildOutcome.id.desc()).limit(1)).first()
    if earlier is not None and is_flaky(earlier.colour, outcome.colour):
        return earlier
    return None
