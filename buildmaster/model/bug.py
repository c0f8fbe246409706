"""Our own bugs: what an operator files when a build fails for a reason
someone else has to fix, watched upstream through BugWatches."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import DynamicMapped, Mapped, mapped_column, relationship

from buildmaster.model.base import Base, utcnow
from buildmaster.model.bugtracker import BugWatch
from buildmaster.model.build import Build
from buildmaster.model.person import Person


class Bug(Base):
    __tablename__ = "bug"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(255))
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    datelastupdated: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    # The failed build this bug stands for, if any: one bug per build.
    build_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("build.id"), unique=True)

    owner: Mapped[Optional[Person]] = relationship()
    build: Mapped[Optional[Build]] = relationship()
    watches: DynamicMapped[BugWatch] = relationship(
        back_populates="bug", lazy="dynamic", order_by=BugWatch.id)

    def addWatch(self, bugtracker, remotebug, owner):
        """A new watch of this bug on ``remotebug`` (any id; kept as text)
        in ``bugtracker``, never checked yet."""
        watch = BugWatch(bugtracker=bugtracker, remotebug=str(remotebug), owner=owner)
        self.watches.append(watch)
        return watch


class BugSet:
    """Our bugs by id."""

    def __init__(self, session):
        self.session = session

    def get(self, bug_id):
        """Bug ``bug_id``; LookupError names it when there is none."""
        bug = self.session.get(Bug, bug_id)
        if bug is None:
            raise LookupError(f"no bug with id {bug_id}")
        return bug

    def forBuild(self, build):
        """The bug that stands for ``build``, or None."""
        return self.session.scalars(sa.select(Bug).where(Bug.build_id == build.id)).first()
