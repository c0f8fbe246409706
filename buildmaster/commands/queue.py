"""``buildmaster queue`` and ``rescore``: the jobs waiting for a builder."""

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from buildmaster import output
from buildmaster.commands.common import JSON, farm_session, operator_command
from buildmaster.model import Build, BuildQueue, SourcePackageRelease

COLUMNS = [("JOB", "id"), ("BUILD", "build_id"), ("SOURCE", "source"),
           ("VERSION", "version"), ("ARCH", "arch"), ("ARCHIVE", "archive"),
           ("SCORE", "score"), ("AGE", "age_text")]


def pending_entries(session):
    """Queue entries no builder has taken, highest score first."""
    return session.scalars(
        sa.select(BuildQueue).where(BuildQueue.builder_id.is_(None))
        .order_by(BuildQueue.lastscore.desc(), BuildQueue.id)
        .options(joinedload(BuildQueue.build).options(
            joinedload(Build.sourcepackagerelease).joinedload(
                SourcePackageRelease.sourcepackagename),
            joinedload(Build.distroarchseries), joinedload(Build.archive)))).all()


@operator_command("queue", "list the pending jobs, highest score first", JSON)
def queue(context, args):
    with farm_session(context) as session:
        objects = [output.queue_object(entry) for entry in pending_entries(session)]
    output.emit(objects, COLUMNS, args.json, empty="No pending jobs.")


@operator_command("rescore", "recompute the score of every pending job")
def rescore(context, args):
    from buildmaster.scoring import rescore_all  # lazily: it lands separately
    with farm_session(context) as session:
        changed = rescore_all(session)
        count = session.scalar(sa.select(sa.func.count()).where(
            BuildQueue.builder_id.is_(None)))
    print(f"Rescored the queue: {changed} of {count} pending jobs changed score.")
