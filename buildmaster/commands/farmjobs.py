"""``buildmaster scan``, ``queue-builder``, ``dispatch`` and ``publish``: one
run of a periodic job from the shell, as the sequencer would run it.

Each runs the job's Deferred to completion on a reactor of its own and
prints the job's log lines (INFO and above) on stderr, so an operator
can watch one cycle by hand while the daemon is stopped.
"""

import logging
import sys

from twisted.internet import defer
from twisted.python.failure import Failure

from buildmaster import jobs
from buildmaster.slaves import registry
from buildmaster.commands.common import operator_command, require_schema
from buildmaster.commands.registry import CommandError


def run_job(job, context):
    """Run ``job(context.farm)`` under the reactor and return its result."""
    from twisted.internet import reactor
    farm = context.farm
    outcome = []

    def start():
        d = defer.maybeDeferred(job, farm)
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _prepare(context):
    require_schema(context)
    registry.configure(context.config)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@operator_command("scan")
def scan(context, args):
    _prepare(context)
    failed = run_job(jobs.scan, context)
    print(f"Scan finished; {failed or 0} builder(s) could not be scanned.")


@operator_command("queue-builder")
def queue_builder(context, args):
    _prepare(context)
    created = run_job(jobs.build_queue, context)
    print(f"Queue builder finished; {created or 0} build(s) created.")


@operator_command("dispatch")
def dispatch(context, args):
    _prepare(context)
    started = run_job(jobs.dispatch, context)
    print(f"Dispatch finished; {started or 0} job(s) started.")


@operator_command("publish")
def publish(context, args):
    _prepare(context)
    report = run_job(jobs.publish, context)
    if report is None:
        raise CommandError("another publisher is running; try again when it is done")
    print(f"Publisher finished; {report.summary}.")
    if report.errors:
        raise CommandError(f"{len(report.errors)} publication(s) or suite(s) could not "
                           f"be published: {report.errors[0]}")
