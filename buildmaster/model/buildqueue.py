"""BuildQueue: a build waiting for, or running on, a builder."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from buildmaster.model.base import Base, utcnow
from buildmaster.model.build import Build
from buildmaster.model.enums import BuildStatus


class BuildQueue(Base):
    """A queue entry.  ``processor_id`` and ``virtualized`` copy the build's
    so that finding a candidate for a builder reads one indexed table."""

    __tablename__ = "buildqueue"
    __table_args__ = (
        # A job is named "<build id>-<queue id>" to the slaves: an id must
        # never come back after its entry is deleted, which SQLite allows
        # without AUTOINCREMENT.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[int] = mapped_column(sa.ForeignKey("build.id"), unique=True)
    builder_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("builder.id"), index=True)
    processor_id: Mapped[int] = mapped_column(sa.ForeignKey("processor.id"))
    virtualized: Mapped[bool] = mapped_column(default=False)
    logtail: Mapped[Optional[str]] = mapped_column(sa.Text)
    created: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    date_started: Mapped[Optional[datetime.datetime]]
    lastscore: Mapped[int] = mapped_column(default=0)
    manual: Mapped[bool] = mapped_column(default=False)

    build: Mapped[Build] = relationship(back_populates="buildqueue_record")
    builder: Mapped[Optional["Builder"]] = relationship(  # noqa: F821
        back_populates="currentjob")

    @property
    def buildstart(self):
        return self.date_started

    def setDateStarted(self, when):
        self.date_started = when

    def markAsBuilding(self, builder, when=None):
        """Record that ``builder`` took this job."""
        self.builder = builder
        self.date_started = when or utcnow()
        self.logtail = None

    def reset(self, now=None):
        """Back to the queue: no builder, no start, no log tail; the score
        is kept (only a build given back starts again from 0, as the
        seed says: the scanner does that).  An attempt under way is kept
        in the build's history: its start, and its return to the queue
        at ``now`` (BuildEvent)."""
        if self.date_started is not None:
            self.build.note(BuildStatus.BUILDING, self.date_started, self.builder)
            self.build.note(BuildStatus.NEEDSBUILD, now or utcnow())
        self.builder = None
        self.date_started = None
        self.logtail = None

    def destroySelf(self):
        object_session(self).delete(self)
        object_session(self).flush()


# Pending entries only, in candidate order (best score first, then the
# oldest): the dispatcher reads the first few entries of its (processor,
# virtualized) group straight off the index, sorting nothing even when
# thousands of entries share a score, so a candidate costs a few index
# entries whatever the size of the queue (buildmaster.queue.candidates).
sa.Index("buildqueue__pending__score",
         BuildQueue.processor_id, BuildQueue.virtualized, BuildQueue.lastscore.desc(),
         BuildQueue.id,
         postgresql_where=BuildQueue.builder_id.is_(None),
         sqlite_where=BuildQueue.builder_id.is_(None))
