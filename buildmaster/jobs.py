"""The farm's periodic jobs, as the sequencer calls them.

Each takes the FarmContext and returns a Deferred (or a plain result).
The work modules are imported when a job first runs, or by the daemon
once it runs (``import_work_modules``), so loading the sequencer's
configuration stays cheap and a broken work module shows up as a failed
(and mailed) job rather than a daemon that will not start.

A database outage is told once, not by every job (buildmaster.db.outage).
A job that makes work for another wakes it (``context.wakeups``, see
wakeups.py): builds created or retried wake the dispatcher, a job
started wakes the scanner a moment later.
"""

import functools
import importlib
import logging

from twisted.internet import defer

from buildmaster.runtime.wakeups import DISPATCH

# What the jobs import when they first run.
WORK_MODULES = (
    "buildmaster.runtime.activity", "buildmaster.db.outage", "buildmaster.scan.scanpass",
    "buildmaster.dispatch.dispatcher", "buildmaster.dispatch.dispatchpass",
    "buildmaster.queue.queuebuilder", "buildmaster.publisher.run",
    "buildmaster.bugs.checkwatches", "buildmaster.health", "buildmaster.uploads.intake",
    "buildmaster.health.reporting")


def import_work_modules():
    """Import the jobs' work modules now, as the daemon does once it runs,
    so the first scan of a big farm does not stop the reactor for them
    (~100 ms).  A module that fails to import is logged here and fails
    its job when it runs, as before."""
    for name in WORK_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:
            logging.getLogger("buildmaster.jobs").error(
                f"cannot import {name}: {error}; its job will fail when it runs")


def _outages_told_once(job):
    """A database outage fails the first job that meets it, on one line,
    and the rest quietly until it is over (buildmaster.db.outage)."""
    @functools.wraps(job)
    def watched(context):
        from buildmaster.db import outage
        return outage.watch(context, job.__name__, defer.maybeDeferred(job, context))
    return watched


@_outages_told_once
def scan(context):
    """One scan pass: every builder when a full scan is due, else only
    the builders whose poll is (polling.py)."""
    from buildmaster.runtime import activity
    from buildmaster.scan import scanpass
    return context.activity.timed(activity.SCAN, scanpass.scan_due, context)


@_outages_told_once
def build_queue(context):
    """Create the builds that uploads call for."""
    from buildmaster.queue import queuebuilder
    d = defer.maybeDeferred(queuebuilder.build_queue, context)
    return d.addCallback(_wake_dispatcher_if, context)


def _wake_dispatcher_if(work, context):
    """Wake the dispatcher when ``work`` (builds created, a publisher
    report with dependency waits retried) made jobs."""
    made = work if isinstance(work, int) else len(getattr(work, "retried", None) or ())
    if made:
        context.wakeups.wake(DISPATCH)
    return work


@_outages_told_once
def dispatch(context):
    """Give every idle builder its next job."""
    from buildmaster.dispatch.dispatchpass import dispatch_idle_builders
    from buildmaster.runtime import activity
    return context.activity.timed(activity.DISPATCH, dispatch_idle_builders, context)


@_outages_told_once
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

    d = threads.deferToThread(run.publish, context).addErrback(busy)
    return d.addCallback(_wake_dispatcher_if, context)


@_outages_told_once
def checkwatches(context):
    """Check the watches on external bug trackers that are due, in a
    thread; retries the failed builds whose upstream bug got fixed."""
    from buildmaster.bugs import checkwatches as watches
    return watches.run_in_thread(context)


@_outages_told_once
def process_uploads(context):
    """Take the uploads that arrived whole: accepted ones registered with
    their builds (waking the dispatcher), every uploader told by mail."""
    from buildmaster.uploads import intake
    return defer.ensureDeferred(intake.process_uploads(context))


@_outages_told_once
def build_health(context):
    """Tell what no master told yet: finished builds left unjudged by a
    master that stopped, builders gone failed or back in use."""
    from buildmaster import health
    return health.sweep(context)


@_outages_told_once
def farm_report(context):
    """Mail the farm report of the period that ended, once per period."""
    from buildmaster.health import reporting
    return reporting.mail_report(context)
