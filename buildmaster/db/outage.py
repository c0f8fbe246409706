"""A database outage told once, not by every job every few seconds.

When PostgreSQL restarts, or kills the master's connections, each job
that runs meanwhile fails on its query.  ``watch(context, job, d)``
wraps a job's Deferred: the first failure of an outage is logged on one
line ("database unreachable ...") and fails the job with that line (the
sequencer mails it once); later failures of the same kind end the run
quietly, logged at debug, until a job gets through, when the end of the
outage is logged with how long it lasted.  The
engine's pool drops the dead connections itself, so the master needs
no restart; slaves keep building meanwhile and are collected after.
"""

import logging
import weakref

import sqlalchemy.exc

from buildmaster.errortext import one_line

logger = logging.getLogger("buildmaster.database")

_outages = weakref.WeakKeyDictionary()  # context -> (since, job that found it)


class DatabaseOutage(Exception):
    """A job could not reach the database; the text is one line, and the
    sequencer reports it as that line (``brief``), with no traceback."""

    brief = True


def is_outage(error):
    """Whether ``error`` says the database cannot be reached."""
    if isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return True
    return isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated


def watch(context, job, d):
    """``d`` (job ``job``'s Deferred) with database outages told once."""
    clock = context.reactor

    def succeeded(result):
        outage = _outages.pop(context, None)
        if outage is not None:
            since, _ = outage
            logger.info(f"database reachable again ({job} got through) after "
                        f"{clock.seconds() - since:.0f} s")
        return result

    def failed(failure):
        if not is_outage(failure.value):
            return failure
        text = one_line(str(getattr(failure.value, "orig", None) or failure.value))
        if context in _outages:
            logger.debug(f"{job}: database still unreachable: {text}")
            return None
        _outages[context] = (clock.seconds(), job)
        logger.warning(f"database unreachable ({job} failed): {text}; the jobs go on "
                       "and will get through once it is back")
        raise DatabaseOutage(f"database unreachable: {text}")

    return d.addCallbacks(succeeded, failed)


def in_outage(context):
    """Whether an outage was told and not yet over."""
    return context in _outages
