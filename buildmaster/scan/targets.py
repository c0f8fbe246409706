"""What a scan pass knows of each builder: a Target, read in one query.

The reactor holds only these plain records during a pass (ids, names,
what the log lines and the upload's checks need, the builder's slave),
never a database row, so the database work can run in threads.
"""

import dataclasses
import datetime
from typing import Optional

import sqlalchemy as sa

from buildmaster.archive.pockets import can_build_for_pocket
from buildmaster.model import (
    Archive, Build, Builder, BuildQueue, BuildStatus, DistroArchSeries, DistroSeries,
    Distribution, SourcePackageName, SourcePackageRelease)


@dataclasses.dataclass
class Target:
    """What a scan pass knows of one builder: read in one query."""

    id: int
    name: str
    url: str
    builderok: bool
    manual: bool
    queue_id: Optional[int] = None
    build_id: Optional[int] = None
    label: str = ""
    title: str = ""
    log_name: str = ""
    pocket: str = ""
    pocket_ok: bool = True
    cancelled: bool = False
    claimed: Optional[datetime.datetime] = None   # when its job was claimed
    slave: object = None

    @property
    def ident(self):
        """The job's name on the wire, or None when it has no job."""
        return f"{self.build_id}-{self.queue_id}" if self.queue_id is not None else None

    @property
    def worth_scanning(self):
        """A failed builder is left alone until an operator enables it."""
        return self.builderok or self.manual or self.queue_id is not None


_builder = Builder.__table__
_queue = BuildQueue.__table__
_build = Build.__table__
_das = DistroArchSeries.__table__
_series = DistroSeries.__table__
_distribution = Distribution.__table__
_archive = Archive.__table__
_release = SourcePackageRelease.__table__
_name = SourcePackageName.__table__

_TARGETS = (
    sa.select(_builder.c.id, _builder.c.name, _builder.c.url, _builder.c.builderok,
              _builder.c.manual, _queue.c.id.label("queue_id"), _queue.c.build_id,
              _queue.c.date_started,
              _build.c.buildstate, _build.c.pocket, _series.c.status.label("series_status"),
              _series.c.name.label("series"), _distribution.c.name.label("distribution"),
              _archive.c.purpose, _das.c.architecturetag, _name.c.name.label("source"),
              _release.c.version)
    .select_from(
        _builder.outerjoin(_queue, _queue.c.builder_id == _builder.c.id)
        .outerjoin(_build, _build.c.id == _queue.c.build_id)
        .outerjoin(_das, _das.c.id == _build.c.distroarchseries_id)
        .outerjoin(_series, _series.c.id == _das.c.distroseries_id)
        .outerjoin(_distribution, _distribution.c.id == _series.c.distribution_id)
        .outerjoin(_archive, _archive.c.id == _build.c.archive_id)
        .outerjoin(_release, _release.c.id == _build.c.sourcepackagerelease_id)
        .outerjoin(_name, _name.c.id == _release.c.sourcepackagename_id))
    .where(_builder.c.active)
    .order_by(_builder.c.id, _queue.c.id))


def load_targets(session, only=None):
    """A Target for every active builder (of ``only``, ids, if given)."""
    query = _TARGETS if only is None else _TARGETS.where(_builder.c.id.in_(sorted(only)))
    targets = {}
    for row in session.execute(query):
        if row.id in targets:
            continue
        target = Target(row.id, row.name, row.url, row.builderok, row.manual)
        if row.queue_id is not None:
            target.queue_id, target.build_id = row.queue_id, row.build_id
            target.claimed = row.date_started
            target.label = (f"build {row.build_id} ({row.source} {row.version} "
                            f"{row.architecturetag})")
            target.title = (f"{row.architecturetag} build of {row.source} {row.version} "
                            f"in {row.distribution} {row.series} {row.pocket.name}")
            target.log_name = (f"buildlog_{row.distribution}-{row.series}-"
                               f"{row.architecturetag}.{row.source}_{row.version}_"
                               f"{row.buildstate.name}.txt.gz")
            target.pocket = row.pocket.name
            target.cancelled = row.buildstate == BuildStatus.CANCELLED
            target.pocket_ok = can_build_for_pocket(row.series_status, row.pocket,
                                                    row.purpose)
        targets[row.id] = target
    return list(targets.values())
