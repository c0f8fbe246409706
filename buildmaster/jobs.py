"""The farm's periodic jobs, as the sequencer calls them.

Each takes the FarmContext and returns a Deferred (or a plain result).
The work modules are imported when a job first runs, so loading the
sequencer's configuration stays cheap and a broken work module shows up
as a failed (and mailed) job rather than a daemon that will not start.
"""

from twisted.internet import defer


def scan(context):
    """One slave scanner cycle over every builder."""
    from buildmaster import activity, scanner
    return context.activity.timed(activity.SCAN, scanner.scan, context)


def build_queue(context):
    """Create the builds that uploads call for."""
    from buildmaster import queuebuilder
    return defer.maybeDeferred(queuebuilder.build_queue, context)


def dispatch(context):
    """Give every idle builder its next job."""
    from buildmaster import activity, dispatch as dispatcher
    return context.activity.timed(activity.DISPATCH, dispatcher.dispatch, context)


def publish(context):
    """Publish every archive's pending publications and retry the
    dependency waits that satisfies; fires with the PublishReport, or
    None when another publisher run holds the lock."""
    from twisted.internet import threads
    from buildmaster.publisher import run

    def busy(failure):
        failure.trap(run.PublisherBusy)
        run.logger.warning("publisher: skipped: %s", failure.value)
        return None

    return threads.deferToThread(run.publish, context).addErrback(busy)


def checkwatches(context):
    """Check the watches on external bug trackers that are due, in a
    thread; retries the failed builds whose upstream bug got fixed."""
    from buildmaster import checkwatches as watches
    return watches.run_in_thread(context)


def build_health(context):
    """Tell what no master told yet: finished builds left unjudged by a
    master that stopped, builders gone failed or back in use."""
    from buildmaster import health
    return health.sweep(context)


def farm_report(context):
    """Mail the farm report of the period that ended, once per period."""
    from buildmaster.health import reporting
    return reporting.mail_report(context)
