"""``buildmaster queue``: the jobs waiting for a builder, and why each
waits (buildmaster.web.reasons, as the web's queue page)."""

from buildmaster.queue.fairshare import scheduling_of
from buildmaster.operators import output
from buildmaster.commands.common import JSON, arg, farm_session, operator_command
from buildmaster.model import utcnow
from buildmaster.web import reasons

COLUMNS = [("JOB", "id"), ("BUILD", "build_id"), ("SOURCE", "source"),
           ("VERSION", "version"), ("ARCH", "arch"), ("ARCHIVE", "archive"),
           ("SCORE", "score"), ("AGE", "age_text"), ("REASON", "reason")]


@operator_command(
    "queue",
    arg("--waiting", action="store_true",
        help="also the builds waiting on a dependency (MANUALDEPWAIT)"),
    JSON)
def queue(context, args):
    now = utcnow()
    with farm_session(context) as session:
        farm = reasons.load_farm(session, now,
                                 context.config.builddmaster.builder_failure_threshold,
                                 scheduling_of(context.config))
        _, objects = reasons.jobs(session, now, farm, see_private=True,
                                  waits=args.waiting)
        notes = [] if args.json else reasons.missing_chroots(session)
    output.emit(objects, COLUMNS, args.json, empty="No pending jobs.")
    for note in notes:
        print(f"note: {note}")
