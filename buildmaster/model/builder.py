"""Builder: one remote build slave the master drives."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.base import Base, utcnow
from buildmaster.model.distribution import Processor
from buildmaster.model.person import Person


class BuilderBehaviour:
    """What the scanner asks of any builder: the Builder rows, and the
    seeds' MockBuilder that is not one."""

    @property
    def displayname(self):
        return f"{self.name} ({self.url})"

    def slaveStatus(self):
        """A Deferred firing with the slave's normalised status dict."""
        return self.slave.status()

    def failBuilder(self, reason):
        """Take this builder out of use until an operator enables it."""
        self.builderok = False
        self.failnotes = reason


class Builder(BuilderBehaviour, Base):
    __tablename__ = "builder"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    title: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    url: Mapped[str] = mapped_column(sa.String(255))
    processor_id: Mapped[int] = mapped_column(sa.ForeignKey("processor.id"))
    virtualized: Mapped[bool] = mapped_column(default=False)
    vm_host: Mapped[Optional[str]] = mapped_column(sa.String(255))
    manual: Mapped[bool] = mapped_column(default=False)
    builderok: Mapped[bool] = mapped_column(default=True)
    failnotes: Mapped[Optional[str]] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True)
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    failure_count: Mapped[int] = mapped_column(default=0)
    date_created: Mapped[datetime.datetime] = mapped_column(default=utcnow)

    processor: Mapped[Processor] = relationship()
    owner: Mapped[Optional[Person]] = relationship()
    currentjob: Mapped[Optional["BuildQueue"]] = relationship(  # noqa: F821
        back_populates="builder", uselist=False)

    @property
    def slave(self):
        """The SlaveClient for this builder (a mock's, under test)."""
        from buildmaster.slaves.registry import slave_for
        return slave_for(self)

    def setSlaveForTesting(self, proxy):
        from buildmaster.slaves.registry import override
        override(self, proxy)

    def findBuildCandidate(self):
        """The best pending BuildQueue entry this builder can take, or None
        (see buildmaster.queue.candidates)."""
        from buildmaster.queue.candidates import find_build_candidate
        return find_build_candidate(self)

    def dispatchBuildCandidate(self, candidate, config=None):
        """Start ``candidate`` on this builder's slave; a Deferred (see
        buildmaster.dispatch.dispatcher.dispatch_candidate)."""
        from buildmaster.dispatch.dispatcher import dispatch_candidate
        return dispatch_candidate(self, candidate, config)

    @property
    def is_available(self):
        """Ok, active and without a job."""
        from buildmaster.dispatch.dispatcher import is_available
        return is_available(self)

    def enable(self):
        self.builderok = True
        self.failnotes = None
        self.failure_count = 0
