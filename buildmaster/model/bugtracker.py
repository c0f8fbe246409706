"""External bug trackers and the watches that link our bugs to theirs.

A BugTracker is someone else's tracker (a Bugzilla, Debian's debbugs, a
Roundup, a Trac ...); a BugWatch says that one of our bugs waits on one
bug there, and keeps what checkwatches last learnt of it: the remote
status as the tracker words it, when it was checked, when it changed,
and the kind of error the last check met, if any.
"""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import (
    DynamicMapped, Mapped, mapped_column, object_session, relationship)

from buildmaster.model.base import Base, TitledEnum, enum_column, utcnow
from buildmaster.model.person import Person


class BugTrackerType(TitledEnum):
    BUGZILLA = (1, "Bugzilla")
    DEBBUGS = (2, "Debbugs")
    ROUNDUP = (3, "Roundup")
    TRAC = (4, "Trac")
    SOURCEFORGE = (5, "SourceForge")
    MANTIS = (6, "Mantis")
    RT = (7, "Request Tracker (RT)")
    SAVANE = (8, "Savane")


class BugWatchErrorType(TitledEnum):
    """Why the last check of a watch did not give its remote status."""

    CONNECTION_ERROR = (1, "Connection Error")
    INVALID_BUG_ID = (2, "Invalid Bug ID")
    TIMEOUT = (3, "Timeout")
    UNPARSABLE_BUG = (4, "Unparsable Bug")
    UNPARSABLE_BUG_TRACKER = (5, "Unparsable Bug Tracker Version")
    UNSUPPORTED_BUG_TRACKER = (6, "Unsupported Bugtracker")
    BUG_NOT_FOUND = (7, "Bug Not Found")
    PRIVATE_REMOTE_BUG = (8, "Private Remote Bug")


class BugStatus(TitledEnum):
    """Our reading of a remote status, whatever the tracker's words."""

    NEW = (10, "New")
    CONFIRMED = (20, "Confirmed")
    INPROGRESS = (22, "In Progress")
    FIXCOMMITTED = (25, "Fix Committed")
    FIXRELEASED = (30, "Fix Released")
    INVALID = (17, "Invalid")
    WONTFIX = (18, "Won't Fix")
    UNKNOWN = (999, "Unknown")

    @property
    def is_fixed(self):
        """True when upstream says the bug is gone: worth building again."""
        return self is BugStatus.FIXRELEASED


class BugTracker(Base):
    __tablename__ = "bugtracker"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    title: Mapped[str] = mapped_column(sa.String(255))
    bugtrackertype: Mapped[BugTrackerType] = mapped_column(enum_column(BugTrackerType))
    baseurl: Mapped[str] = mapped_column(sa.String(255), unique=True)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    contactdetails: Mapped[str] = mapped_column(sa.Text, default="")
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    active: Mapped[bool] = mapped_column(default=True)
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)

    owner: Mapped[Optional[Person]] = relationship()
    # Newest first, as the seed lists them; ``.count()`` and indexing
    # each ask the database.
    watches: DynamicMapped["BugWatch"] = relationship(
        back_populates="bugtracker", lazy="dynamic",
        order_by=lambda: [BugWatch.datecreated.desc(), BugWatch.id.desc()])

    def getBugWatchesNeedingUpdate(self, hours_since_last_check, now=None):
        """The watches never checked, or not in the last
        ``hours_since_last_check`` hours, by remote bug (as text) and id."""
        cutoff = (now or utcnow()) - datetime.timedelta(hours=hours_since_last_check)
        query = sa.select(BugWatch).where(
            BugWatch.bugtracker == self,
            sa.or_(BugWatch.lastchecked.is_(None), BugWatch.lastchecked < cutoff),
        ).order_by(BugWatch.remotebug, BugWatch.id)
        return list(object_session(self).scalars(query))


class BugWatch(Base):
    __tablename__ = "bugwatch"
    __table_args__ = (
        sa.Index("bugwatch__bugtracker__lastchecked", "bugtracker_id", "lastchecked"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bug_id: Mapped[int] = mapped_column(sa.ForeignKey("bug.id"), index=True)
    bugtracker_id: Mapped[int] = mapped_column(sa.ForeignKey("bugtracker.id"))
    remotebug: Mapped[str] = mapped_column(sa.String(255))
    remotestatus: Mapped[Optional[str]] = mapped_column(sa.Text)
    lastchanged: Mapped[Optional[datetime.datetime]]
    lastchecked: Mapped[Optional[datetime.datetime]]
    last_error_type: Mapped[Optional[BugWatchErrorType]] = mapped_column(
        enum_column(BugWatchErrorType))
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)

    bug: Mapped["Bug"] = relationship(back_populates="watches")  # noqa: F821
    bugtracker: Mapped[BugTracker] = relationship(back_populates="watches")
    owner: Mapped[Optional[Person]] = relationship()

    def __repr__(self):
        return f"<BugWatch {self.id} {self.bugtracker.name} #{self.remotebug}>"


class BugTrackerSet:
    """The registered trackers, found by name, by URL or by how busy they are."""

    def __init__(self, session):
        self.session = session

    def __iter__(self):
        """Every tracker, by title (the order checkwatches visits them in)."""
        trackers = self.session.scalars(sa.select(BugTracker))
        return iter(sorted(trackers, key=lambda tracker: (tracker.title, tracker.id)))

    def getByName(self, name):
        """The tracker called ``name``, or None."""
        return self.session.scalars(
            sa.select(BugTracker).where(BugTracker.name == name)).first()

    def getMostActiveBugTrackers(self, limit=None):
        """The trackers with the most watches, busiest first."""
        count = sa.func.count(BugWatch.id)
        query = (sa.select(BugTracker).join(BugWatch)
                 .group_by(BugTracker.id).order_by(count.desc(), BugTracker.id))
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def getByBaseURL(self, baseurl):
        """The tracker at ``baseurl``, whether it is given with http or
        https, with or without a trailing slash; else None."""
        return self.session.scalars(
            sa.select(BugTracker).where(BugTracker.baseurl.in_(url_variants(baseurl)))
            .order_by(BugTracker.id)).first()

    def queryByBaseURL(self, baseurl):
        """The tracker at ``baseurl`` (as getByBaseURL finds it); else the
        first tracker whose URL contains ``baseurl``; else None."""
        exact = self.getByBaseURL(baseurl)
        if exact is not None:
            return exact
        return self.session.scalars(
            sa.select(BugTracker)
            .where(BugTracker.baseurl.contains(baseurl, autoescape=True))
            .order_by(BugTracker.id)).first()


def url_variants(url):
    """``url`` with http and https, each with and without a trailing slash."""
    bare = url.rstrip("/")
    scheme, sep, rest = bare.partition("://")
    if not sep or scheme not in ("http", "https"):
        return [bare, bare + "/"]
    return [f"{each}://{rest}{slash}" for each in ("http", "https") for slash in ("", "/")]
