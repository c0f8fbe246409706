"""OperatorAction: what an operator did to the farm from the command line.

Each change an operator makes with ``buildmaster`` (retry, rescore,
cancel, builder add, set, remove, enable, disable) writes one row in the
same transaction as the change: who (user@host) and what (the sentence
the command printed).  The daemon logs every new row
(buildmaster.operators.journal), so its log tells the whole story even of what
was done in another process or on another host.
"""

import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from buildmaster.model.base import Base, utcnow


class OperatorAction(Base):
    __tablename__ = "operatoraction"

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    who: Mapped[str] = mapped_column(sa.String(255))
    what: Mapped[str] = mapped_column(sa.Text)
