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
    seeds' MockBuilder that is not one.  The seeds' slave-facing methods
    are attached by buildmaster.seeds.builder."""

    @property
    def displayname(self):
        return f"{self.name} ({self.url})"

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

    def enable(self):
        self.builderok = True
        self.failnotes = None
        self.failure_count = 0
