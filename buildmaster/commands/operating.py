"""``buildmaster cancel BUILD_ID``: a build the operator wants no more.

The cancel is the web's (buildmaster.web.actions.cancel): a pending
build leaves the queue, a dependency wait ends, and a running build ends
CANCELLED at once, in a compare-and-set that loses to a build that left
its builder meanwhile; its job stays on the builder until the scanner
has seen the slave abort and cleaned it, so no other job is sent to a
slave still busy.  Here the slave is also asked to abort at once; one
that cannot be reached is aborted by the scanner instead.  Every cancel
is noted in the operators' journal, which the daemon logs, and kept in
the build's history.
"""

from buildmaster.operators import journal, lookup, output
from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import arg, farm_session, json_option, operator_command
from buildmaster.model import BuildStatus

RESULT = json_option("print what was done as a JSON object")


def report(args, result, what):
    """Print ``what``, or ``result`` as JSON with --json."""
    if args.json:
        output.emit_object(result)
    else:
        print(what)


@operator_command(
    "cancel", arg("build_id", type=int, metavar="BUILD_ID"), RESULT)
def cancel(context, args):
    from buildmaster.web import actions
    with farm_session(context) as session:
        build = lookup.build(session, args.build_id)
        was, entry = build.buildstate, build.buildqueue_record
        running = entry.builder if entry is not None and was == BuildStatus.BUILDING \
            else None
        what = f"Build {build.id} ({build.title}) was {was.name}"
        journal.record(session, f"{what}; now CANCELLED." if running is None else
                       f"{what} on {running.name}; now CANCELLED, its slave to abort it.")
        try:
            _, builder = actions.cancel(session, args.build_id,
                                        by=journal.operator_name())
        except actions.Refused as refused:
            raise CommandError(str(refused)) from None
    result = {"build": args.build_id, "was": was.name, "state": "CANCELLED",
              "builder": builder.name if builder is not None else None}
    if builder is None:
        what += "; now CANCELLED."
    else:
        result["aborted"] = abort_slave(context, builder)
        what += f" on {builder.name}; now CANCELLED; " + (
            "its slave is aborting it." if result["aborted"] else
            "its slave did not answer: the scanner will abort it.")
    report(args, result, what)


def abort_slave(context, builder):
    """Ask ``builder``'s slave to abort its build; whether it answered."""
    from buildmaster.slaves import registry
    from buildmaster.commands.farmjobs import run_job
    from buildmaster.slaves.errors import SlaveError
    registry.configure(context.config)
    slave = registry.slave_of(builder)
    try:
        run_job(lambda _: slave.abort(), context)
    except SlaveError:
        return False
    return True
