"""The farm's periodic jobs, as the sequencer calls them.

Each takes the FarmContext and returns a Deferred (or a plain result).
The work modules are imported when a job first runs, so loading the
sequencer's configuration stays cheap and a broken work module shows up
as a failed (and mailed) job rather than a daemon that will not start.
"""

from twisted.internet import defer


def scan(context):
    """One slave scanner cycle over every builder."""
    from buildmaster import scanner
    return scanner.scan(context)


def build_queue(context):
    """Create the builds that uploads call for."""
    from buildmaster import queuebuilder
    return defer.maybeDeferred(queuebuilder.build_queue, context)


def dispatch(context):
    """Give every idle builder its next job."""
    from buildmaster import dispatch as dispatcher
    return dispatcher.dispatch(context)
