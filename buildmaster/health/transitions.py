"""When a build changes colour from the one before it, and who is told.

A build's history line is the builds of the same source name in the
same archive, series and architecture, in the order they finished; a
build's predecessor is the newest earlier one with a colour (green,
orange or red: builds coloured none, and failures quarantine blamed on
the builder, are left out).  ``change`` names what happened to the
line; ``wants_mail`` decides by ``[status] mode``, Buildbot's mail
notifier modes:

=========  ==========================================================
problem    green or orange -> red only (the default, as the seed's
           buildbot-status list: told when a line *starts* failing)
change     every colour change, so "fixed" and "warnings gone" too
failing    every red build
warnings   every orange or red build
=========  ==========================================================

Several modes may be named together; a build is mailed when any of them
wants it, and only once.  Pure functions over colours.
"""

from buildmaster.config import STATUS_MODES
from buildmaster.health.colours import GREEN, ORANGE, RED

MODES = STATUS_MODES

# What happened to a line (BuildOutcome.change).
REGRESSION = "regression"
FIXED = "fixed"
FLAKY = "flaky"
STILL_FAILING = "still-failing"
NEW_WARNINGS = "new-warnings"
WARNINGS_GONE = "warnings-gone"
UNCHANGED = "unchanged"
FIRST = "first"


def change(previous, current, flaky=False):
    """What ``current`` (a colour) does to a line whose last colour was
    ``previous`` (None for the first build); ``flaky`` when the same
    version failed before and now built."""
    if flaky and current in (GREEN, ORANGE):
        return FLAKY
    if previous is None:
        return FIRST
    if current == RED:
        return STILL_FAILING if previous == RED else REGRESSION
    if previous == RED:
        return FIXED
    if current == previous:
        return UNCHANGED
    return NEW_WARNINGS if current == ORANGE else WARNINGS_GONE


_WANTS = {
    "problem": lambda previous, current: current == RED and previous in (GREEN, ORANGE),
    "change": lambda previous, current: previous is not None and current != previous,
    "failing": lambda previous, current: current == RED,
    "warnings": lambda previous, current: current in (ORANGE, RED),
}

EXPLAINED = {
    "problem": "when a line of builds goes red after green or orange",
    "change": "when a line of builds changes colour",
    "failing": "of every red build",
    "warnings": "of every orange or red build",
}


def wants_mail(modes, previous, current):
    """True when one of ``modes`` wants the list told of ``current``
    after ``previous`` (colours; previous None for a line's first)."""
    return any(_WANTS[mode](previous, current) for mode in modes)
