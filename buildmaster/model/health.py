"""The farm's health records: how each build ended, what builders were
last said to be, which periodic reports went out.

BuildOutcome is one row per finished attempt of a build (a retried
build has one per attempt), written in the transaction that ends it, so
the history survives ``retry`` wiping the build's own log and dates.
``judged_at`` is the claim of the one master that decides, and tells,
what the outcome means (buildmaster.health.notify): set once with a
compare-and-set, never cleared.
"""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.base import Base
from buildmaster.model.build import Build
from buildmaster.model.builder import Builder
from buildmaster.model.distribution import DistroArchSeries
from buildmaster.model.librarian import LibraryFileAlias


class BuildOutcome(Base):
    """How one attempt of a build ended; ``colour`` is green, orange, red
    or none (buildmaster.health.colours)."""

    __tablename__ = "build_outcome"
    __table_args__ = (
        # A build's history line: the same source name in the same
        # archive and architecture of a series, newest last.
        sa.Index("build_outcome__line", "sourcepackagename_id", "archive_id",
                 "distroarchseries_id", "id"),
        sa.Index("build_outcome__release", "sourcepackagerelease_id", "id"),
        sa.Index("build_outcome__builder", "builder_id", "id"),
        sa.Index("build_outcome__finished", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[int] = mapped_column(sa.ForeignKey("build.id"), index=True)
    # The queue entry the attempt ran as: ids are never reused, so two
    # masters recording the same attempt cannot both succeed.
    buildqueue_id: Mapped[int] = mapped_column(unique=True)
    sourcepackagename_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sourcepackagename.id"))
    sourcepackagerelease_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sourcepackagerelease.id"))
    archive_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"))
    distroarchseries_id: Mapped[int] = mapped_column(sa.ForeignKey("distroarchseries.id"))
    builder_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("builder.id"))
    state: Mapped[str] = mapped_column(sa.String(32))
    colour: Mapped[str] = mapped_column(sa.String(8))
    warnings: Mapped[int] = mapped_column(default=0)
    queued_at: Mapped[Optional[datetime.datetime]]
    started_at: Mapped[Optional[datetime.datetime]]
    finished_at: Mapped[datetime.datetime]
    buildlog_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("libraryfilealias.id"))
    excerpt: Mapped[Optional[str]] = mapped_column(sa.Text)
    # Set by the builder's quarantine: the builder, not the package, failed.
    builder_fault: Mapped[bool] = mapped_column(default=False)
    # Set once, by the master that judges the outcome.
    judged_at: Mapped[Optional[datetime.datetime]]
    previous_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("build_outcome.id"))
    flaky_of_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("build_outcome.id"))
    change: Mapped[Optional[str]] = mapped_column(sa.String(16))
    mailed: Mapped[bool] = mapped_column(default=False)

    build: Mapped[Build] = relationship()
    builder: Mapped[Optional[Builder]] = relationship()
    distroarchseries: Mapped[DistroArchSeries] = relationship()
    buildlog: Mapped[Optional[LibraryFileAlias]] = relationship()
    previous: Mapped[Optional["BuildOutcome"]] = relationship(
        foreign_keys=[previous_id], remote_side=[id])
    flaky_of: Mapped[Optional["BuildOutcome"]] = relationship(
        foreign_keys=[flaky_of_id], remote_side=[id])

    @property
    def duration(self):
        """How long it built, or None when it never started."""
        if self.started_at is None:
            return None
        return self.finished_at - self.started_at


# Outcomes no master has judged yet: what a sweep reads, straight off
# the index however long the history.
sa.Index("build_outcome__unjudged", BuildOutcome.id,
         postgresql_where=BuildOutcome.judged_at.is_(None),
         sqlite_where=BuildOutcome.judged_at.is_(None))


class BuilderHealth(Base):
    """What the farm last said a builder was: OK, FAILED or QUARANTINED,
    since when.  Changed only by compare-and-set on ``state``, so one
    master tells each change once."""

    __tablename__ = "builder_health"

    builder_id: Mapped[int] = mapped_column(sa.ForeignKey("builder.id"), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    since: Mapped[datetime.datetime]
    notes: Mapped[Optional[str]] = mapped_column(sa.Text)

    builder: Mapped[Builder] = relationship()


class StatusReport(Base):
    """One farm report mailed: ``slot`` numbers the report periods since
    the epoch, and is unique, so two masters never send the same one."""

    __tablename__ = "status_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    slot: Mapped[int] = mapped_column(unique=True)
    since: Mapped[datetime.datetime]
    until: Mapped[datetime.datetime]
    sent_at: Mapped[datetime.datetime]
