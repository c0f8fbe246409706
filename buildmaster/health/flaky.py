"""Flaky builds: failed, then built when tried again, same version.

A build that went red and then green (or orange) for the same source
version in the same archive and architecture, by ``retry`` or a
give-back, failed for a reason that was not its source: a flaky test, a
sick builder, the network.  Such a pair is flagged (the good outcome's
``flaky_of`` names the failed one, so both builders are known), listed
in the farm report, and not counted as a regression (buildmaster.health.notify
finds the earlier outcome of the same version).
"""

from buildmaster.health.colours import GREEN, ORANGE, RED


def is_flaky(earlier_colour, colour):
    """True when an attempt coloured ``colour`` whose same version was
    last ``earlier_colour`` (None: never built before) is flaky."""
    return earlier_colour == RED and colour in (GREEN, ORANGE)
