"""``buildmaster cancel BUILD_ID``: a build the operator wants no more.

A pending build leaves the queue and a dependency wait ends, both as
the web's cancel does (buildmaster.web.actions.cancel).  A running
build ends CANCELLED at once, in a compare-and-set that loses to a
build that left its builder meanwhile; its job stays on the builder
until the scanner has seen the slave abort and cleaned it, so no other
job is sent to a slave still busy.  The slave is asked to abort here;
one that cannot be reached is aborted by the scanner instead.  Every
cancel is noted in the operators' journal, which the daemon logs.
"""

import sqlalchemy as sa

from buildmaster.operators import journal, lookup, output
from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import arg, farm_session, json_option, operator_command
from buildmaster.model import Build, BuildQueue, BuildStatus, utcnow

RESULT = json_option("print what was done as a JSON object")


def report(args, result, what):
    """Print ``what``, or ``result`` as JSON with --json."""
    if args.json:
        output.emit_object(result)
    else:
        print(what)


@operator_command(
    "cancel", "cancel a build: a pending one leaves the queue, a dependency wait "
    "ends, a running one is aborted on its slave; it ends CANCELLED",
    arg("build_id", type=int, metavar="BUILD_ID"), RESULT)
def cancel(context, args):
    from buildmaster.web import actions
    with farm_session(context) as session:
        build = lookup.build(session, args.build_id)
        was, entry = build.buildstate, build.buildqueue_record
        builder = entry.builder if entry is not None else None
        what = f"Build {build.id} ({build.title}) was {was.name}"
        result = {"build": build.id, "was": was.name, "state": "CANCELLED",
                  "builder": builder.name if builder is not None else None}
        if builder is None:
            journal.record(session, f"{what}; now CANCELLED.")
            try:
                actions.cancel(session, build.id, by=journal.operator_name())
            except actions.Refused as refused:
                raise CommandError(str(refused)) from None
        else:
            journal.record(session, f"{what} on {builder.name}; now CANCELLED, its "
                                    "slave to abort it.")
            cancel_running(session, build, entry, builder)
    if builder is None:
        what += "; now CANCELLED."
    else:
        result["aborted"] = abort_slave(context, builder)
        what += f" on {builder.name}; now CANCELLED; " + (
            "its slave is aborting it." if result["aborted"] else
            "its slave did not answer: the scanner will abort it.")
    report(args, result, what)


def cancel_running(session, build, entry, builder, now=None):
    """End ``build`` CANCELLED at ``now``, its job left on ``builder``
    for the scanner to clean up, the attempt's start and the cancel kept
    in its history (Build.note); CommandError if the job left that
    builder or the build changed state meanwhile.  Commits."""
    queue, table = BuildQueue.__table__, Build.__table__
    now = now or utcnow()
    started = entry.date_started
    still_there = sa.exists().where(queue.c.id == entry.id,
                                    queue.c.builder_id == builder.id)
    won = session.execute(sa.update(table).where(
        table.c.id == build.id, table.c.buildstate == build.buildstate, still_there)
        .values(buildstate=BuildStatus.CANCELLED, datebuilt=now,
                buildduration=now - started if started else None)).rowcount
    if not won:
        session.rollback()
        raise CommandError(f"build {build.id} ({build.title}) has just left "
                           f"{builder.name}: look at it again")
    if started is not None:
        build.note(BuildStatus.BUILDING, started, builder)
    build.note(BuildStatus.CANCELLED, now, builder)
    session.commit()


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
