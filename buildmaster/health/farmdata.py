"""What the farm report reads: the outcomes of a period and the builders
out of use, as plain dicts (buildmaster.health.report works them out).

A fixed handful of queries whatever the size of the period: the
outcomes with what they name (and their archives), the failed outcomes
later shown flaky, the builders out of use with their told state.
"""

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from buildmaster.model import (
    Archive, Builder, BuilderHealth, BuildOutcome, DistroArchSeries, DistroSeries,
    SourcePackageName, SourcePackageRelease)


def outcomes(session, since, until):
    """[dict] of the outcomes finished in [since, until), oldest first."""
    builder = aliased(Builder)
    failed = aliased(BuildOutcome)
    failed_on = aliased(Builder)
    query = (
        sa.select(BuildOutcome.id, BuildOutcome.state, BuildOutcome.colour,
                  BuildOutcome.change, BuildOutcome.builder_fault,
                  BuildOutcome.queued_at, BuildOutcome.started_at,
                  BuildOutcome.finished_at, BuildOutcome.flaky_of_id,
                  builder.name.label("builder"), DistroArchSeries.architecturetag.label("arch"),
                  SourcePackageName.name.label("source"),
                  SourcePackageRelease.version.label("version"),
                  DistroSeries.name.label("series"), Archive.id.label("archive_id"),
                  failed_on.name.label("failed_on"), failed.finished_at.label("failed_at"))
        .join(DistroArchSeries, DistroArchSeries.id == BuildOutcome.distroarchseries_id)
        .join(DistroSeries, DistroSeries.id == DistroArchSeries.distroseries_id)
        .join(SourcePackageRelease,
              SourcePackageRelease.id == BuildOutcome.sourcepackagerelease_id)
        .join(SourcePackageName, SourcePackageName.id == BuildOutcome.sourcepackagename_id)
        .join(Archive, Archive.id == BuildOutcome.archive_id)
        .outerjoin(builder, builder.id == BuildOutcome.builder_id)
        .outerjoin(failed, failed.id == BuildOutcome.flaky_of_id)
        .outerjoin(failed_on, failed_on.id == failed.builder_id)
        .where(BuildOutcome.finished_at >= since, BuildOutcome.finished_at < until)
        .order_by(BuildOutcome.id))
    rows = [dict(row._mapping) for row in session.execute(query)]
    archives = {archive.id: archive.reference for archive in session.scalars(
        sa.select(Archive).where(Archive.id.in_({row["archive_id"] for row in rows})))}
    for row in rows:
        row["archive"] = archives[row.pop("archive_id")]
    return rows


def shown_flaky(session, ids):
    """The ids among ``ids`` of failed outcomes a later good build of the
    same version showed to be flaky."""
    if not ids:
        return set()
    return set(session.scalars(sa.select(BuildOutcome.flaky_of_id).where(
        BuildOutcome.flaky_of_id.in_(ids))))


def builders_out_of_use(session):
    """[dict(builder, state, since, notes)] of the active builders not ok,
    with the state last told (FAILED when none was)."""
    query = (sa.select(Builder.name, Builder.failnotes, BuilderHealth.state,
                       BuilderHealth.since)
             .outerjoin(BuilderHealth, BuilderHealth.builder_id == Builder.id)
             .where(Builder.active, sa.not_(Builder.builderok)).order_by(Builder.name))
    return [{"builder": name,
             "state": state if state in ("FAILED", "QUARANTINED") else "FAILED",
             "since": since if state in ("FAILED", "QUARANTINED") else None,
             "notes": notes}
            for name, notes, state, since in session.execute(query)]
