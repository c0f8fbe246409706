"""``buildmaster queue`` and ``rescore``: the jobs waiting for a builder,
and why each waits (buildmaster.web.reasons, as the web's queue page)."""

import sqlalchemy as sa

from buildmaster import output
from buildmaster.commands.common import JSON, arg, farm_session, operator_command
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
    output.emit(objects, COLUMNS, args.json, empty="No pending jobs.")


@operator_command("rescore", "recompute the score of every pending job")
def rescore(context, args):
    from buildmaster.scoring import rescore_all  # lazily: it lands separately
    with farm_session(context) as session:
        changed = rescore_all(session)
        count = session.scalar(sa.select(sa.func.count()).where(
            BuildQueue.builder_id.is_(None)))
    print(f"Rescored the queue: {changed} of {count} pending jobs changed score.")
