"""``buildmaster queue`` and ``rescore``: the jobs waiting for a builder,
and why each waits (buildmaster.web.reasons, as the web's queue page)."""

import sqlalchemy as sa

from buildmaster.operators import journal, lookup, output
from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import JSON, arg, farm_session, json_option, operator_command
from buildmaster.commands.operating import report
from buildmaster.model import BuildQueue, utcnow
from buildmaster.web import reasons

COLUMNS = [("JOB", "id"), ("BUILD", "build_id"), ("SOURCE", "source"),
           ("VERSION", "version"), ("ARCH", "arch"), ("ARCHIVE", "archive"),
           ("SCORE", "score"), ("AGE", "age_text"), ("REASON", "reason")]


@operator_command(
    "queue", "list the pending jobs, highest score first, and why each waits",
    arg("--waiting", action="store_true",
        help="also the builds waiting on a dependency (MANUALDEPWAIT)"),
    JSON)
def queue(context, args):
    now = utcnow()
    with farm_session(context) as session:
        farm = reasons.load_farm(session, now,
                                 context.config.builddmaster.builder_failure_threshold)
        _, objects = reasons.jobs(session, now, farm, see_private=True,
                                  waits=args.waiting)
        notes = [] if args.json else reasons.missing_chroots(session)
    output.emit(objects, COLUMNS, args.json, empty="No pending jobs.")
    for note in notes:
        print(f"note: {note}")


@operator_command(
    "rescore", "recompute the score of every pending job, or set one build's",
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
    from buildmaster.queue.scoring import rescore_all  # lazily: it lands separately
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
