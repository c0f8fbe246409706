"""``buildmaster rescore``: the pending jobs' scores computed again, or
one build's set by hand (as the web's rescore action)."""

import sqlalchemy as sa

from buildmaster.operators import journal, lookup
from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import arg, farm_session, json_option, operator_command
from buildmaster.commands.operating import report
from buildmaster.model import BuildQueue
from buildmaster.queue.scoring import rescore_all


@operator_command(
    "rescore",
    arg("build_id", type=int, nargs="?", metavar="BUILD_ID",
        help="only this build's job, given --score"),
    arg("--score", type=int, help="the score BUILD_ID's job keeps (a manual score)"),
    json_option("print what was done as a JSON object"))
def rescore(context, args):
    if (args.build_id is None) != (args.score is None):
        raise CommandError("give both BUILD_ID and --score N to set one job's score, "
                           "or neither to rescore the whole queue")
    if args.build_id is not None:
        return rescore_one(context, args)
    with farm_session(context) as session:
        changed = rescore_all(session)
        count = session.scalar(sa.select(sa.func.count()).where(
            BuildQueue.builder_id.is_(None)))
        what = f"Rescored the queue: {changed} of {count} pending jobs changed score."
        journal.record(session, what)
    report(args, {"changed": changed, "pending": count}, what)


def rescore_one(context, args):
    """One pending job gets ``--score`` and keeps it (web.actions.rescore)."""
    from buildmaster.web import actions
    with farm_session(context) as session:
        build = lookup.build(session, args.build_id)
        entry = build.buildqueue_record
        old = entry.lastscore if entry is not None else None
        what = f"Build {build.id} ({build.title}): score {old} -> {args.score}."
        journal.record(session, what)
        try:
            entry = actions.rescore(session, build.id, args.score,
                                    by=journal.operator_name())
        except actions.Refused as refused:
            raise CommandError(str(refused)) from None
        result = {"build": build.id, "job": entry.id, "was": old, "score": entry.lastscore}
    report(args, result, what)
