"""BuildEvent: a change of a build's state that no BuildOutcome records.

A BuildOutcome records each attempt that finished (its queueing, start
and end).  The rest of a build's story is kept here, one row per
change, written in the transaction of the change itself:

* an attempt that ended without finishing: its start (BUILDING, on its
  builder) and its return to the queue (NEEDSBUILD), when the scanner
  requeues it (given back, aborted, its builder failed or quarantined,
  its master gone) (BuildQueue.reset);
* a cancel (CANCELLED), of a pending job, a dependency wait or a
  running attempt, whose start is kept with it (web.actions.cancel);
* a pending job the dispatcher ends unbuilt (SUPERSEDED).

So a build's history (buildmaster.web.views.history) keeps every
attempt and every cancel with their real times, through retries, which
wipe the build's own dates.
"""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.base import Base


class BuildEvent(Base):
    __tablename__ = "build_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[int] = mapped_column(sa.ForeignKey("build.id"), index=True)
    state: Mapped[str] = mapped_column(sa.String(32))  # a BuildStatus name
    at: Mapped[datetime.datetime]
    builder_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("builder.id"))

    builder: Mapped[Optional["Builder"]] = relationship()  # noqa: F821
